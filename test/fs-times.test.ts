// Timestamps through the union: nanosecond utimensat on every kind of entry, and lower
// layers that reads leave untouched (not even their atime).
import test from 'ava';
import { runBoth, sameAsOverlay } from './helpers/union';
import { layers } from './helpers/feature-layers';
import { pyOnce } from './helpers/pyops';
import { useDropCachesStressor } from './helpers/dropcaches';

useDropCachesStressor(test);

const OLD_ATIME = '1000000000000000000'; // 2001

test('utimensat: ns timestamps, UTIME_OMIT, UTIME_NOW, on files, dirs and symlinks', async (t) => {
  const before = BigInt(Date.now() - 5000) * 1_000_000n;
  const r = await runBoth(t, { layers }, async (c) => {
    await c.ops.must('symlink', { target: 'lower', p: c.p('d/sl') });
    const times = async (p: string) => {
      const s = await c.ops.must('lstat', { p: c.p(p) });
      return [s.atime, s.mtime];
    };
    await c.ops.must('utimens', { p: c.p('d/lower'), atime: '1111111111123456789', mtime: '2222222222987654321' });
    const explicit = await times('d/lower');
    await c.ops.must('utimens', { p: c.p('d/lower'), atime: '1000000000000000001', mtime: 'omit' });
    const omitM = await times('d/lower');
    await c.ops.must('utimens', { p: c.p('d/lower'), atime: 'omit', mtime: 'now' });
    const [, nowM] = await times('d/lower');
    await c.ops.must('utimens', { p: c.p('d/sub'), atime: '3', mtime: '4000000000000000005' });
    await c.ops.must('utimens', { p: c.p('d/sl'), atime: '6', mtime: '7000000000000000008', nofollow: true });
    return {
      explicit, omitM,
      nowIsNow: BigInt(nowM) >= before && BigInt(nowM) <= BigInt(Date.now() + 5000) * 1_000_000n,
      dir: await times('d/sub'), link: await times('d/sl'),
      // the symlink's own times changed, not its target's
      target: (await times('d/lower'))[1] === nowM,
    };
  });
  sameAsOverlay(t, r, {
    explicit: ['1111111111123456789', '2222222222987654321'],
    omitM: ['1000000000000000001', '2222222222987654321'],
    nowIsNow: true,
    dir: ['3', '4000000000000000005'],
    link: ['6', '7000000000000000008'],
    target: true,
  });
});

test('lower layers are never written, not even atime', async (t) => {
  const r = await runBoth(t, { layers }, async (c) => {
    const lowerFile = `${c.lowers[1]}/d/lower`;
    const lowerDir = `${c.lowers[1]}/d`;
    // Old atimes (older than mtime), so relatime would update them on any read;
    // set here because listing the lowers beforehand already refreshed them.
    for (const p of [lowerFile, lowerDir]) pyOnce('utimens', { p, atime: OLD_ATIME, mtime: 'omit' });
    const at0 = pyOnce('lstat', { p: lowerFile }).v.atime;
    const dirAt0 = pyOnce('lstat', { p: lowerDir }).v.atime;
    await c.ops.must('read', { p: c.p('d/lower') });
    await c.ops.must('readdir', { p: c.p('d') });
    const fd = await c.ops.must('open', { p: c.p('d/lower'), flags: ['RDONLY'] });
    await c.ops.must('fread', { fd, n: 4 });
    await c.ops.must('close', { fd });
    return {
      file: [at0, pyOnce('lstat', { p: lowerFile }).v.atime],
      dir: [dirAt0, pyOnce('lstat', { p: lowerDir }).v.atime],
    };
  });
  sameAsOverlay(t, { overlay: r.overlay.file, strata: r.strata.file }, [OLD_ATIME, OLD_ATIME], 'lower file atime before/after');
  sameAsOverlay(t, { overlay: r.overlay.dir, strata: r.strata.dir }, [OLD_ATIME, OLD_ATIME], 'lower dir atime before/after');
});
