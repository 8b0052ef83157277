// File I/O through the union: open flags on lower files, fallocate, holes and
// copy_file_range, ioctl/fsync/mmap, large writes, and statfs.
import test from 'ava';
import * as crypto from 'node:crypto';
import { runBoth, sameAsOverlay } from './helpers/union';
import { hx, layers } from './helpers/feature-layers';
import { pyOnce } from './helpers/pyops';
import { dropCaches, useDropCachesStressor } from './helpers/dropcaches';

useDropCachesStressor(test);

const MIB = 1 << 20;

test('O_APPEND, O_TRUNC and O_EXCL on lower files', async (t) => {
  const r = await runBoth(t, { layers }, async (c) => {
    await c.ops.must('write', { p: c.p('d/lower'), data: '+A', flags: ['APPEND'] });
    const fd = await c.ops.must('open', { p: c.p('d/mid'), flags: ['WRONLY', 'APPEND'] });
    await c.ops.must('fwrite', { fd, data: '+1' });
    await c.ops.must('lseek', { fd, off: 0, whence: 'SET' });
    await c.ops.must('fwrite', { fd, data: '+2' }); // O_APPEND ignores the seek
    await c.ops.must('close', { fd });
    const trunc = await c.ops.must('open', { p: c.p('d/other'), flags: ['WRONLY', 'TRUNC'] });
    const truncSize = (await c.ops.must('fstat', { fd: trunc })).size;
    await c.ops.must('close', { fd: trunc });
    return {
      lower: (await c.ops.must('read', { p: c.p('d/lower') })).hex,
      mid: (await c.ops.must('read', { p: c.p('d/mid') })).hex,
      truncSize,
      other: await c.ops.must('read', { p: c.p('d/other') }),
      exclLower: await c.ops.res('create', { p: c.p('d/lower'), flags: ['EXCL'] }),
      exclMid: await c.ops.res('create', { p: c.p('d/mid'), flags: ['EXCL'] }),
      exclNew: await c.ops.res('create', { p: c.p('d/brand-new'), flags: ['EXCL'] }),
      exclAgain: await c.ops.res('create', { p: c.p('d/brand-new'), flags: ['EXCL'] }),
    };
  });
  sameAsOverlay(t, r, {
    lower: hx('lower data+A'), mid: hx('mid+1+2'), truncSize: 0, other: { size: 0, hex: '' },
    exclLower: 'EEXIST', exclMid: 'EEXIST', exclNew: 'ok', exclAgain: 'EEXIST',
  });
});

test('fallocate, punch hole, SEEK_DATA/SEEK_HOLE and copy_file_range', async (t) => {
  const r = await runBoth(t, { layers }, async (c) => {
    const afd = await c.ops.must('open', { p: c.p('d/alloc'), flags: ['RDWR', 'CREAT'] });
    await c.ops.must('fallocate', { fd: afd, off: 0, len: 4 * MIB });
    const allocated = await c.ops.must('fstat', { fd: afd });
    await c.ops.must('close', { fd: afd });
    // Written data only: how preallocated-but-unwritten space answers SEEK_HOLE is up to the upper fs.
    const fd = await c.ops.must('open', { p: c.p('d/sparse'), flags: ['RDWR', 'CREAT'] });
    await c.ops.must('fwrite', { fd, data: Buffer.alloc(4096, 7), off: 0 });
    await c.ops.must('fwrite', { fd, data: Buffer.alloc(MIB, 5), off: MIB });
    await c.ops.must('fwrite', { fd, data: Buffer.alloc(4096, 9), off: 3 * MIB });
    // FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
    await c.ops.must('fallocate', { fd, mode: 3, off: MIB, len: MIB });
    const dataAt = await c.ops.must('lseek', { fd, off: MIB, whence: 'DATA' });
    const holeAt = await c.ops.must('lseek', { fd, off: 0, whence: 'HOLE' });
    const punched = await c.ops.must('fread', { fd, n: 16, off: MIB + 100 });
    await c.ops.must('close', { fd });
    // copy_file_range from a lower file into a new file
    const src = await c.ops.must('open', { p: c.p('d/other'), flags: ['RDONLY'] });
    const dst = await c.ops.must('open', { p: c.p('d/copy'), flags: ['WRONLY', 'CREAT'] });
    const copied = await c.ops.must('copy_file_range', { fdIn: src, fdOut: dst, n: 6, offIn: 2, offOut: 1 });
    await c.ops.must('close', { fd: src });
    await c.ops.must('close', { fd: dst });
    return {
      size: allocated.size, blocksAllocated: allocated.blocks * 512 >= 4 * MIB,
      dataAt, holeAt, punched, copied, copy: await c.ops.must('read', { p: c.p('d/copy') }),
    };
  });
  sameAsOverlay(t, r, {
    size: 4 * MIB, blocksAllocated: true, dataAt: 3 * MIB, holeAt: 4096, punched: '00'.repeat(16), copied: 6,
    copy: { size: 7, hex: hx(Buffer.concat([Buffer.alloc(1), Buffer.from('234567')])) },
  });
});

test('unknown ioctls answer ENOTTY; fsync works; shared writable mmap reaches the file', async (t) => {
  const r = await runBoth(t, { layers }, async (c) => {
    const fd = await c.ops.must('open', { p: c.p('d/other'), flags: ['RDWR'] });
    const ioctl = await c.ops.res('ioctl', { fd, req: 0x8004_5aff });
    const fsync = await c.ops.res('fsync', { fd });
    await c.ops.must('close', { fd });
    const dfd = await c.ops.must('open', { p: c.p('d'), flags: ['RDONLY', 'DIRECTORY'] });
    const dirFsync = await c.ops.res('fsync', { fd: dfd });
    await c.ops.must('close', { fd: dfd });
    await c.ops.must('mmap_write', { p: c.p('d/other'), off: 2, data: 'MM' });
    dropCaches();
    return { ioctl, fsync, dirFsync, content: (await c.ops.must('read', { p: c.p('d/other') })).hex };
  });
  sameAsOverlay(t, r, { ioctl: 'ENOTTY', fsync: 'ok', dirFsync: 'ok', content: hx('01MM456789') });
});

test('a 16 MiB file written through the union reads back exactly', async (t) => {
  const data = crypto.randomBytes(4 * MIB);
  const r = await runBoth(t, { layers }, async (c) => {
    const fd = await c.ops.must('open', { p: c.p('d/big'), flags: ['WRONLY', 'CREAT'] });
    for (let i = 0; i < 4; i++) await c.ops.must('fwrite', { fd, data, off: i * 4 * MIB + i });
    await c.ops.must('close', { fd });
    dropCaches();
    return c.ops.must('read', { p: c.p('d/big') });
  });
  const want = Buffer.alloc(16 * MIB + 3);
  for (let i = 0; i < 4; i++) data.copy(want, i * 4 * MIB + i);
  sameAsOverlay(t, r, { size: want.length, sha256: crypto.createHash('sha256').update(want).digest('hex') });
});

test('statfs of the union reports the upper filesystem', async (t) => {
  const r = await runBoth(t, { layers }, async (c) => {
    const s = await c.ops.must('statfs', { p: c.p() });
    const u = pyOnce('statfs', { p: c.upper }).v;
    // free space moves with other activity on the disk; the geometry does not
    return { bsize: s.bsize === u.bsize, blocks: s.blocks === u.blocks, files: s.files === u.files, namemax: s.namemax };
  });
  sameAsOverlay(t, r, { bsize: true, blocks: true, files: true, namemax: 255 });
});
