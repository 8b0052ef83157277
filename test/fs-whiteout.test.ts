import test from 'ava';
import { runBoth, sameAsOverlay } from './helpers/union';
import { treeManifest } from './helpers/manifest';
import { LayerEntry } from './helpers/layers';
import { pyOnce } from './helpers/pyops';
import { useDropCachesStressor } from './helpers/dropcaches';

useDropCachesStressor(test);

const hx = (s: string) => Buffer.from(s).toString('hex');
const names = (list: string[]) => list.map((h) => Buffer.from(h, 'hex').toString('latin1'));
// The upper dir as "path type" lines (+ rdev for devices): its on-disk format.
const upperShape = (upper: string) =>
  treeManifest(upper, { noHash: true }).split('\n').filter(Boolean)
    .map((l) => [l.split(' ')[0], ...l.split(' ').filter((f) => f.startsWith('type=') || f.startsWith('rdev='))].join(' '));

const base: LayerEntry[] = [
  { p: 'd', t: 'dir' },
  { p: 'd/lower-file', t: 'file', data: 'L' },
  { p: 'd/both', t: 'file', data: 'lower version' },
  { p: 'tree', t: 'dir' },
  { p: 'tree/x', t: 'file', data: 'x' },
  { p: 'tree/sub', t: 'dir' },
  { p: 'tree/sub/y', t: 'file', data: 'y' },
  { p: 'emptydir', t: 'dir' },
];

test('unlink and rmdir of lower objects leave 0/0 char device whiteouts in the upper dir', async (t) => {
  const r = await runBoth(t, { layers: [base] }, async (c) => {
    const res = {
      unlinkLower: await c.ops.res('unlink', { p: c.p('d/lower-file') }),
      createUpperOnly: await c.ops.res('create', { p: c.p('d/upper-only') }),
      unlinkUpperOnly: await c.ops.res('unlink', { p: c.p('d/upper-only') }),
      writeBoth: await c.ops.res('write', { p: c.p('d/both'), data: 'upper', flags: ['TRUNC'] }),
      unlinkBoth: await c.ops.res('unlink', { p: c.p('d/both') }),
      rmdirEmpty: await c.ops.res('rmdir', { p: c.p('emptydir') }),
      rmdirNonEmpty: await c.ops.res('rmdir', { p: c.p('tree') }),
      lookup: await c.ops.res('lstat', { p: c.p('d/lower-file') }),
      listing: names(await c.ops.must('readdir', { p: c.p('d') })),
      root: names(await c.ops.must('readdir', { p: c.p() })),
    };
    return res;
  }, (c) => upperShape(c.upper));
  sameAsOverlay(t, r, {
    unlinkLower: 'ok', createUpperOnly: 'ok', unlinkUpperOnly: 'ok', writeBoth: 'ok', unlinkBoth: 'ok',
    rmdirEmpty: 'ok', rmdirNonEmpty: 'ENOTEMPTY', lookup: 'ENOENT', listing: [], root: ['d', 'tree'],
  });
  sameAsOverlay(t, { overlay: r.overlayAfter, strata: r.strataAfter }, [
    '/ type=dir', '/d type=dir', '/d/both type=char rdev=0:0', '/d/lower-file type=char rdev=0:0', '/emptydir type=char rdev=0:0',
  ], 'upper dir');
});

test('removing a lower tree leaves one whiteout; mkdir over it makes an opaque dir hiding the old children', async (t) => {
  const r = await runBoth(t, { layers: [base] }, async (c) => {
    for (const p of ['tree/sub/y', 'tree/x']) await c.ops.must('unlink', { p: c.p(p) });
    await c.ops.must('rmdir', { p: c.p('tree/sub') });
    await c.ops.must('rmdir', { p: c.p('tree') });
    const gone = await c.ops.res('lstat', { p: c.p('tree') });
    await c.ops.must('mkdir', { p: c.p('tree'), mode: 0o755 });
    await c.ops.must('create', { p: c.p('tree/new') });
    return { gone, listing: names(await c.ops.must('readdir', { p: c.p('tree') })), oldChild: await c.ops.res('lstat', { p: c.p('tree/x') }) };
  }, (c) => ({
    shape: upperShape(c.upper),
    opaque: pyOnce('getxattr', { p: `${c.upper}/tree`, name: 'trusted.overlay.opaque' }).v,
  }));
  sameAsOverlay(t, r, { gone: 'ENOENT', listing: ['new'], oldChild: 'ENOENT' });
  sameAsOverlay(t, { overlay: r.overlayAfter, strata: r.strataAfter }, {
    shape: ['/ type=dir', '/tree type=dir', '/tree/new type=file'],
    opaque: hx('y'),
  }, 'upper dir');
});

test('whiteouts and opaque dirs in lower layers hide lower entries; no whiteout is ever visible', async (t) => {
  const layers: LayerEntry[][] = [
    [
      { p: 'd', t: 'dir' }, { p: 'd/a', t: 'file', data: '1' }, { p: 'd/b', t: 'file', data: '1' },
      { p: 'd/c', t: 'dir' }, { p: 'd/c/deep', t: 'file' },
      { p: 'op', t: 'dir' }, { p: 'op/hidden', t: 'file' }, { p: 'op/alsohidden', t: 'dir' },
      { p: 'gone', t: 'dir' }, { p: 'gone/x', t: 'file' },
    ],
    [
      { p: 'd', t: 'dir' }, { p: 'd/a', t: 'whiteout' }, { p: 'd/c', t: 'whiteout' }, { p: 'd/b', t: 'file', data: '2' },
      { p: 'op', t: 'dir', opaque: true }, { p: 'op/visible', t: 'file' },
      { p: 'gone', t: 'whiteout' }, { p: 'd/neverexisted', t: 'whiteout' },
    ],
    [{ p: 'd', t: 'dir' }, { p: 'd/a', t: 'file', data: '3' }, { p: 'd/e', t: 'file' }],
  ];
  const r = await runBoth(t, { layers }, async (c) => ({
    d: names(await c.ops.must('readdir', { p: c.p('d') })),
    op: names(await c.ops.must('readdir', { p: c.p('op') })),
    root: names(await c.ops.must('readdir', { p: c.p() })),
    a: (await c.ops.must('read', { p: c.p('d/a') })).hex,
    b: (await c.ops.must('read', { p: c.p('d/b') })).hex,
    c: await c.ops.res('lstat', { p: c.p('d/c') }),
    deep: await c.ops.res('lstat', { p: c.p('d/c/deep') }),
    hidden: await c.ops.res('lstat', { p: c.p('op/hidden') }),
    gone: await c.ops.res('lstat', { p: c.p('gone') }),
    never: await c.ops.res('lstat', { p: c.p('d/neverexisted') }),
    // a name whited out below can be created again
    recreate: await c.ops.res('mkdir', { p: c.p('gone') }),
    recreated: names(await c.ops.must('readdir', { p: c.p('gone') })),
  }));
  sameAsOverlay(t, r, {
    d: ['a', 'b', 'e'], op: ['visible'], root: ['d', 'op'], a: hx('3'), b: hx('2'),
    c: 'ENOENT', deep: 'ENOENT', hidden: 'ENOENT', gone: 'ENOENT', never: 'ENOENT', recreate: 'ok', recreated: [],
  });
});

test('mknod of a 0/0 char device is refused with EPERM; other devices are created', async (t) => {
  const r = await runBoth(t, { layers: [base] }, async (c) => ({
    whiteoutDev: await c.ops.res('mknod', { p: c.p('d/wh'), kind: 'char', major: 0, minor: 0 }),
    overLower: await c.ops.res('mknod', { p: c.p('d/lower-file'), kind: 'char', major: 0, minor: 0 }),
    nullDev: await c.ops.res('mknod', { p: c.p('d/null'), kind: 'char', major: 1, minor: 3 }),
    listing: names(await c.ops.must('readdir', { p: c.p('d') })),
  }));
  sameAsOverlay(t, r, { whiteoutDev: 'EPERM', overLower: 'EEXIST', nullDev: 'ok', listing: ['both', 'lower-file', 'null'] });
});

test('a name whited out in a lower layer can be created and deleted; the lower whiteout still hides the old file', async (t) => {
  const layers: LayerEntry[][] = [[{ p: 'f', t: 'file', data: 'old' }], [{ p: 'f', t: 'whiteout' }]];
  const r = await runBoth(t, { layers }, async (c) => {
    const excl = await c.ops.res('create', { p: c.p('f'), flags: ['EXCL'] });
    const content = await c.ops.must('read', { p: c.p('f') });
    await c.ops.must('unlink', { p: c.p('f') });
    return { excl, content, after: await c.ops.res('lstat', { p: c.p('f') }), root: names(await c.ops.must('readdir', { p: c.p() })) };
  }, (c) => upperShape(c.upper));
  sameAsOverlay(t, r, { excl: 'ok', content: { size: 0, hex: '' }, after: 'ENOENT', root: [] });
  // nothing below is visible any more, so no new whiteout is needed
  sameAsOverlay(t, { overlay: r.overlayAfter, strata: r.strataAfter }, ['/ type=dir'], 'upper dir');
});
