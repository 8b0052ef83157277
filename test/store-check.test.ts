// strata check [--repair]: garbage and stale state are found and repaired, damage is
// found and left alone; a strata-fs daemon killed with -9 leaves a stale mount that
// umount, mount and check all deal with, and fsync'd data is still in the upper.
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeTar, mkTmp, writeOciLayout, strata, snapshot, DRIVER } from './image-helpers';
import { waitDead } from './helpers/rel-daemon';
import { strataDaemonFor } from '../src/store/containers';
import { Store } from '../src/store/store';

interface CheckJson {
  clean: boolean;
  problems: Array<{ kind: string; path: string; repaired?: string }>;
}

async function storeWithImage(d: string): Promise<string> {
  const root = path.join(d, 'store');
  const l1 = await makeTar([{ name: 'etc/', type: 'directory' }, { name: 'etc/os', body: 'strata\n' }, { name: 'bin/sh', body: '#!', mode: 0o755 }]);
  const l2 = await makeTar([{ name: 'etc/app', body: 'v1\n' }]);
  writeOciLayout(path.join(d, 'oci'), [{ ref: 'app:1', layers: [{ tar: l1 }, { tar: l2, compression: 'zstd' }] }]);
  const r = strata(root, ['load', path.join(d, 'oci')]);
  if (r.code !== 0) throw new Error(r.stderr);
  return root;
}

function check(root: string, repair = false): { code: number; j: CheckJson; lines: string[] } {
  const r = strata(root, ['check', '--json', ...(repair ? ['--repair'] : [])]);
  const t = strata(root, ['check', ...(repair ? [] : [])]);
  return { code: r.code, j: JSON.parse(r.stdout) as CheckJson, lines: t.stdout.trim().split('\n') };
}

test('a clean store passes; every kind of garbage is reported, repaired, and data kept', async (t) => {
  const d = mkTmp(t);
  const root = await storeWithImage(d);
  t.is(strata(root, ['create', '--name', 'c1', 'app:1']).code, 0);
  const ok = strata(root, ['check']);
  t.is(ok.code, 0, ok.stdout + ok.stderr);
  t.regex(ok.stdout, /^ok: 4 blobs, 2 layers, 1 images, 1 containers\n$/);
  const clean = snapshot(root);

  // what crashed commands leave behind
  fs.mkdirSync(path.join(root, 'tmp', 'load-abc123', 'layer-x', 'diff'), { recursive: true });
  fs.writeFileSync(path.join(root, 'blobs', 'sha256', 'ab'.repeat(32)), 'orphan');
  fs.mkdirSync(path.join(root, 'layers', 'cd'.repeat(32), 'diff'), { recursive: true }); // half-written: no layer.json
  fs.mkdirSync(path.join(root, 'layers', 'ef'.repeat(32), 'diff'), { recursive: true });
  fs.writeFileSync(path.join(root, 'layers', 'ef'.repeat(32), 'layer.json'), JSON.stringify({ chainId: 'sha256:' + 'ef'.repeat(32) }));
  fs.mkdirSync(path.join(root, 'containers', '12'.repeat(32), 'upper'), { recursive: true });
  fs.symlinkSync('../layers/' + '99'.repeat(32) + '/diff', path.join(root, 'l', '9999999999999999'));
  const ghost = 'sha256:' + '77'.repeat(32);
  fs.writeFileSync(path.join(root, 'txn.json'), JSON.stringify({ added: [ghost], tags: { 'ghost:1': ghost } }));
  const cid = (JSON.parse(strata(root, ['ps', '-a', '--json']).stdout) as Array<{ id: string }>)[0].id;
  fs.writeFileSync(path.join(root, 'containers', cid, 'mount.json'), JSON.stringify({ mountpoint: path.join(d, 'not-mounted'), driver: 'strata-fs', since: 'x' }));

  const bad = check(root);
  t.is(bad.code, 1);
  const kinds = bad.j.problems.map((p) => p.kind).sort();
  t.deepEqual(kinds, ['dangling-link', 'half-written-container', 'half-written-layer', 'interrupted-commit', 'orphan-blob', 'orphan-layer', 'stale-mount-state', 'tmp-leftover']);
  t.is(bad.lines.length, kinds.length, 'one line per problem');
  for (const l of bad.lines) t.regex(l, /^[a-z-]+: \S+: .*\(strata check --repair fixes this\)$/);

  const fixed = check(root, true);
  t.is(fixed.code, 0, JSON.stringify(fixed.j));
  t.true(fixed.j.problems.every((p) => typeof p.repaired === 'string'));
  t.is(check(root).code, 0);
  t.deepEqual(snapshot(root), clean, 'exactly the garbage went');
});

test('damage is reported and never "repaired" away', async (t) => {
  const d = mkTmp(t);
  const root = await storeWithImage(d);
  const img = JSON.parse(strata(root, ['inspect', 'app:1']).stdout)[0] as { Layers: Array<{ dir: string; digest: string }>; ManifestDigest: string };
  fs.chmodSync(path.join(img.Layers[0].dir, 'etc/os'), 0o600); // someone edited a layer dir
  fs.writeFileSync(path.join(img.Layers[1].dir, 'intruder'), 'x');
  const blob = path.join(root, 'blobs', 'sha256', img.Layers[1].digest.slice(7));
  const b = fs.readFileSync(blob);
  b[b.length - 1] ^= 1;
  fs.writeFileSync(blob, b);
  fs.rmSync(path.join(root, 'blobs', 'sha256', img.ManifestDigest.slice(7)));
  const r = check(root, true);
  t.is(r.code, 1);
  t.deepEqual(r.j.problems.map((p) => p.kind).sort(), ['bad-blob', 'layer-changed', 'layer-changed', 'missing-blob']);
  t.true(r.j.problems.every((p) => p.repaired === undefined));
  t.true(fs.existsSync(blob), 'a damaged blob is kept');
  t.regex(strata(root, ['check']).stdout, /layer-changed: layers\/[0-9a-f]{64}\/diff: layer dir changed since import \(4 entries now, 3 recorded\)/);
});

test('check on a missing store and with bad arguments: one line, exit non-zero', (t) => {
  const d = mkTmp(t);
  const r = strata(path.join(d, 'nope'), ['check']);
  t.is(r.code, 1);
  t.regex(r.stderr, /^strata: check: no store at .*\n$/);
  const r2 = strata(d, ['check', '--repiar']);
  t.not(r2.code, 0);
  t.is(r2.stderr.trim().split('\n').length, 1, r2.stderr);
});

async function killDaemon(t: { truthy(v: unknown, m?: string): void }, mnt: string): Promise<void> {
  const pid = strataDaemonFor(mnt);
  t.truthy(pid, 'daemon found');
  process.kill(pid!, 'SIGKILL');
  await waitDead(pid!, 4000);
}

test('kill -9 of the strata-fs daemon: ENOTCONN, then mount and umount recover; fsync\'d data survives', async (t) => {
  if (DRIVER !== 'strata-fs') return t.pass('strata-fs driver only');
  const d = mkTmp(t);
  const root = await storeWithImage(d);
  const id = strata(root, ['create', '--name', 'victim', 'app:1']).stdout.trim();
  const mnt = path.join(d, 'mnt');
  const m = strata(root, ['mount', 'victim', mnt]);
  t.is(m.code, 0, m.stderr);
  const fd = fs.openSync(path.join(mnt, 'synced'), 'w');
  fs.writeSync(fd, 'durable\n');
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  await killDaemon(t, mnt);
  const err = t.throws(() => fs.statSync(path.join(mnt, 'etc')));
  t.is((err as NodeJS.ErrnoException).code, 'ENOTCONN');
  t.regex(strata(root, ['ps', '-a']).stdout, /STALE: daemon dead/);
  const chk = strata(root, ['check']);
  t.is(chk.code, 1);
  t.regex(chk.stdout, /^stale-mount: containers\/[0-9a-f]{64}: container victim: the strata-fs daemon of .* is dead/);

  // mount again over the stale mount: cleaned first
  const again = strata(root, ['mount', 'victim', mnt]);
  t.is(again.code, 0, again.stderr);
  t.is(fs.readFileSync(path.join(mnt, 'synced'), 'utf8'), 'durable\n');
  t.is(fs.readFileSync(path.join(mnt, 'etc/app'), 'utf8'), 'v1\n');
  fs.writeFileSync(path.join(mnt, 'second'), '2');
  fs.fsyncSync(fs.openSync(path.join(mnt, 'second'), 'r'));

  // and umount of a dead daemon's mount
  await killDaemon(t, mnt);
  const u = strata(root, ['umount', 'victim']);
  t.is(u.code, 0, u.stderr);
  t.false(fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${mnt} `), 'detached');
  t.is(fs.readFileSync(path.join(root, 'containers', id, 'upper', 'synced'), 'utf8'), 'durable\n');
  t.is(fs.readFileSync(path.join(root, 'containers', id, 'upper', 'second'), 'utf8'), '2');
  t.is(strata(root, ['check']).code, 0);

  // a stale mount found by check --repair
  t.is(strata(root, ['mount', 'victim']).code, 0);
  const merged = path.join(root, 'containers', id, 'merged');
  await killDaemon(t, merged);
  const rep = strata(root, ['check', '--repair']);
  t.is(rep.code, 0, rep.stdout);
  t.regex(rep.stdout, /stale-mount: .* -> detached \(lazy unmount\) and mount state cleared/);
  t.is(strata(root, ['check']).code, 0);
  t.is(strata(root, ['rm', 'victim']).code, 0);
});

/** Layer dirs and blobs of a store: what the collector and check --repair may delete. */
function layersAndBlobs(root: string): string[] {
  return [
    ...fs.readdirSync(path.join(root, 'layers')).map((d) => `layers/${d}`),
    ...fs.readdirSync(path.join(root, 'blobs', 'sha256')).map((b) => `blobs/sha256/${b}`),
  ].sort();
}

test('check --repair deletes exactly the layers and blobs the garbage collector deletes', async (t) => {
  const d = mkTmp(t);
  const root = path.join(d, 'store');
  const base = await makeTar([{ name: 'etc/', type: 'directory' }, { name: 'etc/os', body: 'strata\n' }]);
  const one = await makeTar([{ name: 'etc/one', body: '1\n' }]);
  const two = await makeTar([{ name: 'etc/two', body: '2\n' }]);
  writeOciLayout(path.join(d, 'oci'), [{ ref: 'app:1', layers: [{ tar: base }, { tar: one }] }, { ref: 'app:2', layers: [{ tar: base }, { tar: two }] }]);
  const load = strata(root, ['load', path.join(d, 'oci')]);
  t.is(load.code, 0, load.stderr);
  t.is(strata(root, ['create', '--name', 'c1', 'app:1']).code, 0);
  const tags = JSON.parse(fs.readFileSync(path.join(root, 'repositories.json'), 'utf8')) as Record<string, string>;
  const imageFile = (ref: string) => path.join(root, 'images', tags[ref].slice(7) + '.json');
  const record = (ref: string) => JSON.parse(fs.readFileSync(imageFile(ref), 'utf8')) as { manifestDigest: string; configDigest: string; layers: Array<{ chainId: string; digest: string }> };
  const cid = fs.readdirSync(path.join(root, 'containers'))[0];
  const containerLayers = (JSON.parse(fs.readFileSync(path.join(root, 'containers', cid, 'container.json'), 'utf8')) as { layers: string[] }).layers.map((l) => `layers/${l.slice(7)}`);
  const app2 = record('app:2');
  const app2Blobs = [app2.manifestDigest, app2.configDigest, ...app2.layers.map((l) => l.digest)].map((b) => `blobs/sha256/${b.slice(7)}`);
  const app2Layer = `layers/${app2.layers[1].chainId.slice(7)}`;

  // each state of the store, with what must survive both (the rest must agree too)
  const states: Array<{ name: string; make: (r: string) => void; kept: string[] }> = [
    { name: 'everything in use', make: () => {}, kept: layersAndBlobs(root) },
    // as if the image had gone while its container stayed: its layers are the container's only
    { name: 'layers used only by a container', make: (r) => fs.rmSync(imageFile('app:1').replace(root, r)), kept: containerLayers },
    { name: 'an image record named after another id', make: (r) => fs.renameSync(imageFile('app:2').replace(root, r), path.join(r, 'images', '55'.repeat(32) + '.json')), kept: [...app2Blobs, app2Layer] },
    {
      name: 'an image record without its layer list (its manifest and config blobs are used by nothing else)',
      make: (r) => {
        const rec: Record<string, unknown> = record('app:2');
        delete rec.layers;
        fs.writeFileSync(imageFile('app:2').replace(root, r), JSON.stringify(rec));
      },
      kept: app2Blobs.slice(0, 2),
    },
    {
      name: 'an interrupted load of app:2 (rolled back by both)',
      make: (r) => {
        const id = tags['app:2'];
        const rest = { ...tags };
        delete rest['app:2'];
        fs.writeFileSync(path.join(r, 'repositories.json'), JSON.stringify(rest));
        fs.writeFileSync(path.join(r, 'txn.json'), JSON.stringify({ added: [id], tags: { 'app:2': id } }));
      },
      kept: containerLayers,
    },
    {
      name: 'garbage: an orphan layer, a half-written layer, an orphan blob',
      make: (r) => {
        fs.mkdirSync(path.join(r, 'layers', 'ef'.repeat(32), 'diff'), { recursive: true });
        fs.writeFileSync(path.join(r, 'layers', 'ef'.repeat(32), 'layer.json'), JSON.stringify({ chainId: 'sha256:' + 'ef'.repeat(32) }));
        fs.mkdirSync(path.join(r, 'layers', 'cd'.repeat(32), 'diff'), { recursive: true });
        fs.writeFileSync(path.join(r, 'blobs', 'sha256', 'ab'.repeat(32)), 'orphan');
      },
      kept: layersAndBlobs(root),
    },
  ];
  for (const [i, s] of states.entries()) {
    const [a, b] = [path.join(d, `check-${i}`), path.join(d, `gc-${i}`)];
    for (const copy of [a, b]) {
      fs.cpSync(root, copy, { recursive: true, verbatimSymlinks: true });
      s.make(copy);
    }
    strata(a, ['check', '--repair']);
    new Store(b).collectGarbage();
    const [byCheck, byCollector] = [layersAndBlobs(a), layersAndBlobs(b)];
    t.deepEqual(byCheck, byCollector, `${s.name}: check --repair kept what the collector kept`);
    t.deepEqual(s.kept.filter((k) => !byCheck.includes(k)), [], `${s.name}: what is in use is kept`);
    if (s.name.startsWith('garbage')) t.true(byCheck.length === s.kept.length && byCollector.length === s.kept.length, `${s.name}: the garbage went`);
  }
});
