// Entries that are not regular files or directories: symlinks up to the kernel's limit,
// fifos, sockets, character and block devices.
import test from 'ava';
import { runBoth, sameAsOverlay } from './helpers/union';
import { hx, layers } from './helpers/feature-layers';
import { useDropCachesStressor } from './helpers/dropcaches';

useDropCachesStressor(test);

test('symlinks up to 4095 bytes; 4096 is ENAMETOOLONG', async (t) => {
  const long = Buffer.from('x/'.repeat(2047) + 'y'); // 4095 bytes
  const r = await runBoth(t, { layers }, async (c) => ({
    ok: await c.ops.res('symlink', { target: long, p: c.p('d/long') }),
    back: (await c.ops.must('readlink', { p: c.p('d/long') })) === hx(long),
    size: (await c.ops.must('lstat', { p: c.p('d/long') })).size,
    tooLong: await c.ops.res('symlink', { target: Buffer.concat([long, Buffer.from('z')]), p: c.p('d/toolong') }),
  }));
  sameAsOverlay(t, r, { ok: 'ok', back: true, size: 4095, tooLong: 'ENAMETOOLONG' });
});

test('fifos, sockets, char and block devices: lower ones visible, new ones created', async (t) => {
  const r = await runBoth(t, { layers }, async (c) => {
    await c.ops.must('mknod', { p: c.p('dev/newfifo'), kind: 'fifo', mode: 0o600 });
    await c.ops.must('bindsock', { p: c.p('dev/sock') });
    await c.ops.must('mknod', { p: c.p('dev/zero'), kind: 'char', major: 1, minor: 5, mode: 0o666 });
    await c.ops.must('mknod', { p: c.p('dev/blk'), kind: 'block', major: 7, minor: 1, mode: 0o660 });
    const kinds: Record<string, unknown> = {};
    for (const n of ['null', 'loop', 'fifo', 'newfifo', 'sock', 'zero', 'blk']) {
      const s = await c.ops.must('lstat', { p: c.p('dev', n) });
      kinds[n] = [s.type, s.rdev ?? null];
    }
    // a lower device node still works as the device
    const fd = await c.ops.must('open', { p: c.p('dev/null'), flags: ['WRONLY'] });
    const wrote = await c.ops.must('fwrite', { fd, data: 'discarded' });
    await c.ops.must('close', { fd });
    return { kinds, wrote };
  });
  sameAsOverlay(t, r, {
    kinds: {
      null: ['char', [1, 3]], loop: ['block', [7, 0]], fifo: ['fifo', null], newfifo: ['fifo', null],
      sock: ['socket', null], zero: ['char', [1, 5]], blk: ['block', [7, 1]],
    },
    wrote: 9,
  });
});
