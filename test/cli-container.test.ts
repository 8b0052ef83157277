import test, { ExecutionContext } from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeTar, mkTmp, writeOciLayout, strata, DRIVER, treeManifest } from './image-helpers';

async function setup(t: ExecutionContext): Promise<{ d: string; root: string }> {
  const d = mkTmp(t);
  const root = path.join(d, 'store');
  const l1 = await makeTar([
    { name: 'etc/', type: 'directory' },
    { name: 'etc/motd', body: 'one\n' },
    { name: 'etc/keep', body: 'k\n' },
    { name: 'docs/', type: 'directory' },
    { name: 'docs/a', body: 'a' },
    { name: 'docs/b', body: 'b' },
  ]);
  const l2 = await makeTar([{ name: 'etc/', type: 'directory' }, { name: 'etc/motd', body: 'two\n' }, { name: 'etc/.wh.keep', body: '' }]);
  writeOciLayout(path.join(d, 'oci'), [{ ref: 'app:1', layers: [{ tar: l1 }, { tar: l2 }], history: ['base files', 'update motd'] }]);
  const r = strata(root, ['load', path.join(d, 'oci')]);
  t.is(r.code, 0, r.stderr);
  return { d, root };
}

test('create, mount, write, diff, explain, commit, umount, rm', async (t) => {
  const { d, root } = await setup(t);
  const id = strata(root, ['create', '--name', 'web', 'app:1']);
  t.is(id.code, 0, id.stderr);
  t.regex(id.stdout, /^[0-9a-f]{64}\n$/);
  t.regex(strata(root, ['create', '--name', 'web', 'app:1']).stderr, /already in use/);
  const mnt = path.join(d, 'mnt');
  const m = strata(root, ['mount', '--driver', DRIVER, 'web', mnt]);
  t.is(m.code, 0, m.stderr);
  t.is(m.stdout, mnt + '\n');
  t.is(fs.readFileSync(path.join(mnt, 'etc/motd'), 'utf8'), 'two\n');
  t.false(fs.existsSync(path.join(mnt, 'etc/keep')));

  const ps = strata(root, ['ps', '-a', '--json']);
  const rows = JSON.parse(ps.stdout) as Array<{ name: string; mountpoint: string | null; image: string }>;
  t.deepEqual(rows.map((r) => [r.name, r.mountpoint, r.image]), [['web', mnt, 'app:1']]);
  t.regex(strata(root, ['ps', '-a']).stdout, /CONTAINER ID\s+NAME\s+IMAGE\s+CREATED\s+STATUS\s+MOUNTED AT\n[0-9a-f]{12}\s+web\s+app:1\s+.*\s+Created\s/);
  t.regex(strata(root, ['ps']).stdout, /^CONTAINER ID.*\n$/, 'ps without -a: running containers only');

  fs.writeFileSync(path.join(mnt, 'etc/new'), 'n');
  fs.appendFileSync(path.join(mnt, 'etc/motd'), 'three\n');
  fs.rmSync(path.join(mnt, 'docs/a'));
  fs.mkdirSync(path.join(mnt, 'var/cache'), { recursive: true });

  const diff = strata(root, ['diff', 'web']);
  t.is(diff.code, 0, diff.stderr);
  t.is(diff.stdout, ['C /docs', 'D /docs/a', 'C /etc', 'C /etc/motd', 'A /etc/new', 'A /var', 'A /var/cache', ''].join('\n'));

  const ex = strata(root, ['explain', path.join(mnt, 'etc/motd')]);
  t.is(ex.code, 0, ex.stderr);
  t.regex(ex.stdout, /provided by the container's upper dir/);
  t.regex(ex.stdout, /copied up: yes/);
  const exj = JSON.parse(strata(root, ['explain', '--json', '--container', 'web', '/etc/keep']).stdout) as { visible: boolean; hiddenBy: string; layers: Array<{ finding: string }> };
  t.false(exj.visible);
  t.is(exj.hiddenBy, 'layer 2');
  t.deepEqual(exj.layers.map((l) => l.finding), ['absent', 'whiteout', 'present']);
  const exa = strata(root, ['explain', '-c', 'web', '/docs/b']);
  t.regex(exa.stdout, /provided by layer 1/);
  t.regex(exa.stdout, /copied up: no/);
  t.regex(strata(root, ['explain', '/nonexistent/mountpoint/x']).stderr, /not inside a mounted container/);

  t.regex(strata(root, ['rm', 'web']).stderr, /is mounted/);
  const c = strata(root, ['commit', '-m', 'my edit', 'web', 'app:2']);
  t.is(c.code, 0, c.stderr);
  t.regex(c.stdout, /^sha256:[0-9a-f]{64}\n$/);
  const hist = JSON.parse(strata(root, ['history', '--json', 'app:2']).stdout) as Array<{ layer: number; createdBy: string; comment: string }>;
  t.deepEqual(hist.map((h) => h.layer), [3, 2, 1]);
  t.is(hist[0].comment, 'my edit');
  t.is(hist[1].createdBy, 'update motd');

  // the committed image shows exactly what the container showed
  const c2 = strata(root, ['create', '--name', 'check', 'app:2']);
  t.is(c2.code, 0, c2.stderr);
  const mnt2 = path.join(d, 'mnt2');
  t.is(strata(root, ['mount', '--driver', DRIVER, 'check', mnt2]).code, 0);
  t.is(treeManifest(mnt2), treeManifest(mnt));

  const um = strata(root, ['umount', 'web']);
  t.is(um.code, 0, um.stderr);
  t.false(fs.existsSync(path.join(mnt, 'etc/new')));
  t.is(strata(root, ['rm', 'web']).code, 0);
  t.is(strata(root, ['rm', '-f', 'check']).code, 0, 'rm -f unmounts');
  t.is(fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(mnt2), false);
  t.deepEqual(JSON.parse(strata(root, ['ps', '-a', '--json']).stdout), []);
  t.regex(strata(root, ['rm', 'web']).stderr, /no such container/);
});

test('mount without a mountpoint uses the container dir; mount twice is idempotent', async (t) => {
  const { root } = await setup(t);
  const id = strata(root, ['create', 'app:1']).stdout.trim();
  const m1 = strata(root, ['mount', '--driver', DRIVER, id.slice(0, 8)]);
  t.is(m1.code, 0, m1.stderr);
  t.is(m1.stdout.trim(), path.join(root, 'containers', id, 'merged'));
  const m2 = strata(root, ['mount', '--driver', DRIVER, id]);
  t.is(m2.stdout, m1.stdout);
  const insp = JSON.parse(strata(root, ['inspect', id]).stdout) as Array<{ Id: string; Mounted: { mountpoint: string } | null; LowerDirs: string[] }>;
  t.is(insp[0].Id, id);
  t.is(insp[0].Mounted?.mountpoint, m1.stdout.trim());
  t.is(insp[0].LowerDirs.length, 2);
  t.regex(strata(root, ['rmi', 'app:1']).stderr, /used by container/);
  t.is(strata(root, ['rm', '-f', id]).code, 0);
});

test('container commands on bad names fail with one line', async (t) => {
  const { root } = await setup(t);
  for (const args of [['create', 'nope:1'], ['mount', 'ghost'], ['umount', 'ghost'], ['diff', 'ghost'], ['commit', 'ghost'], ['create', '--name', 'bad name!', 'app:1'], ['mount', '--driver', 'zfs', 'x']]) {
    const r = strata(root, args);
    t.not(r.code, 0, args.join(' '));
    t.is(r.stderr.trim().split('\n').length, 1, `${args.join(' ')}: ${r.stderr}`);
  }
});

test('rm never recurses into a mount it does not know about', async (t) => {
  const { root } = await setup(t);
  const id = strata(root, ['create', 'app:1']).stdout.trim();
  const m = strata(root, ['mount', '--driver', DRIVER, id]);
  t.is(m.code, 0, m.stderr);
  const mnt = m.stdout.trim();
  // lose the mount record, as after a crash between mount and bookkeeping
  fs.rmSync(path.join(root, 'containers', id, 'mount.json'));
  const r = strata(root, ['rm', id]);
  t.not(r.code, 0);
  t.regex(r.stderr, /has a mount at/);
  t.true(fs.existsSync(path.join(mnt, 'docs/b')), 'nothing deleted through the mount');
  const imgLayer = (JSON.parse(strata(root, ['inspect', 'app:1']).stdout) as Array<{ Layers: Array<{ dir: string }> }>)[0].Layers[0].dir;
  t.true(fs.existsSync(path.join(imgLayer, 'docs/a')), 'image layers untouched');
  const f = strata(root, ['rm', '-f', id]);
  t.is(f.code, 0, f.stderr);
  t.false(fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(mnt));
  t.false(fs.existsSync(path.join(root, 'containers', id)));
});
