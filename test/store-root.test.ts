// The store's root: created only by a command that writes, only in a missing or empty
// directory, marked with strata-store.json; every bad root gives one line, a non-zero exit
// and leaves the disk as it was.
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { makeTar, mkTmp, writeOciLayout, strata, STRATA, treeManifest, FIXTURES } from './image-helpers';
import { asUserArgv } from './helpers/asuser';

const NOBODY = { uid: 65534, gid: 65534 };

async function smallImage(d: string): Promise<string> {
  const tar = await makeTar([{ name: 'etc/', type: 'directory' }, { name: 'etc/os', body: 'small' }]);
  const oci = path.join(d, 'oci');
  writeOciLayout(oci, [{ ref: 'small:1', layers: [{ tar }] }]);
  return oci;
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  signal: NodeJS.Signals | null;
}

function run(argv: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Run {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', cwd: opts.cwd, env: { ...process.env, ...opts.env }, timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, signal: r.signal };
}

/** One line on stderr matching re, nothing on stdout, exit 1, and the tree under dir unchanged. */
function refused(t: import('ava').ExecutionContext, dir: string, argv: string[], re: RegExp, opts: { cwd?: string; env?: Record<string, string> } = {}): void {
  const before = treeManifest(dir);
  const r = run(argv, opts);
  t.is(r.signal, null, `${argv.join(' ')}: finished by itself`);
  t.is(r.code, 1, `${argv.join(' ')}: ${r.stderr}`);
  t.is(r.stdout, '');
  t.is(r.stderr.split('\n').length, 2, `one line: ${JSON.stringify(r.stderr)}`);
  t.regex(r.stderr, re);
  t.is(treeManifest(dir), before, `${argv.join(' ')} changed nothing under ${dir}`);
}

const cli = (root: string, ...args: string[]): string[] => [process.execPath, STRATA, '--root', root, ...args];

test("--root '' and an empty STRATA_ROOT are refused; the current directory stays as it was", async (t) => {
  const d = mkTmp(t);
  const oci = await smallImage(d);
  const cwd = path.join(d, 'cwd');
  fs.mkdirSync(cwd);
  fs.writeFileSync(path.join(cwd, 'notes.txt'), 'mine');
  for (const args of [['images'], ['check'], ['load', oci], ['ps']]) {
    refused(t, cwd, [process.execPath, STRATA, '--root', '', ...args], /^strata: --root '' is not a directory/, { cwd });
    refused(t, cwd, [process.execPath, STRATA, args[0], '--root', '', ...args.slice(1)], /^strata: --root '' is not a directory/, { cwd });
    refused(t, cwd, [process.execPath, STRATA, ...args], /^strata: STRATA_ROOT is set but empty/, { cwd, env: { STRATA_ROOT: '' } });
  }
});

test('read commands never create a store: empty lists, "no such image", check says there is none', async (t) => {
  const d = mkTmp(t);
  const root = path.join(d, 'store');
  const before = treeManifest(d);
  t.regex(strata(root, ['images']).stdout, /^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE\n$/);
  t.deepEqual(JSON.parse(strata(root, ['images', '--json']).stdout), []);
  t.is(strata(root, ['ps']).code, 0);
  t.regex(strata(root, ['inspect', 'x']).stderr, /no such/i);
  t.regex(strata(root, ['history', 'x']).stderr, /no such/i);
  // nor do commands with nothing to work on in a store that is not there
  t.is(strata(root, ['system', 'df']).code, 0);
  for (const g of ['image', 'container', 'system']) t.regex(strata(root, [g, 'prune', '-f']).stdout, /Total reclaimed space: 0B/);
  for (const args of [['export', 'c'], ['rename', 'c', 'd'], ['cp', 'c:/etc/passwd', path.join(d, 'x')]]) t.regex(strata(root, args).stderr, /no such container: c/);
  t.false(fs.existsSync(root));
  const c = strata(root, ['check']);
  t.is(c.code, 1);
  t.is(c.stderr, `strata: check: no store at ${root}\n`);
  t.false(fs.existsSync(root));
  // an empty directory is not a store either, and stays empty
  fs.mkdirSync(root);
  t.is(strata(root, ['images']).code, 0);
  t.is(strata(root, ['check']).stderr, `strata: check: no store at ${root}\n`);
  t.deepEqual(fs.readdirSync(root), []);
  fs.rmdirSync(root);
  t.is(treeManifest(d), before);
});

test('the first write creates and marks the store; later commands find the marker', async (t) => {
  const d = mkTmp(t);
  const oci = await smallImage(d);
  const root = path.join(d, 'a', 'b', 'store');
  const l = strata(root, ['load', oci]);
  t.is(l.code, 0, l.stderr);
  const marker = JSON.parse(fs.readFileSync(path.join(root, 'strata-store.json'), 'utf8')) as { layout: number };
  t.is(marker.layout, 1);
  t.is(strata(root, ['check']).code, 0);
  t.regex(strata(root, ['images']).stdout, /small\s+1/);
  // an empty existing directory becomes a store too
  const empty = path.join(d, 'empty');
  fs.mkdirSync(empty);
  t.is(strata(empty, ['load', oci]).code, 0);
  t.true(fs.existsSync(path.join(empty, 'strata-store.json')));
  // a store newer than this strata knows is refused, not rewritten
  fs.writeFileSync(path.join(root, 'strata-store.json'), '{"layout": 2}\n');
  refused(t, d, cli(root, 'images'), /has layout 2, newer than this strata knows/);
  refused(t, d, cli(root, 'load', oci), /has layout 2, newer than this strata knows/);
  fs.writeFileSync(path.join(root, 'strata-store.json'), 'garbage');
  refused(t, d, cli(root, 'images'), /strata-store\.json is not valid JSON/);
});

test('a store made before markers existed is read as it is and marked on its first write', async (t) => {
  const d = mkTmp(t);
  const oci = await smallImage(d);
  const root = path.join(d, 'store');
  t.is(strata(root, ['load', oci]).code, 0);
  fs.rmSync(path.join(root, 'strata-store.json'));
  const before = treeManifest(d);
  t.regex(strata(root, ['images']).stdout, /small\s+1/);
  t.regex(strata(root, ['inspect', 'small:1']).stdout, /"Id"/);
  t.is(treeManifest(d), before, 'reading did not mark it');
  t.is(strata(root, ['check']).code, 0);
  t.false(fs.existsSync(path.join(root, 'strata-store.json')), 'nor did check');
  t.is(strata(root, ['tag', 'small:1', 'small:2']).code, 0);
  t.is((JSON.parse(fs.readFileSync(path.join(root, 'strata-store.json'), 'utf8')) as { layout: number }).layout, 1);
  t.is(strata(root, ['check']).code, 0);
  // a directory holding only the store's settings is a store not used yet
  const cfgOnly = path.join(d, 'cfg');
  fs.mkdirSync(cfgOnly);
  fs.writeFileSync(path.join(cfgOnly, 'config.json'), '{"insecure-registries": []}');
  t.is(strata(cfgOnly, ['load', oci]).code, 0);
  t.true(fs.existsSync(path.join(cfgOnly, 'strata-store.json')));
});

test('a directory that is not a store is refused by every command, and left as it was', async (t) => {
  const d = mkTmp(t);
  const oci = await smallImage(d);
  const dir = path.join(d, 'home');
  fs.mkdirSync(path.join(dir, 'images'), { recursive: true }); // looks a little like a store, is not one
  fs.writeFileSync(path.join(dir, 'letter.txt'), 'dear');
  for (const args of [['images'], ['ps'], ['check'], ['check', '--repair'], ['inspect', 'x'], ['history', 'x'], ['load', oci], ['tag', 'a', 'b'], ['rmi', 'a']]) {
    refused(t, d, cli(dir, ...args), /home is not a strata store \(no strata-store\.json\) and not empty: refusing to use it/);
  }
  const file = path.join(d, 'plain-file');
  fs.writeFileSync(file, 'x');
  for (const args of [['images'], ['check'], ['load', oci]]) refused(t, d, cli(file, ...args), /^strata: cannot use the store at .*plain-file: not a directory$/m);
  // a file where the store's parent directory should be
  for (const args of [['images'], ['load', oci]]) refused(t, d, cli(path.join(file, 'store'), ...args), /plain-file\/store: not a directory$/m);
});

test('/proc/strata: one line at once, no retrying', async (t) => {
  const d = mkTmp(t);
  refused(t, d, cli('/proc/strata', 'load', path.join(FIXTURES, 'docker-archive', 'base.docker.tar')), /^strata: cannot create the store at \/proc\/strata: no such file or directory$/m);
  t.false(fs.existsSync('/proc/strata'));
  const r = run(cli('/proc/strata', 'images'));
  t.is(r.code, 0, 'nothing there: an empty list');
});

test('a read-only filesystem: reads work, writes say so in one line', async (t) => {
  const d = mkTmp(t);
  const oci = await smallImage(d);
  const ro = path.join(d, 'ro');
  fs.mkdirSync(ro);
  t.is(strata(path.join(ro, 'store'), ['load', oci]).code, 0);
  // a private mount namespace: the read-only bind mount never shows on the host
  const inNs = (script: string): Run =>
    run(['unshare', '--mount', '--propagation', 'private', 'sh', '-c', `mount --bind -o ro "$0" "$0" && exec "$@"; echo mount failed >&2; exit 99`, ro, ...script.split('\0')]);
  const before = treeManifest(d);
  const load = inNs([process.execPath, STRATA, '--root', path.join(ro, 'store'), 'load', oci].join('\0'));
  t.is(load.code, 1, load.stderr);
  t.is(load.stderr, `strata: cannot lock the store at ${path.join(ro, 'store')}: read-only filesystem\n`);
  const fresh = inNs([process.execPath, STRATA, '--root', path.join(ro, 'new'), 'load', oci].join('\0'));
  t.is(fresh.stderr, `strata: cannot create the store at ${path.join(ro, 'new')}: read-only filesystem\n`);
  const images = inNs([process.execPath, STRATA, '--root', path.join(ro, 'store'), 'images'].join('\0'));
  t.is(images.code, 0, images.stderr);
  t.regex(images.stdout, /small\s+1/);
  t.is(treeManifest(d), before);
});

test('a store the user may not read or write: permission denied, run as root or use a store you own', async (t) => {
  const d = mkTmp(t);
  fs.chmodSync(d, 0o755);
  const oci = await smallImage(d);
  fs.chmodSync(oci, 0o755);
  const root = path.join(d, 'store');
  t.is(strata(root, ['load', oci]).code, 0);
  fs.chmodSync(root, 0o700);
  const asNobody = (root2: string, ...args: string[]) => asUserArgv(NOBODY, cli(root2, ...args));
  const want = /permission denied: run as root or use a store you own$/m;
  refused(t, d, asNobody(root, 'images'), want);
  refused(t, d, asNobody(root, 'load', oci), want);
  refused(t, d, asNobody(root, 'check'), want);
  // a new store where the user may not write
  refused(t, d, asNobody(path.join(d, 'new'), 'load', oci), /^strata: cannot create the store at .*\/new: permission denied: run as root or use a store you own$/m);
});
