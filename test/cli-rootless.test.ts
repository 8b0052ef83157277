// The CLI for a user other than root: its own store under $XDG_DATA_HOME/strata
// (~/.local/share/strata by default), as podman keeps ~/.local/share/containers; root
// keeps the system's.
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { tempDirFor } from './helpers/tmp';
import { asUserArgv } from './helpers/asuser';
import { FIXTURES, STRATA } from './image-helpers';
import { defaultRoot } from '../src/cli/context';
import { DEFAULT_ROOT } from '../src/store/store';

const USER = { uid: 1000, gid: 1000 };

function strataAs(env: Record<string, string>, args: string[]): { status: number | null; out: string; err: string } {
  // nothing of ours decides the store but what the test sets
  const argv = asUserArgv(USER, ['env', '-u', 'STRATA_ROOT', '-u', 'XDG_DATA_HOME', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), process.execPath, STRATA, ...args]);
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

test('root keeps the system store by default', (t) => {
  t.is(process.geteuid?.(), 0);
  t.is(defaultRoot(), DEFAULT_ROOT);
});

test('a user gets a store of its own under ~/.local/share/strata, or $XDG_DATA_HOME/strata', (t) => {
  const home = tempDirFor(t, 'strata-home-');
  fs.chownSync(home, USER.uid, USER.gid);
  const r = strataAs({ HOME: home }, ['images']);
  t.is(r.status, 0, r.err);
  t.regex(r.out, /^REPOSITORY/);
  const store = path.join(home, '.local', 'share', 'strata');
  t.false(fs.existsSync(store), 'a read makes no store');
  // a command that writes makes it (this load is then refused: the host gives uid 1000 no subordinate IDs)
  const archive = path.join(FIXTURES, 'docker-archive', 'base.docker.tar');
  strataAs({ HOME: home }, ['load', '-i', archive]);
  const st = fs.statSync(store);
  t.true(st.isDirectory());
  t.is(st.uid, USER.uid, 'made by and for the user');
  t.true(fs.existsSync(path.join(store, 'strata-store.json')), 'marked as a store');
  const xdg = path.join(home, 'data');
  strataAs({ HOME: home, XDG_DATA_HOME: xdg }, ['load', '-i', archive]);
  t.true(fs.statSync(path.join(xdg, 'strata')).isDirectory());
  const explicit = path.join(home, 'elsewhere');
  strataAs({ HOME: home, STRATA_ROOT: explicit }, ['load', '-i', archive]);
  t.true(fs.existsSync(explicit), '$STRATA_ROOT still decides');
});

test('a user without a subordinate ID range loading an image is told in one line what to do, and the store keeps nothing of it', (t) => {
  const home = tempDirFor(t, 'strata-home-');
  fs.chownSync(home, USER.uid, USER.gid);
  const r = strataAs({ HOME: home }, ['load', '-i', path.join(FIXTURES, 'docker-archive', 'base.docker.tar')]);
  t.not(r.status, 0);
  t.regex(r.err, /^strata: \S+ has no subordinate ID range in \/etc\/subuid, needed to keep a layer's owners without root: add one \(e\.g\. as root: usermod --add-subuids/);
  t.is(r.err.trim().split('\n').length, 1, r.err);
  const images = strataAs({ HOME: home }, ['images']);
  t.is(images.status, 0, images.err);
  t.is(images.out.trim().split('\n').length, 1, `no image half-loaded: ${images.out}`);
  t.deepEqual(fs.readdirSync(path.join(home, '.local', 'share', 'strata', 'layers')), [], 'no layer left behind');
});

test('a user with a subordinate ID range loads an image in its own user namespace: owners kept, shifted into the range', (t) => {
  const home = tempDirFor(t, 'strata-home-');
  fs.chownSync(home, USER.uid, USER.gid);
  // the range is given in a private mount namespace, never in the host's /etc/subuid
  const ids = path.join(tempDirFor(t, 'strata-subid-'), 'subid');
  fs.writeFileSync(ids, `${USER.uid}:100000:65536\n`);
  fs.chmodSync(ids, 0o644);
  fs.chmodSync(path.dirname(ids), 0o755);
  const inner = asUserArgv(USER, ['env', '-u', 'STRATA_ROOT', '-u', 'XDG_DATA_HOME', `HOME=${home}`, process.execPath, STRATA, 'load', '-q', '-i', path.join(FIXTURES, 'docker-archive', 'base.docker.tar')]);
  const script = `mount --bind "$1" /etc/subuid && mount --bind "$1" /etc/subgid && shift && exec "$@"`;
  const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script, 'sh', ids, ...inner], { encoding: 'utf8', timeout: 300_000 });
  t.is(r.status, 0, r.stderr);
  t.is(r.stderr.trim(), '');
  const store = path.join(home, '.local', 'share', 'strata');
  const layers = fs.readdirSync(path.join(store, 'layers'));
  t.is(layers.length, 1);
  const shift = (id: number) => (id === 0 ? USER.uid : 100000 + id - 1);
  const ownersOf = (manifest: string) =>
    manifest
      .split('\n')
      .filter((l) => l && !/ type=char /.test(l))
      .map((l) => /^(.*?) type=(\S+) mode=\S+ uid=(\d+) gid=(\d+)/.exec(l)!)
      .map((m) => `${m[1]} ${m[2]} ${m[3]} ${m[4]}`);
  const truth = ownersOf(fs.readFileSync(path.join(FIXTURES, 'truth', 'base.manifest'), 'utf8')).map((l) => {
    const [p, type, uid, gid] = l.split(' ');
    return `${p} ${type} ${shift(Number(uid))} ${shift(Number(gid))}`;
  });
  const got = ownersOf(spawnSync(path.join(FIXTURES, '..', 'tools', 'tree-manifest'), ['--no-hash', '--no-xattrs', path.join(store, 'layers', layers[0]!, 'diff')], { encoding: 'utf8', maxBuffer: 64 << 20 }).stdout);
  t.true(truth.some((l) => !/ 1000 1000$/.test(l)), 'the image has owners other than root');
  t.deepEqual(got, truth);
});
