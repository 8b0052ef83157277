// strata-fs as containers-storage's mount program, at the filesystem level: the options
// the overlay driver (and fuse-overlayfs's users) pass, and the layers such a store keeps,
// whose whiteouts are AUFS's .wh. files. The oracle is kernel overlayfs over the same
// layers in its own format; buildah itself is in cli-build-buildah.test.ts.
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { mountStrataFs, mountUnion, unmount } from './helpers/mount';
import { tempDirFor } from './helpers/tmp';
import { buildLayer, LayerEntry } from './helpers/layers';
import { treeManifest, manifestDiff } from './helpers/manifest';
import { strataFsBin } from './helpers/paths';
import { useDropCachesStressor } from './helpers/dropcaches';

useDropCachesStressor(test);

// The same two lower layers twice: in overlayfs's format, and as containers-storage
// unpacks them for a mount program (ROOT/.has-mount-program, ROOT/ID/diff, .wh. files).
const BOTTOM: LayerEntry[] = [
  { p: 'etc', t: 'dir' },
  { p: 'etc/motd', t: 'file', data: 'old motd\n' },
  { p: 'etc/issue', t: 'file', data: 'issue\n' },
  { p: 'etc/apt', t: 'dir' },
  { p: 'etc/apt/sources.list', t: 'file', data: 'deb old\n' },
  { p: 'etc/apt/conf.d', t: 'dir' },
  { p: 'etc/apt/conf.d/x', t: 'file', data: 'x' },
  { p: 'usr', t: 'dir' },
  { p: 'usr/doc', t: 'dir' },
  { p: 'usr/doc/readme', t: 'file', data: 'r' },
  { p: 'keep', t: 'file', data: 'kept' },
];
const TOP_COMMON: LayerEntry[] = [
  { p: 'etc', t: 'dir' },
  { p: 'etc/apt', t: 'dir' },
  { p: 'etc/apt/new', t: 'file', data: 'new' },
  { p: 'usr', t: 'dir' },
  { p: 'added', t: 'file', data: 'added' },
];
const TOP_OVERLAY: LayerEntry[] = [
  ...TOP_COMMON,
  { p: 'etc/motd', t: 'whiteout' },
  { p: 'usr/doc', t: 'whiteout' },
  { p: 'etc/apt', t: 'dir', opaque: true },
];
const TOP_AUFS: LayerEntry[] = [
  ...TOP_COMMON,
  { p: 'etc/.wh.motd', t: 'file', mode: 0 },
  { p: 'usr/.wh.doc', t: 'file', mode: 0 },
  { p: 'etc/apt/.wh..wh..opq', t: 'file', mode: 0o755 },
];

interface Stores { overlay: string[]; aufs: string[]; root: string }

function makeLayers(dir: string, flagFile = true): Stores {
  const root = path.join(dir, 'storage', 'overlay');
  const aufs = [path.join(root, 'top', 'diff'), path.join(root, 'bottom', 'diff')];
  for (const d of aufs) fs.mkdirSync(d, { recursive: true });
  if (flagFile) fs.writeFileSync(path.join(root, '.has-mount-program'), 'true');
  buildLayer(aufs[1]!, BOTTOM);
  buildLayer(aufs[0]!, TOP_AUFS);
  const overlay = [path.join(dir, 'o-top'), path.join(dir, 'o-bottom')];
  buildLayer(overlay[1]!, BOTTOM);
  buildLayer(overlay[0]!, TOP_OVERLAY);
  return { overlay, aufs, root };
}

function upperOf(dir: string, name: string): { upper: string; work: string; mnt: string } {
  const upper = path.join(dir, name, 'upper');
  const work = path.join(dir, name, 'work');
  const mnt = path.join(dir, name, 'mnt');
  for (const d of [upper, work, mnt]) fs.mkdirSync(d, { recursive: true });
  return { upper, work, mnt };
}

// containers-storage passes what it has: the layers, its mountopt (nodev and the like are
// taken out as flags, leaving empty items), volatile, an SELinux label in quotes whose
// categories hold a comma, and fuse-overlayfs's tuning knobs from storage.conf.
const STORAGE_OPTS = ['', 'volatile', 'context="system_u:object_r:container_file_t:s0:c1,c2"', 'fsync=0', 'threaded=1', 'fast_ino=1', 'writeback=1', 'noxattrs=0', 'xattr_permissions=0', 'plugins=', 'noacl', 'static_nlink', 'timeout=5'];

test('lower layers of a mount-program store: AUFS whiteouts and opaque markers read as overlayfs reads its own', (t) => {
  const dir = tempDirFor(t, 'strata-mp-');
  const l = makeLayers(dir);
  const k = upperOf(dir, 'kernel');
  const f = upperOf(dir, 'strata');
  mountUnion('overlay', { lowers: l.overlay, ...k });
  t.teardown(() => unmount(k.mnt));
  mountStrataFs({ lowers: l.aufs, ...f }, STORAGE_OPTS);
  t.teardown(() => unmount(f.mnt));
  const want = treeManifest(k.mnt);
  t.deepEqual(manifestDiff(treeManifest(f.mnt), want), []);
  t.true(want.includes('etc/apt/new') && !want.includes('etc/apt/conf.d') && !want.includes('usr/doc'), 'the oracle hides what the whiteouts delete');
  t.deepEqual(fs.readdirSync(path.join(f.mnt, 'etc')).sort(), ['apt', 'issue']);
  t.false(fs.existsSync(path.join(f.mnt, 'etc', '.wh.motd')), 'a .wh. name is never an entry');
  // deleting and recreating through the mount: whiteouts in the upper, as overlayfs writes them
  for (const m of [k.mnt, f.mnt]) {
    fs.rmSync(path.join(m, 'keep'));
    fs.writeFileSync(path.join(m, 'etc', 'motd'), 'new motd\n');
    fs.rmSync(path.join(m, 'etc', 'apt'), { recursive: true });
    fs.mkdirSync(path.join(m, 'etc', 'apt'));
  }
  t.deepEqual(manifestDiff(treeManifest(f.mnt), treeManifest(k.mnt)), []);
  t.deepEqual(manifestDiff(treeManifest(f.upper), treeManifest(k.upper)), [], 'the upper in overlayfs format');
  t.is(fs.statSync(path.join(f.mnt, 'etc')).nlink, 1, 'static_nlink');
});

test('the same .wh. names elsewhere are ordinary files, as for overlayfs; aufs_whiteouts=on|off decides', (t) => {
  const dir = tempDirFor(t, 'strata-mp-');
  const l = makeLayers(dir, false);
  const f = upperOf(dir, 'strata');
  mountStrataFs({ lowers: l.aufs, mnt: f.mnt });
  const names = fs.readdirSync(path.join(f.mnt, 'etc')).sort();
  unmount(f.mnt);
  t.deepEqual(names, ['.wh.motd', 'apt', 'issue', 'motd']);
  mountStrataFs({ lowers: l.aufs, mnt: f.mnt }, ['aufs_whiteouts=on']);
  const forced = fs.readdirSync(path.join(f.mnt, 'etc')).sort();
  unmount(f.mnt);
  t.deepEqual(forced, ['apt', 'issue']);
});

test('options strata-fs cannot honour are refused with one line that says what to do', (t) => {
  const dir = tempDirFor(t, 'strata-mp-');
  const l = makeLayers(dir);
  const f = upperOf(dir, 'strata');
  const base = `lowerdir=${l.aufs.join(':')},upperdir=${f.upper},workdir=${f.work}`;
  for (const [opt, says] of [
    ['xattr_permissions=2', 'remove force_mask'],
    ['noxattrs=1', 'leave the option out'],
    ['plugins=/usr/lib/x.so', 'no plugins'],
    ['fsync=2', '0 or 1'],
    ['threaded=yes', 'a number expected'],
  ] as const) {
    const r = spawnSync(strataFsBin, ['-o', `${base},${opt}`, f.mnt], { encoding: 'utf8' });
    t.is(r.status, 2, opt);
    t.regex(r.stderr, new RegExp(`^strata-fs: .*${says}.*\\n$`), opt);
    t.is(r.stderr.split('\n').length, 2, `${opt}: one line`);
  }
});
