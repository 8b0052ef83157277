// docker's everyday flags and output shapes, through the real CLI on a temp store.
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { DRIVER, makeTar, mkTmp, strata, STRATA, writeOciLayout } from './image-helpers';

const bare = (args: string[]) => {
  const r = spawnSync(process.execPath, [STRATA, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
};

test('--version, -v, version; bare strata prints help and exits 0', (t) => {
  const pkg = require(path.join(__dirname, '..', '..', 'package.json')) as { version: string };
  for (const a of ['--version', '-v']) {
    const r = bare([a]);
    t.is(r.code, 0, r.stderr);
    t.is(r.stdout, `strata version ${pkg.version}\n`);
  }
  const v = bare(['version']);
  t.is(v.code, 0, v.stderr);
  t.regex(v.stdout, new RegExp(`Version: +${pkg.version.replace(/\./g, '\\.')}\\n`));
  t.regex(v.stdout, /OS\/Arch: +linux\//);
  t.is((JSON.parse(bare(['version', '--json']).stdout) as { Version: string }).Version, pkg.version);
  const h = bare([]);
  t.is(h.code, 0, h.stderr);
  t.regex(h.stdout, /^Usage: strata /);
  t.regex(h.stdout, /images/);
  t.is(h.stderr, '');
  const d = mkTmp(t);
  const hr = strata(path.join(d, 'store'), []);
  t.is(hr.code, 0);
  t.regex(hr.stdout, /^Usage: strata /);
  const bad = bare(['no-such-command']);
  t.is(bad.code, 1);
  t.regex(bad.stderr, /unknown command/);
});

async function threeImages(t: { teardown(fn: () => void): void }): Promise<{ d: string; root: string }> {
  const d = mkTmp(t);
  const root = path.join(d, 'store');
  const base = await makeTar([{ name: 'etc/', type: 'directory' }, { name: 'etc/os', body: 'base' }]);
  const top = await makeTar([{ name: 'etc/app', body: 'app' }]);
  const other = await makeTar([{ name: 'x', body: 'x' }]);
  writeOciLayout(
    path.join(d, 'oci'),
    [
      { ref: 'base:1', layers: [{ tar: base }] },
      { ref: 'me/app:2', layers: [{ tar: base }, { tar: top }], history: ['base', 'app'] },
      { layers: [{ tar: other }] },
    ],
    (img, i) => {
      img.config.created = ['2024-01-01T00:00:00Z', '2024-02-01T00:00:00Z', '2024-03-01T00:00:00Z'][i];
      img.config.config = { Labels: i === 1 ? { tier: 'web', team: 'a' } : { tier: 'db' }, Cmd: ['/bin/sh'] };
      if (i === 1) (img.config.history as unknown[]).splice(1, 0, { created: '2024-02-01T00:00:00Z', created_by: '/bin/sh -c #(nop)  ENV A=1 and a long tail that docker would cut off', empty_layer: true });
    },
  );
  const r = strata(root, ['load', path.join(d, 'oci')]);
  if (r.code !== 0) throw new Error(r.stderr);
  return { d, root };
}

const ids = (root: string, args: string[]) => {
  const r = strata(root, args);
  if (r.code !== 0) throw new Error(r.stderr);
  return r.stdout.split('\n').filter(Boolean);
};

test('images: -q, --no-trunc, --format, --filter (dangling, reference wildcards, before, since, label)', async (t) => {
  const { root } = await threeImages(t);
  const all = JSON.parse(strata(root, ['images', '--json']).stdout) as Array<{ repository: string; tag: string; id: string }>;
  const idOf = (repo: string) => all.find((r) => r.repository === repo)!.id;
  t.deepEqual(ids(root, ['images', '-q']), [idOf('<none>'), idOf('me/app'), idOf('base')].map((i) => i.slice(7, 19)), 'newest first, short ids');
  t.deepEqual(ids(root, ['images', '-q', '--no-trunc']), [idOf('<none>'), idOf('me/app'), idOf('base')]);
  t.deepEqual(ids(root, ['images', '--format', '{{.Repository}}:{{.Tag}}']), ['<none>:<none>', 'me/app:2', 'base:1']);
  t.deepEqual(ids(root, ['images', '--filter', 'dangling=true', '--format', '{{.ID}}']), [idOf('<none>').slice(7, 19)]);
  t.deepEqual(ids(root, ['images', '--filter', 'dangling=false', '--format', '{{.Repository}}']), ['me/app', 'base']);
  t.deepEqual(ids(root, ['images', '--filter', 'reference=me/*', '--format', '{{.Repository}}']), ['me/app']);
  t.deepEqual(ids(root, ['images', '--filter', 'reference=*', '--format', '{{.Repository}}']), ['base'], '* does not cross a /');
  t.deepEqual(ids(root, ['images', '--filter', 'reference=*:1', '--filter', 'reference=me/app:*', '--format', '{{.Repository}}']), ['me/app', 'base'], 'one key twice: either');
  t.deepEqual(ids(root, ['images', '--filter', 'before=me/app:2', '--format', '{{.Repository}}']), ['base']);
  t.deepEqual(ids(root, ['images', '--filter', 'since=base:1', '--format', '{{.Repository}}']), ['<none>', 'me/app']);
  t.deepEqual(ids(root, ['images', '--filter', 'since=base:1', '--filter', 'dangling=false', '--format', '{{.Repository}}']), ['me/app'], 'different keys: both');
  t.deepEqual(ids(root, ['images', '--filter', 'label=tier=db', '--format', '{{.Repository}}']), ['<none>', 'base']);
  t.deepEqual(ids(root, ['images', '--filter', 'label=team', '--format', '{{.Repository}}']), ['me/app']);
  const js = ids(root, ['images', '--format', 'json', 'me/app']).map((l) => JSON.parse(l) as Record<string, unknown>);
  t.is(js.length, 1);
  t.like(js[0], { Repository: 'me/app', Tag: '2', ID: idOf('me/app').slice(7, 19), CreatedAt: '2024-02-01 00:00:00 +0000 UTC', Containers: 0 });
  t.regex(String(js[0].CreatedSince), / ago$/);
  const tbl = strata(root, ['images', '--format', 'table {{.Repository}}\\t{{.Tag}}\\t{{.ID}}', 'base']).stdout.split('\n');
  t.regex(tbl[0], /^REPOSITORY +TAG +IMAGE ID$/);
  t.regex(tbl[1], /^base +1 +[0-9a-f]{12}$/);
  t.is(tbl[0].indexOf('TAG'), tbl[1].indexOf('1'), 'columns aligned');
  const bad = strata(root, ['images', '--filter', 'color=red']);
  t.is(bad.code, 1);
  t.regex(bad.stderr, /^strata: invalid filter 'color'/);
  t.regex(strata(root, ['images', '--format', '{{.Nope}}']).stderr, /^strata: format: .*no field Nope/);
  t.regex(strata(root, ['images', '--filter', 'before=ghost']).stderr, /no such image: ghost/);
});

test('history: docker columns, <missing>, empty layers, -q, --no-trunc, -H=false, --format', async (t) => {
  const { root } = await threeImages(t);
  const h = strata(root, ['history', 'me/app:2']);
  t.is(h.code, 0, h.stderr);
  const lines = h.stdout.trimEnd().split('\n');
  t.regex(lines[0], /^IMAGE +CREATED +CREATED BY +SIZE +COMMENT$/);
  t.is(lines.length, 4, 'header + 3 history entries (one makes no layer)');
  t.regex(lines[1], /^[0-9a-f]{12} +.+ ago +app +[\d.]+k?B$/);
  t.regex(lines[2], /^<missing> +.+ ago +\/bin\/sh -c #\(nop\)  ENV A=1 and a long tail t… +0B$/);
  t.regex(lines[3], /^<missing> +.+ ago +base +[\d.]+k?B$/);
  const q = ids(root, ['history', '-q', 'me/app:2']);
  t.is(q.length, 3);
  t.regex(q[0], /^[0-9a-f]{12}$/);
  t.deepEqual(q.slice(1), ['<missing>', '<missing>']);
  t.regex(ids(root, ['history', '-q', '--no-trunc', 'me/app:2'])[0], /^sha256:[0-9a-f]{64}$/);
  const nt = strata(root, ['history', '--no-trunc', '--format', '{{.CreatedBy}}', 'me/app:2']).stdout;
  t.regex(nt, /docker would cut off/);
  const raw = ids(root, ['history', '-H=false', '--format', '{{.CreatedSince}}|{{.Size}}', 'me/app:2']);
  t.deepEqual(raw.map((l) => l.replace(/\|[1-9]\d*$/, '|N')), ['2024-01-01T00:00:00Z|N', '2024-02-01T00:00:00Z|0', '2024-01-01T00:00:00Z|N']);
  t.regex(ids(root, ['history', '--human=false', '--format', '{{.Size}}', 'me/app:2'])[0], /^[1-9]\d*$/);
  const js = JSON.parse(ids(root, ['history', '--format', 'json', 'me/app:2'])[1]) as Record<string, unknown>;
  t.like(js, { ID: '<missing>', Size: '0B', Comment: '' });
});

test('ps: -q, --no-trunc, --format, --filter status/name/id/ancestor', async (t) => {
  const { root } = await threeImages(t);
  const mk = (name: string, img: string) => {
    const r = strata(root, ['create', '--name', name, img]);
    t.is(r.code, 0, r.stderr);
    return r.stdout.trim();
  };
  const web = mk('web', 'me/app:2');
  const db = mk('db', 'base:1');
  t.deepEqual(ids(root, ['ps', '-q']), [], 'none running');
  t.deepEqual(ids(root, ['ps', '-aq']).sort(), [web.slice(0, 12), db.slice(0, 12)].sort());
  t.deepEqual(ids(root, ['ps', '-aq', '--no-trunc']).sort(), [web, db].sort());
  t.deepEqual(ids(root, ['ps', '-q', '--filter', 'status=created']).sort(), [web.slice(0, 12), db.slice(0, 12)].sort(), 'status implies -a');
  t.deepEqual(ids(root, ['ps', '-q', '--filter', 'status=exited']), []);
  t.deepEqual(ids(root, ['ps', '-a', '--filter', 'name=^w', '--format', '{{.Names}}']), ['web']);
  t.deepEqual(ids(root, ['ps', '-a', '--filter', `id=${db.slice(0, 5)}`, '--format', '{{.Names}}']), ['db']);
  t.deepEqual(ids(root, ['ps', '-a', '--filter', 'ancestor=base:1', '--format', '{{.Names}}']).sort(), ['db', 'web'], 'me/app:2 is built on base:1');
  t.deepEqual(ids(root, ['ps', '-a', '--filter', 'ancestor=me/app:2', '--format', '{{.Names}} {{.Image}} {{.State}} {{.Status}}']), ['web me/app:2 created Created']);
  const tbl = strata(root, ['ps', '-a', '--format', 'table {{.Names}}\\t{{.State}}', '--filter', 'name=db']).stdout;
  t.regex(tbl, /^NAMES +STATE\ndb +created\n$/);
  t.regex(strata(root, ['ps', '--filter', 'status=sleeping']).stderr, /invalid filter 'status=sleeping'/);
  t.regex(strata(root, ['ps', '--filter', 'label=x']).stderr, /invalid filter 'label'/);
});

test('inspect: docker\'s shape, several arguments, -f, containers with GraphDriver.Data', async (t) => {
  const { root } = await threeImages(t);
  const r = strata(root, ['inspect', 'me/app:2', 'base:1']);
  t.is(r.code, 0, r.stderr);
  const [app, base] = JSON.parse(r.stdout) as Array<Record<string, any>>;
  t.deepEqual(app.RepoTags, ['me/app:2']);
  t.deepEqual(app.RepoDigests, []);
  t.is(app.Created, '2024-02-01T00:00:00Z');
  t.deepEqual(app.Config.Cmd, ['/bin/sh']);
  t.is(app.Architecture, 'amd64');
  t.is(app.Os, 'linux');
  t.is(app.RootFS.Type, 'layers');
  t.is(app.RootFS.Layers.length, 2);
  t.is(app.RootFS.Layers[0], base.RootFS.Layers[0]);
  t.is(app.GraphDriver.Data.LowerDir, base.GraphDriver.Data.UpperDir, 'the shared base layer');
  t.deepEqual(ids(root, ['inspect', '-f', '{{.Os}}/{{.Architecture}} {{.Config.Cmd}} {{json .RepoTags}}', 'me/app:2', 'base:1']), ['linux/amd64 [/bin/sh] ["me/app:2"]', 'linux/amd64 [/bin/sh] ["base:1"]']);
  const cid = strata(root, ['create', '--name', 'web', '-e', 'X=1', 'me/app:2', 'echo', 'hi']).stdout.trim();
  const both = strata(root, ['inspect', 'web', 'ghost', 'base:1']);
  t.is(both.code, 1, 'one of three is missing');
  t.is(both.stderr, 'strata: no such image or container: ghost\n');
  const [c, b] = JSON.parse(both.stdout) as Array<Record<string, any>>;
  t.is(b.Id, base.Id);
  t.is(c.Id, cid);
  t.is(c.Name, '/web');
  t.is(c.State.Status, 'created');
  t.is(c.Path, 'echo');
  t.deepEqual(c.Args, ['hi']);
  t.deepEqual(c.Config.Cmd, ['echo', 'hi']);
  t.deepEqual(c.Config.Env, ['X=1']);
  t.is(c.GraphDriver.Data.LowerDir, app.GraphDriver.Data.UpperDir + ':' + app.GraphDriver.Data.LowerDir);
  t.is(c.GraphDriver.Data.UpperDir, path.join(root, 'containers', cid, 'upper'));
  t.is(c.GraphDriver.Data.WorkDir, path.join(root, 'containers', cid, 'work'));
  t.is(c.GraphDriver.Data.MergedDir, path.join(root, 'containers', cid, 'merged'));
  t.deepEqual(ids(root, ['inspect', '--type', 'container', '-f', '{{.Name}} {{.State.Status}}', 'web']), ['/web created']);
  t.regex(strata(root, ['inspect', '--type', 'container', 'base:1']).stderr, /no such container: base:1/);
});

test('rmi, rm, tag with several arguments: each on its own, failures on stderr, exit 1', async (t) => {
  const { root } = await threeImages(t);
  const tg = strata(root, ['tag', 'base:1', 'b2', 'Bad!!', 'b3:x']);
  t.is(tg.code, 1);
  t.is(tg.stderr.split('\n').filter(Boolean).length, 1);
  t.regex(tg.stderr, /^strata: invalid repository name "Bad!!"/);
  t.deepEqual(ids(root, ['images', '--format', '{{.Repository}}:{{.Tag}}', '--filter', 'reference=b*']).sort(), ['b2:latest', 'b3:x', 'base:1']);
  for (const n of ['c1', 'c2']) t.is(strata(root, ['create', '--name', n, 'me/app:2']).code, 0);
  const rm = strata(root, ['rm', 'c1', 'ghost', 'c2', 'c1']);
  t.is(rm.code, 1);
  t.is(rm.stdout, 'c1\nc2\n');
  t.is(rm.stderr, 'strata: no such container: ghost\n');
  t.deepEqual(ids(root, ['ps', '-aq']), []);
  // base's id is listed once per tag (3 times): deleted once, the repeats are skipped
  const q = ids(root, ['images', '-q']);
  t.is(q.length, 5);
  const all = strata(root, ['rmi', '-f', ...q, 'ghost:1']);
  t.is(all.code, 1, all.stderr);
  t.is(all.stderr, 'strata: no such image: ghost:1\n');
  const lines = all.stdout.split('\n').filter(Boolean);
  t.is(lines.filter((l) => l.startsWith('Untagged: ')).length, 4);
  t.is(new Set(lines).size, lines.length, 'nothing printed twice');
  t.is(lines.filter((l) => /^Deleted: sha256:/.test(l)).length, 3 + 3, 'three images, three layers');
  t.deepEqual(ids(root, ['images', '-qa']), []);
});

test('save to stdout (no -o, or -o -), refused on a terminal; load -i - and load -q', async (t) => {
  const { d, root } = await threeImages(t);
  const viaStdout = spawnSync(process.execPath, [STRATA, '--root', root, 'save', 'me/app:2'], { maxBuffer: 1 << 28, timeout: 120_000 });
  t.is(viaStdout.status, 0, String(viaStdout.stderr));
  const dash = spawnSync(process.execPath, [STRATA, '--root', root, 'save', '-o', '-', 'me/app:2'], { maxBuffer: 1 << 28, timeout: 120_000 });
  t.is(dash.status, 0, String(dash.stderr));
  t.true(viaStdout.stdout.equals(dash.stdout), 'the same archive both ways');
  const f = path.join(d, 'app.tar');
  t.is(strata(root, ['save', '-o', f, 'me/app:2']).code, 0);
  t.true(fs.readFileSync(f).equals(viaStdout.stdout), 'and the same as with -o FILE');
  const root2 = path.join(d, 'store2');
  const ld = spawnSync(process.execPath, [STRATA, '--root', root2, 'load', '-q', '-i', '-'], { input: viaStdout.stdout, encoding: 'utf8', timeout: 120_000 });
  t.is(ld.status, 0, ld.stderr);
  t.is(ld.stdout, 'Loaded image: me/app:2\n');
  t.is(ld.stderr, '');
  t.deepEqual(ids(root2, ['images', '--format', '{{.Repository}}:{{.Tag}}']), ['me/app:2']);
  // on a terminal (script(1) gives the command a pty): one line, no archive bytes
  const tty = spawnSync('script', ['-qec', `${process.execPath} ${STRATA} --root ${root} save me/app:2`, '/dev/null'], { encoding: 'latin1', timeout: 120_000 });
  t.is(tty.status, 1, tty.stdout);
  t.regex(tty.stdout, /^strata: cowardly refusing to write an archive to a terminal: use -o FILE or redirect stdout[^\n]*\r?\n$/);
});

test('commit -c/--change, -a, -m', async (t) => {
  const { root } = await threeImages(t);
  t.is(strata(root, ['create', '--name', 'web', 'me/app:2']).code, 0);
  const c = strata(root, ['commit', '-a', 'Jane <jane@example.com>', '-m', 'tuned', '-c', 'CMD ["nginx", "-g", "daemon off;"]', '--change', 'ENV MODE=prod', '-c', 'EXPOSE 80', '-c', 'LABEL tier=edge', '-c', 'WORKDIR /srv', 'web', 'me/web:1']);
  t.is(c.code, 0, c.stderr);
  const [img] = JSON.parse(strata(root, ['inspect', 'me/web:1']).stdout) as Array<Record<string, any>>;
  t.deepEqual(img.Config.Cmd, ['nginx', '-g', 'daemon off;']);
  t.deepEqual(img.Config.Env, ['MODE=prod']);
  t.deepEqual(img.Config.ExposedPorts, { '80/tcp': {} });
  t.deepEqual(img.Config.Labels, { tier: 'edge', team: 'a' });
  t.is(img.Config.WorkingDir, '/srv');
  t.is(img.Author, 'Jane <jane@example.com>');
  t.is(img.Comment, 'tuned');
  t.is(ids(root, ['history', '--format', '{{.Comment}}', 'me/web:1'])[0], 'tuned');
  const bad = strata(root, ['commit', '-c', 'RUN make', 'web', 'me/web:2']);
  t.is(bad.code, 1);
  t.regex(bad.stderr, /^strata: --change "RUN make": RUN is not one commit can apply/);
  t.regex(strata(root, ['inspect', 'me/web:2']).stderr, /no such image/, 'nothing committed');
});

test('mount refuses a non-empty dir (unless --force) and a live mountpoint; umount of an unmounted container says so, exit 0', async (t) => {
  const { d, root } = await threeImages(t);
  for (const n of ['a', 'b']) t.is(strata(root, ['create', '--name', n, 'me/app:2']).code, 0);
  const u = strata(root, ['umount', 'a']);
  t.is(u.code, 0, u.stderr);
  t.is(u.stdout, '');
  t.is(u.stderr, 'strata: container a is not mounted\n');
  const full = path.join(d, 'full');
  fs.mkdirSync(full);
  fs.writeFileSync(path.join(full, 'precious'), 'x');
  const r = strata(root, ['mount', '--driver', DRIVER, 'a', full]);
  t.is(r.code, 1);
  t.regex(r.stderr, /^strata: mountpoint .*full is not empty \(1 entry, e\.g\. precious\): use an empty directory, or --force to mount over it\n$/);
  const mnt = path.join(d, 'mnt');
  const m = strata(root, ['mount', '--driver', DRIVER, 'a', mnt]);
  t.is(m.code, 0, m.stderr);
  const second = strata(root, ['mount', '--driver', DRIVER, 'b', mnt]);
  t.is(second.code, 1);
  t.regex(second.stderr, /^strata: .*mnt is already a mount point \(container a is mounted there\)/);
  t.is(fs.readFileSync(path.join(mnt, 'etc/app'), 'utf8'), 'app', 'a is still the one mounted');
  const forced = strata(root, ['mount', '--driver', DRIVER, '--force', 'b', full]);
  t.is(forced.code, 0, forced.stderr);
  t.false(fs.existsSync(path.join(full, 'precious')), 'hidden under the mount');
  t.is(strata(root, ['umount', 'a', 'b']).code, 0);
  t.is(fs.readFileSync(path.join(full, 'precious'), 'utf8'), 'x', 'and back after umount');
});

test('image prune [-a], container prune, system df, system prune; image/container groups as aliases', async (t) => {
  const { root } = await threeImages(t);
  t.deepEqual(ids(root, ['image', 'ls', '--format', '{{.Repository}}']), ids(root, ['images', '--format', '{{.Repository}}']));
  t.deepEqual(ids(root, ['container', 'ls', '-aq']), []);
  t.is(strata(root, ['container', 'create', '--name', 'web', 'me/app:2']).code, 0);
  t.is(strata(root, ['create', '--name', 'old', 'base:1']).code, 0);
  t.deepEqual(ids(root, ['container', 'ls', '-a', '--format', '{{.Names}}']).sort(), ['old', 'web']);
  t.deepEqual(ids(root, ['container', 'inspect', '-f', '{{.Name}}', 'web']), ['/web']);
  t.regex(strata(root, ['image', 'inspect', 'web']).stderr, /no such image: web/, 'image inspect looks for images only');
  t.regex(strata(root, ['image', 'frob']).stderr, /^strata: unknown command 'image frob'/);
  t.regex(strata(root, ['image']).stdout, /ls +strata images/);

  const df = strata(root, ['system', 'df']);
  t.is(df.code, 0, df.stderr);
  t.regex(df.stdout, /^TYPE +TOTAL +ACTIVE +SIZE +RECLAIMABLE\nImages +3 +2 +\S+ +\S+ \(\d+%\)\nContainers +2 +0 +0B +0B \(0%\)\nLayers +3 +1 /);
  const u = JSON.parse(strata(root, ['system', 'df', '--json']).stdout) as { images: { list: Array<{ refs: string[]; shared: number; unique: number; size: number }>; reclaimable: number }; layers: { shared: number; unique: number } };
  const app = u.images.list.find((i) => i.refs.includes('me/app:2'))!;
  const base = u.images.list.find((i) => i.refs.includes('base:1'))!;
  t.is(app.shared, base.size, 'the base layer is shared');
  t.is(app.unique, app.size - base.size);
  t.is(base.unique, 0);
  t.deepEqual([u.layers.shared, u.layers.unique], [1, 2]);
  const dangling = u.images.list.find((i) => i.refs.length === 0)!;
  t.is(u.images.reclaimable, dangling.size, 'only the layer of the unused image');
  t.regex(strata(root, ['system', 'df', '-v']).stdout, /Images space usage:\n\nREPOSITORY +TAG +IMAGE ID +CREATED +SIZE +SHARED SIZE +UNIQUE SIZE +CONTAINERS\n/);

  const noForce = strata(root, ['image', 'prune']);
  t.is(noForce.code, 1);
  t.regex(noForce.stderr, /add -f\/--force/);
  const p = strata(root, ['image', 'prune', '-f']);
  t.is(p.code, 0, p.stderr);
  t.regex(p.stdout, /^Deleted Images:\ndeleted: sha256:[0-9a-f]{64}\ndeleted: sha256:[0-9a-f]{64}\n\nTotal reclaimed space: [\d.]+k?B\n$/);
  t.deepEqual(ids(root, ['images', '--format', '{{.Repository}}']).sort(), ['base', 'me/app']);
  t.regex(strata(root, ['image', 'prune', '-af']).stdout, /^Total reclaimed space: 0B\n$/, 'both have containers');
  const cp = strata(root, ['container', 'prune', '-f']);
  t.is(cp.code, 0, cp.stderr);
  t.is(cp.stdout.split('\n').filter((l) => /^[0-9a-f]{64}$/.test(l)).length, 2);
  t.deepEqual(ids(root, ['ps', '-aq']), []);
  t.is(strata(root, ['create', '--name', 'again', 'base:1']).code, 0);
  const sp = strata(root, ['system', 'prune', '-af']);
  t.is(sp.code, 0, sp.stderr);
  t.regex(sp.stdout, /^Deleted Containers:\n[0-9a-f]{64}\n\nDeleted Images:\n((untagged|deleted): .*\n)+\nTotal reclaimed space: [\d.]+k?B\n$/);
  t.deepEqual(ids(root, ['images', '-qa']), []);
  t.deepEqual(fs.readdirSync(path.join(root, 'layers')), []);
});

test('cp both ways through the union (copy-up), export flattened, import a one-layer image, rename', async (t) => {
  const { d, root } = await threeImages(t);
  const cid = strata(root, ['create', '--name', 'web', 'me/app:2']).stdout.trim();
  const upper = path.join(root, 'containers', cid, 'upper');
  // out of a container that is not mounted: mounted for the copy, unmounted after
  const o = strata(root, ['cp', 'web:/etc/app', path.join(d, 'app-copy')]);
  t.is(o.code, 0, o.stderr);
  t.is(fs.readFileSync(path.join(d, 'app-copy'), 'utf8'), 'app');
  t.is(strata(root, ['ps', '-a', '--format', '{{.MountedAt}}']).stdout, '\n', 'not left mounted');
  fs.mkdirSync(path.join(d, 'into'));
  t.is(strata(root, ['cp', 'web:/etc', path.join(d, 'into')]).code, 0);
  t.deepEqual(fs.readdirSync(path.join(d, 'into', 'etc')).sort(), ['app', 'os'], 'a directory into an existing one');
  t.regex(strata(root, ['cp', 'web:/nope', d]).stderr, /no such file or directory in the container: \/nope/);
  // into the container: a new file, and an image file changed (copied up into the upper)
  fs.writeFileSync(path.join(d, 'os'), 'changed');
  fs.mkdirSync(path.join(d, 'site', 'sub'), { recursive: true });
  fs.writeFileSync(path.join(d, 'site', 'sub', 'index.html'), '<p>hi</p>');
  t.is(strata(root, ['cp', path.join(d, 'os'), 'web:/etc/os']).code, 0);
  const ci = strata(root, ['cp', path.join(d, 'site'), 'web:/srv']);
  t.is(ci.code, 0, ci.stderr);
  t.is(fs.readFileSync(path.join(upper, 'etc/os'), 'utf8'), 'changed', 'copied up');
  t.is(fs.readFileSync(path.join(upper, 'srv/sub/index.html'), 'utf8'), '<p>hi</p>');
  t.deepEqual(strata(root, ['diff', 'web']).stdout.split('\n').filter(Boolean), ['C /etc', 'C /etc/os', 'A /srv', 'A /srv/sub', 'A /srv/sub/index.html']);
  t.regex(strata(root, ['cp', path.join(d, 'ghost'), 'web:/x']).stderr, /ghost: no such file or directory/);
  t.regex(strata(root, ['cp', 'a', 'b']).stderr, /exactly one of SRC and DEST/);

  // export: one flat tree, with the container's changes
  const ex = spawnSync(process.execPath, [STRATA, '--root', root, 'export', 'web'], { maxBuffer: 1 << 28, timeout: 120_000 });
  t.is(ex.status, 0, String(ex.stderr));
  const tarFile = path.join(d, 'rootfs.tar');
  fs.writeFileSync(tarFile, ex.stdout);
  const listing = spawnSync('tar', ['-tf', tarFile], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).sort();
  t.deepEqual(listing, ['./', './etc/', './etc/app', './etc/os', './srv/', './srv/sub/', './srv/sub/index.html']);
  t.is(spawnSync('tar', ['-xOf', tarFile, './etc/os'], { encoding: 'utf8' }).stdout, 'changed');
  // import it back as a one-layer image
  const im = strata(root, ['import', '-c', 'CMD ["/bin/sh"]', '-m', 'flat', tarFile, 'flat:1']);
  t.is(im.code, 0, im.stderr);
  t.regex(im.stdout, /^sha256:[0-9a-f]{64}\n$/);
  const [flat] = JSON.parse(strata(root, ['inspect', 'flat:1']).stdout) as Array<Record<string, any>>;
  t.is(flat.RootFS.Layers.length, 1);
  t.deepEqual(flat.Config.Cmd, ['/bin/sh']);
  t.is(flat.Comment, 'flat');
  t.is(strata(root, ['create', '--name', 'flatc', 'flat:1']).code, 0);
  const out2 = path.join(d, 'os2');
  t.is(strata(root, ['cp', 'flatc:/etc/os', out2]).code, 0);
  t.is(fs.readFileSync(out2, 'utf8'), 'changed');
  const gz = spawnSync('sh', ['-c', `gzip -c ${tarFile} | ${process.execPath} ${STRATA} --root ${root} import - gz:1`], { encoding: 'utf8', timeout: 120_000 });
  t.is(gz.status, 0, gz.stderr);
  t.is((JSON.parse(strata(root, ['inspect', 'gz:1']).stdout) as Array<Record<string, any>>)[0].RootFS.Layers[0], flat.RootFS.Layers[0], 'same diff id from a gzip tar on stdin');

  t.is(strata(root, ['rename', 'web', 'web2']).code, 0);
  t.deepEqual(ids(root, ['ps', '-a', '--filter', `id=${cid}`, '--format', '{{.Names}}']), ['web2']);
  t.regex(strata(root, ['rename', 'web2', 'flatc']).stderr, /already in use/);
  t.regex(strata(root, ['rename', 'web2', 'bad name']).stderr, /invalid container name/);
});

test('cp into a container never follows its symlinks out of it', async (t) => {
  const d = mkTmp(t);
  const root = path.join(d, 'store');
  const outside = path.join(d, 'outside');
  fs.mkdirSync(outside);
  const l = await makeTar([{ name: 'etc/', type: 'directory' }, { name: 'etc/conf', type: 'symlink', linkname: outside }, { name: 'data', type: 'symlink', linkname: '/etc' }]);
  writeOciLayout(path.join(d, 'oci'), [{ ref: 'links:1', layers: [{ tar: l }] }]);
  t.is(strata(root, ['load', path.join(d, 'oci')]).code, 0);
  t.is(strata(root, ['create', '--name', 'c', 'links:1']).code, 0);
  fs.mkdirSync(path.join(d, 'src', 'conf'), { recursive: true });
  fs.writeFileSync(path.join(d, 'src', 'conf', 'x'), 'x');
  const r = strata(root, ['cp', path.join(d, 'src', 'conf'), 'c:/etc']);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(fs.readdirSync(outside), [], 'nothing written through the absolute symlink');
  const r2 = strata(root, ['cp', path.join(d, 'src', 'conf', 'x'), 'c:/data/y']);
  t.is(r2.code, 0, r2.stderr);
  const cid = (JSON.parse(strata(root, ['ps', '-a', '--json']).stdout) as Array<{ id: string }>)[0].id;
  t.is(fs.readFileSync(path.join(root, 'containers', cid, 'upper', 'etc', 'y'), 'utf8'), 'x', '/data -> /etc is the container\'s /etc');
  t.is(fs.readFileSync(path.join(root, 'containers', cid, 'upper', 'etc', 'conf', 'x'), 'utf8'), 'x', 'the symlink was replaced by the directory');
});
