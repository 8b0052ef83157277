import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runBoth, sameAsOverlay, UnionCtx } from './helpers/union';
import { treeManifest, manifestDiff } from './helpers/manifest';
import { LayerEntry } from './helpers/layers';
import { mountUnion, unmount } from './helpers/mount';
import { useDropCachesStressor } from './helpers/dropcaches';

useDropCachesStressor(test);

const names = (list: string[]) => list.map((h) => Buffer.from(h, 'hex').toString('latin1'));
const text = (h: string) => Buffer.from(h, 'hex').toString();

const layers: LayerEntry[][] = [
  [
    { p: 'src', t: 'dir', mode: 0o750, uid: 1000, gid: 1000, xattrs: { 'user.tag': 'src' } },
    { p: 'src/f1', t: 'file', data: 'one' },
    { p: 'src/f2', t: 'file', data: 'two' },
    { p: 'src/sub', t: 'dir' },
    { p: 'src/sub/deep', t: 'file', data: 'deep' },
    { p: 'dst', t: 'dir' },
    { p: 'dst/existing', t: 'file', data: 'existing' },
    { p: 'dst/emptydir', t: 'dir' },
    { p: 'dst/fulldir', t: 'dir' },
    { p: 'dst/fulldir/x', t: 'file' },
    { p: 'other', t: 'dir' },
    { p: 'other/o1', t: 'file', data: 'o1' },
  ],
  [
    { p: 'src', t: 'dir', mode: 0o750, uid: 1000, gid: 1000, xattrs: { 'user.tag': 'src' } },
    { p: 'src/f3', t: 'file', data: 'three' },
    { p: 'src/f2', t: 'whiteout' },
  ],
];

// After the scenario: mount the upper this driver wrote with kernel overlayfs over
// the same lowers and list it; it must equal what the driver itself showed.
function overlayView(c: UnionCtx): string {
  const mnt = path.join(path.dirname(c.mnt), 'check');
  fs.mkdirSync(mnt);
  mountUnion('overlay', { lowers: c.lowers, upper: c.upper, work: c.work, mnt });
  try {
    return treeManifest(mnt, { mtime: true });
  } finally {
    unmount(mnt);
  }
}

test('renaming lower files works within and across dirs (never EXDEV)', async (t) => {
  const r = await runBoth(t, { layers }, async (c) => ({
    within: await c.ops.res('rename', { p: c.p('src/f1'), p2: c.p('src/f1-renamed') }),
    across: await c.ops.res('rename', { p: c.p('src/f3'), p2: c.p('dst/f3') }),
    overExisting: await c.ops.res('rename', { p: c.p('other/o1'), p2: c.p('dst/existing') }),
    src: names(await c.ops.must('readdir', { p: c.p('src') })),
    dst: names(await c.ops.must('readdir', { p: c.p('dst') })),
    content: text((await c.ops.must('read', { p: c.p('dst/existing') })).hex),
    moved: text((await c.ops.must('read', { p: c.p('dst/f3') })).hex),
    manifest: c.manifest({ mtime: true }),
  }), overlayView);
  const { manifest: mo, ...ro } = r.overlay;
  const { manifest: ms, ...rs } = r.strata;
  sameAsOverlay(t, { overlay: ro, strata: rs }, {
    within: 'ok', across: 'ok', overExisting: 'ok',
    src: ['f1-renamed', 'sub'], dst: ['emptydir', 'existing', 'f3', 'fulldir'], content: 'o1', moved: 'three',
  });
  t.deepEqual(manifestDiff(r.strataAfter, ms), [], 'kernel overlayfs over the strata upper (- strata live, + overlay)');
  t.deepEqual(manifestDiff(r.overlayAfter, mo), [], 'the oracle remounted');
});

test('renaming a lower directory (children from several layers) works and its upper mounts identically on kernel overlayfs', async (t) => {
  const r = await runBoth(t, { layers }, async (c) => {
    const res = {
      rename: await c.ops.res('rename', { p: c.p('src'), p2: c.p('dst/moved') }),
      old: await c.ops.res('lstat', { p: c.p('src') }),
      listing: names(await c.ops.must('readdir', { p: c.p('dst/moved') })),
      deep: text((await c.ops.must('read', { p: c.p('dst/moved/sub/deep') })).hex),
      // a second rename of the same dir and new content inside it
      again: await c.ops.res('rename', { p: c.p('dst/moved'), p2: c.p('again') }),
      create: await c.ops.res('create', { p: c.p('again/new') }),
      // the old name can be reused by a fresh dir: it must not show the old children
      reuse: await c.ops.res('mkdir', { p: c.p('src') }),
      reused: names(await c.ops.must('readdir', { p: c.p('src') })),
      tag: await c.ops.must('getxattr', { p: c.p('again'), name: 'user.tag' }),
      mode: (await c.ops.must('lstat', { p: c.p('again') })).mode,
    };
    return { res, manifest: c.manifest({ mtime: true }) };
  }, overlayView);
  sameAsOverlay(t, { overlay: r.overlay.res, strata: r.strata.res }, {
    rename: 'ok', old: 'ENOENT', listing: ['f1', 'f3', 'sub'], deep: 'deep', again: 'ok', create: 'ok',
    reuse: 'ok', reused: [], tag: Buffer.from('src').toString('hex'), mode: 0o750,
  });
  t.deepEqual(manifestDiff(r.strataAfter, r.strata.manifest), [], 'kernel overlayfs over the strata upper (- strata live, + overlay)');
  t.deepEqual(manifestDiff(r.overlayAfter, r.overlay.manifest), [], 'the oracle remounted');
});

test('rename errors: ENOTEMPTY, ENOTDIR, EISDIR, EINVAL, ENOENT; onto an empty lower dir succeeds', async (t) => {
  const r = await runBoth(t, { layers }, async (c) => ({
    dirOntoFull: await c.ops.res('rename', { p: c.p('src/sub'), p2: c.p('dst/fulldir') }),
    dirOntoFile: await c.ops.res('rename', { p: c.p('src/sub'), p2: c.p('dst/existing') }),
    fileOntoDir: await c.ops.res('rename', { p: c.p('dst/existing'), p2: c.p('dst/emptydir') }),
    intoSelf: await c.ops.res('rename', { p: c.p('src'), p2: c.p('src/sub/inside') }),
    missing: await c.ops.res('rename', { p: c.p('src/f2'), p2: c.p('dst/f2') }),
    dirOntoEmpty: await c.ops.res('rename', { p: c.p('src/sub'), p2: c.p('dst/emptydir') }),
    result: names(await c.ops.must('readdir', { p: c.p('dst/emptydir') })),
  }));
  sameAsOverlay(t, r, {
    dirOntoFull: 'ENOTEMPTY', dirOntoFile: 'ENOTDIR', fileOntoDir: 'EISDIR', intoSelf: 'EINVAL', missing: 'ENOENT',
    dirOntoEmpty: 'ok', result: ['deep'],
  });
});

test('a dir renamed onto a non-empty upper-only dir: ENOTEMPTY after the copy-up overlayfs does first, so the source is merged (nlink 1)', async (t) => {
  const r = await runBoth(t, { layers }, async (c) => {
    await c.ops.must('mkdir', { p: c.p('dst/newdir') });
    await c.ops.must('create', { p: c.p('dst/newdir/x') });
    const res = {
      // upper only: overlayfs copies src/sub up, then the upper's rename says ENOTEMPTY
      ontoUpperOnly: await c.ops.res('rename', { p: c.p('src/sub'), p2: c.p('dst/newdir') }),
      nlink: (await c.ops.must('lstat', { p: c.p('src/sub') })).nlink,
      // a target with a lower layer is checked before anything is copied up
      ontoLower: await c.ops.res('rename', { p: c.p('other'), p2: c.p('dst/fulldir') }),
      otherNlink: (await c.ops.must('lstat', { p: c.p('other') })).nlink,
    };
    return { res, manifest: c.manifest({ mtime: true }), upper: treeManifest(c.upper, { noHash: true }) };
  }, overlayView);
  sameAsOverlay(t, { overlay: r.overlay.res, strata: r.strata.res }, { ontoUpperOnly: 'ENOTEMPTY', nlink: 1, ontoLower: 'ENOTEMPTY', otherNlink: 2 });
  t.deepEqual(manifestDiff(r.strata.upper, r.overlay.upper), [], 'the same upper (- overlay, + strata)');
  t.deepEqual(manifestDiff(r.strataAfter, r.strata.manifest), [], 'kernel overlayfs over the strata upper (- strata live, + overlay)');
});

test('RENAME_NOREPLACE refuses an existing (lower) target and accepts a whited-out one', async (t) => {
  const r = await runBoth(t, { layers }, async (c) => ({
    lowerTarget: await c.ops.res('rename', { p: c.p('src/f1'), p2: c.p('dst/existing'), flags: ['NOREPLACE'] }),
    whitedOutInLayer: await c.ops.res('rename', { p: c.p('src/f1'), p2: c.p('src/f2'), flags: ['NOREPLACE'] }),
    unlinkThenReuse: await c.ops.res('unlink', { p: c.p('other/o1') }),
    deletedTarget: await c.ops.res('rename', { p: c.p('src/f3'), p2: c.p('other/o1'), flags: ['NOREPLACE'] }),
    f2: text((await c.ops.must('read', { p: c.p('src/f2') })).hex),
    o1: text((await c.ops.must('read', { p: c.p('other/o1') })).hex),
  }));
  sameAsOverlay(t, r, { lowerTarget: 'EEXIST', whitedOutInLayer: 'ok', unlinkThenReuse: 'ok', deletedTarget: 'ok', f2: 'one', o1: 'three' });
});

test('RENAME_EXCHANGE swaps lower files, lower dirs, and a file with a dir', async (t) => {
  const r = await runBoth(t, { layers }, async (c) => ({
    files: await c.ops.res('rename', { p: c.p('src/f1'), p2: c.p('other/o1'), flags: ['EXCHANGE'] }),
    f1: text((await c.ops.must('read', { p: c.p('src/f1') })).hex),
    o1: text((await c.ops.must('read', { p: c.p('other/o1') })).hex),
    dirs: await c.ops.res('rename', { p: c.p('src/sub'), p2: c.p('dst/fulldir'), flags: ['EXCHANGE'] }),
    sub: names(await c.ops.must('readdir', { p: c.p('src/sub') })),
    fulldir: names(await c.ops.must('readdir', { p: c.p('dst/fulldir') })),
    fileDir: await c.ops.res('rename', { p: c.p('src/f3'), p2: c.p('dst/emptydir'), flags: ['EXCHANGE'] }),
    f3Type: (await c.ops.must('lstat', { p: c.p('src/f3') })).type,
    emptydirType: (await c.ops.must('lstat', { p: c.p('dst/emptydir') })).type,
    missing: await c.ops.res('rename', { p: c.p('src/f1'), p2: c.p('dst/nothing'), flags: ['EXCHANGE'] }),
    manifest: c.manifest({ mtime: true }),
  }), overlayView);
  const { manifest: mo, ...ro } = r.overlay;
  const { manifest: ms, ...rs } = r.strata;
  sameAsOverlay(t, { overlay: ro, strata: rs }, {
    files: 'ok', f1: 'o1', o1: 'one', dirs: 'ok', sub: ['x'], fulldir: ['deep'],
    fileDir: 'ok', f3Type: 'dir', emptydirType: 'file', missing: 'ENOENT',
  });
  t.deepEqual(manifestDiff(r.strataAfter, ms), [], 'kernel overlayfs over the strata upper (- strata live, + overlay)');
  t.deepEqual(manifestDiff(r.overlayAfter, mo), [], 'the oracle remounted');
});

test('a renamed lower dir whose old parent is opaque in its layer shows only that layer after remount', async (t) => {
  // the redirect lookup must stop at the opaque parent, as a normal lookup does
  const opaqueLayers: LayerEntry[][] = [
    [{ p: 'd/b', t: 'dir' }, { p: 'd/b/hidden', t: 'file' }],
    [{ p: 'd', t: 'dir', opaque: true }, { p: 'd/b', t: 'dir' }, { p: 'd/b/visible', t: 'file' }],
  ];
  const r = await runBoth(t, { layers: opaqueLayers }, async (c) => {
    await c.ops.must('rename', { p: c.p('d/b'), p2: c.p('moved') });
    const live = names(await c.ops.must('readdir', { p: c.p('moved') }));
    c.remount();
    return { live, remounted: names(await c.ops.must('readdir', { p: c.p('moved') })) };
  });
  sameAsOverlay(t, r, { live: ['visible'], remounted: ['visible'] });
});

test('a redirect path is looked up without following symlinks in lower layers', async (t) => {
  // in the bottom layer "p" is a symlink loop; the redirect "/p/c" must simply not match there
  const symlinkLayers: LayerEntry[][] = [
    [{ p: 'p', t: 'symlink', target: 'p/q' }],
    [{ p: 'p/c', t: 'dir' }, { p: 'p/c/f', t: 'file', data: 'f' }],
  ];
  const r = await runBoth(t, { layers: symlinkLayers }, async (c) => {
    await c.ops.must('rename', { p: c.p('p/c'), p2: c.p('moved') });
    const live = await c.ops.call('readdir', { p: c.p('moved') });
    c.remount();
    const after = await c.ops.call('readdir', { p: c.p('moved') });
    return { live: live.ok ? names(live.v) : live.err, remounted: after.ok ? names(after.v) : after.err };
  });
  sameAsOverlay(t, r, { live: ['f'], remounted: ['f'] });
});
