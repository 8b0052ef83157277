import test from 'ava';
import * as crypto from 'node:crypto';
import { runBoth, sameAsOverlay } from './helpers/union';
import { treeManifest, manifestDiff, manifestLine } from './helpers/manifest';
import { LayerEntry, blockPattern, DEFAULT_MTIME_NS } from './helpers/layers';
import { useDropCachesStressor } from './helpers/dropcaches';

useDropCachesStressor(test);

// VFS_CAP_REVISION_2 with the effective flag, permitting cap_net_raw (bit 13).
const CAP_NET_RAW = Buffer.from('0100000200200000000000000000000000000000', 'hex');
const MTIME = 1_234_567_890_123_456_789n;
const MIB = 1 << 20;

const richLower: LayerEntry[] = [
  { p: 'a', t: 'dir', mode: 0o2755, uid: 1000, gid: 2000, xattrs: { 'user.dir': 'on-a' }, mtime: 1_000_000_001_000_000_001n },
  { p: 'a/b', t: 'dir', mode: 0o1777, uid: 0, gid: 3000, mtime: 1_000_000_002_000_000_002n },
  { p: 'a/b/c', t: 'dir', mode: 0o700, uid: 1001, gid: 1001, xattrs: { 'trusted.tdir': 't' }, mtime: 1_000_000_003_000_000_003n },
  {
    p: 'a/b/c/suid', t: 'file', mode: 0o4755, uid: 1234, gid: 2345, data: 'setuid program', mtime: MTIME,
    xattrs: { 'user.a': Buffer.from([0, 1, 2, 255]), 'security.capability': CAP_NET_RAW, 'trusted.t': 'tv', 'user.empty': '' },
  },
  { p: 'a/b/c/sgid', t: 'file', mode: 0o2750, uid: 0, gid: 2345, data: 'setgid', mtime: MTIME },
  { p: 'a/b/c/sticky', t: 'file', mode: 0o1644, uid: 0, gid: 0, data: 'sticky', mtime: MTIME },
  { p: 'a/b/c/sparse', t: 'file', mode: 0o640, chunks: [[0, Buffer.alloc(4096, 1)], [4 * MIB, Buffer.alloc(4096, 2)]], size: 8 * MIB, mtime: MTIME },
  { p: 'a/b/c/link', t: 'symlink', target: '../../relative/target', uid: 1000, gid: 1000, mtime: MTIME },
];
// Kernel overlayfs copies in 1 MiB chunks and skips only whole-chunk holes; a finer
// copy is just as right, so data regions are compared at 1 MiB granularity.
function roundRegions(map: Array<[number, number]>): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const [a, b] of map) {
    const lo = Math.floor(a / MIB) * MIB;
    const hi = Math.ceil(b / MIB) * MIB;
    const last = out[out.length - 1];
    if (last && lo <= last[1]) last[1] = Math.max(last[1], hi);
    else out.push([lo, hi]);
  }
  return out;
}

const COPIED = ['suid', 'sgid', 'sticky', 'sparse'].map((n) => `/a/b/c/${n}`);

test('copy-up on setxattr keeps data, mode incl. setuid/setgid/sticky, owner, ns mtime, all xattrs; parents keep theirs', async (t) => {
  const r = await runBoth(t, { layers: [richLower] }, async (c) => {
    const opts = { mtime: true, xattrExclude: ['user.trigger'] };
    const before = c.manifest(opts);
    for (const p of COPIED) await c.ops.must('setxattr', { p: c.p(p), name: 'user.trigger', value: '1' });
    const after = c.manifest(opts);
    const sparse = await c.ops.must('lstat', { p: c.p('a/b/c/sparse') });
    return {
      changed: manifestDiff(after, before),
      trigger: await Promise.all(COPIED.map((p) => c.ops.must('getxattr', { p: c.p(p), name: 'user.trigger' }))),
      dataRegions: roundRegions(await c.ops.must('seekmap', { p: c.p('a/b/c/sparse') })),
      sparseAllocatedSmall: sparse.blocks * 512 <= 4 * MIB, // a dense copy takes 8 MiB
      merged: after,
    };
  }, (c) => {
    // The upper copies themselves carry the metadata (not just the merged view).
    const up = treeManifest(c.upper, { mtime: true, xattrExclude: ['user.trigger'] });
    return ['/a', '/a/b', '/a/b/c', ...COPIED].map((p) => manifestLine(up, p)?.replace(/^\S+ /, ''));
  });
  sameAsOverlay(t, { overlay: r.overlay.changed, strata: r.strata.changed }, [], 'merged tree changed by copy-up');
  sameAsOverlay(t, { overlay: r.overlay.trigger, strata: r.strata.trigger }, ['31', '31', '31', '31']);
  sameAsOverlay(t, { overlay: r.overlay.dataRegions, strata: r.strata.dataRegions }, [[0, MIB], [4 * MIB, 5 * MIB]], 'holes');
  sameAsOverlay(t, { overlay: r.overlay.sparseAllocatedSmall, strata: r.strata.sparseAllocatedSmall }, true, 'sparse copy allocates little');
  t.deepEqual(manifestDiff(r.strata.merged, r.overlay.merged), []);
  for (const [i, p] of ['/a', '/a/b', '/a/b/c', ...COPIED].entries()) {
    const want = manifestLine(r.strata.merged, p)?.replace(/^\S+ /, '');
    t.truthy(want);
    t.is(r.overlayAfter[i], want, `overlay upper copy of ${p}`);
    t.is(r.strataAfter[i], want, `strata upper copy of ${p}`);
  }
});

const TRIGGERS = ['read', 'open-wronly', 'truncate', 'chmod', 'chown', 'utimens', 'setxattr', 'removexattr', 'link', 'rename', 'append'] as const;

test('each kind of change copies up exactly the object it changes; reads copy up nothing', async (t) => {
  const layer: LayerEntry[] = [{ p: 'dir', t: 'dir', mode: 0o750, uid: 1000, gid: 1000 }];
  for (const k of TRIGGERS) layer.push({ p: `dir/${k}`, t: 'file', mode: 0o644, data: `content of ${k}`, xattrs: { 'user.x': 'y' }, mtime: MTIME });
  const r = await runBoth(t, { layers: [layer] }, async (c) => {
    const f = (k: string) => c.p('dir', k);
    const out: Record<string, unknown> = {};
    out.read = await c.ops.res('read', { p: f('read') });
    const fd = await c.ops.must('open', { p: f('open-wronly'), flags: ['WRONLY'] });
    await c.ops.must('close', { fd });
    out.truncate = await c.ops.res('truncate', { p: f('truncate'), n: 3 });
    out.chmod = await c.ops.res('chmod', { p: f('chmod'), mode: 0o600 });
    out.chown = await c.ops.res('chown', { p: f('chown'), uid: 7, gid: 8 });
    out.utimens = await c.ops.res('utimens', { p: f('utimens'), atime: 'omit', mtime: '5000000000' });
    out.setxattr = await c.ops.res('setxattr', { p: f('setxattr'), name: 'user.new', value: 'v' });
    out.removexattr = await c.ops.res('removexattr', { p: f('removexattr'), name: 'user.x' });
    out.link = await c.ops.res('link', { p: f('link'), p2: f('link2') });
    out.rename = await c.ops.res('rename', { p: f('rename'), p2: f('renamed') });
    out.append = await c.ops.res('write', { p: f('append'), data: '+', flags: ['APPEND'] });
    // no --mtime: appending and truncating set the current time, which differs per run
    return { results: out, merged: c.manifest() };
  }, (c) => treeManifest(c.upper, { noHash: false }));
  const ok = Object.fromEntries(TRIGGERS.filter((k) => k !== 'open-wronly').map((k) => [k, 'ok']));
  sameAsOverlay(t, { overlay: r.overlay.results, strata: r.strata.results }, ok);
  t.deepEqual(manifestDiff(r.strata.merged, r.overlay.merged), [], 'merged trees (- overlay, + strata)');
  const upperPaths = (m: string) => m.split('\n').filter(Boolean).map((l) => l.split(' ').slice(0, 2).join(' '));
  sameAsOverlay(t, { overlay: upperPaths(r.overlayAfter), strata: upperPaths(r.strataAfter) }, [
    '/ type=dir',
    '/dir type=dir',
    '/dir/append type=file',
    '/dir/chmod type=file',
    '/dir/chown type=file',
    '/dir/link type=file',
    '/dir/link2 type=file',
    '/dir/open-wronly type=file',
    '/dir/removexattr type=file',
    '/dir/rename type=char',
    '/dir/renamed type=file',
    '/dir/setxattr type=file',
    '/dir/truncate type=file',
    '/dir/utimens type=file',
  ], 'objects present in the upper dir');
  t.deepEqual(manifestDiff(r.strataAfter, r.overlayAfter), [], 'upper dirs (- overlay, + strata)');
});

test('a 64 MiB lower file is copied up whole and exactly when appended to', async (t) => {
  const blocks = 16384;
  const r = await runBoth(t, { layers: [[{ p: 'big', t: 'file', blocks, mtime: DEFAULT_MTIME_NS }]] }, async (c) => {
    await c.ops.must('write', { p: c.p('big'), data: 'END', flags: ['APPEND'] });
    return c.ops.must('read', { p: c.p('big') });
  });
  const want = Buffer.concat([blockPattern(blocks), Buffer.from('END')]);
  sameAsOverlay(t, r, { size: want.length, sha256: crypto.createHash('sha256').update(want).digest('hex') });
});

test('copy-up of a symlink (lchown) keeps its target and ns mtime', async (t) => {
  const r = await runBoth(t, { layers: [richLower] }, async (c) => {
    await c.ops.must('chown', { p: c.p('a/b/c/link'), uid: 4242, gid: -1, nofollow: true });
    const st = await c.ops.must('lstat', { p: c.p('a/b/c/link') });
    return { target: Buffer.from(await c.ops.must('readlink', { p: c.p('a/b/c/link') }), 'hex').toString(), uid: st.uid, gid: st.gid, mtime: st.mtime };
  }, (c) => treeManifest(c.upper, { mtime: true }).includes('/a/b/c/link type=symlink'));
  sameAsOverlay(t, r, { target: '../../relative/target', uid: 4242, gid: 1000, mtime: MTIME.toString() });
  sameAsOverlay(t, { overlay: r.overlayAfter, strata: r.strataAfter }, true, 'symlink is in the upper dir');
});

test('writing through a lower hard link copies up once: both names keep one inode in the upper', async (t) => {
  // Only links made through the union (not lower hard-link groups) are compared:
  // kernel overlayfs without index=on splits lower groups on copy-up.
  const r = await runBoth(t, { layers: [[{ p: 'f', t: 'file', data: 'one' }]] }, async (c) => {
    await c.ops.must('link', { p: c.p('f'), p2: c.p('g') });
    await c.ops.must('write', { p: c.p('g'), data: 'TWO', off: 0 });
    const [f, g] = [await c.ops.must('lstat', { p: c.p('f') }), await c.ops.must('lstat', { p: c.p('g') })];
    return { sameIno: f.ino === g.ino, nlink: [f.nlink, g.nlink], content: (await c.ops.must('read', { p: c.p('f') })).hex };
  });
  sameAsOverlay(t, r, { sameIno: true, nlink: [2, 2], content: Buffer.from('TWO').toString('hex') });
});
