// Inodes through the union: numbers stable across forgetting and copy-up, hard links
// sharing one inode, and files that live on open after their last name is gone.
import test from 'ava';
import { runBoth, sameAsOverlay } from './helpers/union';
import { hx, layers } from './helpers/feature-layers';
import { dropCaches, useDropCachesStressor } from './helpers/dropcaches';

useDropCachesStressor(test);

test('inode numbers are stable across drop_caches and copy-up, and unique', async (t) => {
  const r = await runBoth(t, { layers }, async (c) => {
    const paths = ['d', 'd/lower', 'd/other', 'd/mid', 'd/sub', 'dev/null'];
    await c.ops.must('create', { p: c.p('d/new') });
    paths.push('d/new');
    const ino = async () => Promise.all(paths.map(async (p) => (await c.ops.must('lstat', { p: c.p(p) })).ino as string));
    const first = await ino();
    dropCaches();
    const afterDrop = await ino();
    await c.ops.must('chmod', { p: c.p('d/lower'), mode: 0o600 }); // copy-up
    await c.ops.must('write', { p: c.p('d/mid'), data: '!', flags: ['APPEND'] });
    dropCaches();
    const afterCopyUp = await ino();
    return {
      stableDrop: afterDrop.every((x, i) => x === first[i]),
      stableCopyUp: afterCopyUp.every((x, i) => x === first[i]),
      unique: new Set(first).size === first.length,
    };
  });
  sameAsOverlay(t, r, { stableDrop: true, stableCopyUp: true, unique: true });
});

test('hard links made through the union share inode, nlink and attributes', async (t) => {
  const r = await runBoth(t, { layers }, async (c) => {
    await c.ops.must('link', { p: c.p('d/lower'), p2: c.p('d/sub/hl') });
    await c.ops.must('chmod', { p: c.p('d/sub/hl'), mode: 0o640 });
    await c.ops.must('setxattr', { p: c.p('d/lower'), name: 'user.shared', value: 'yes' });
    const [a, b] = [await c.ops.must('lstat', { p: c.p('d/lower') }), await c.ops.must('lstat', { p: c.p('d/sub/hl') })];
    const x = await c.ops.must('getxattr', { p: c.p('d/sub/hl'), name: 'user.shared' });
    await c.ops.must('unlink', { p: c.p('d/lower') });
    const after = await c.ops.must('lstat', { p: c.p('d/sub/hl') });
    return { sameIno: a.ino === b.ino, nlink: [a.nlink, b.nlink], modes: [a.mode, b.mode], x, nlinkAfter: after.nlink, inoKept: after.ino === b.ino };
  });
  sameAsOverlay(t, r, { sameIno: true, nlink: [2, 2], modes: [0o640, 0o640], x: hx('yes'), nlinkAfter: 1, inoKept: true });
});

test('an open unlinked file shows nlink 0 and stays readable and writable', async (t) => {
  const r = await runBoth(t, { layers }, async (c) => {
    const out: Record<string, unknown> = {};
    for (const name of ['lower', 'mid']) {
      const fd = await c.ops.must('open', { p: c.p('d', name), flags: ['RDWR'] });
      await c.ops.must('unlink', { p: c.p('d', name) });
      const st = await c.ops.must('fstat', { fd });
      await c.ops.must('fwrite', { fd, data: 'XY', off: 1 });
      const data = await c.ops.must('fread', { fd, n: 100, off: 0 });
      dropCaches();
      const data2 = await c.ops.must('fread', { fd, n: 100, off: 0 });
      await c.ops.must('close', { fd });
      out[name] = { nlink: st.nlink, data, data2, gone: await c.ops.res('lstat', { p: c.p('d', name) }) };
    }
    return out;
  });
  sameAsOverlay(t, r, {
    lower: { nlink: 0, data: hx('lXYer data'), data2: hx('lXYer data'), gone: 'ENOENT' },
    mid: { nlink: 0, data: hx('mXY'), data2: hx('mXY'), gone: 'ENOENT' },
  });
});
