import test from 'ava';
import * as crypto from 'node:crypto';
import { runBoth, sameAsOverlay } from './helpers/union';
import { LayerEntry } from './helpers/layers';
import { pyOnce } from './helpers/pyops';
import { dropCaches, useDropCachesStressor } from './helpers/dropcaches';

useDropCachesStressor(test);

const hx = (s: string | Buffer) => (Buffer.isBuffer(s) ? s : Buffer.from(s)).toString('hex');
const MIB = 1 << 20;
const OLD_ATIME = '1000000000000000000'; // 2001

const layers: LayerEntry[][] = [
  [
    { p: 'd', t: 'dir' },
    { p: 'd/lower', t: 'file', data: 'lower data', mtime: 1_500_000_000_111_111_111n, atime: 1_000_000_000_000_000_000n },
    { p: 'd/other', t: 'file', data: '0123456789' },
    { p: 'd/sub', t: 'dir' },
    { p: 'dev', t: 'dir' },
    { p: 'dev/null', t: 'char', rdev: [1, 3] },
    { p: 'dev/loop', t: 'block', rdev: [7, 0] },
    { p: 'dev/fifo', t: 'fifo' },
  ],
  [
    { p: 'd', t: 'dir' },
    { p: 'd/mid', t: 'file', data: 'mid' },
  ],
];

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

test('statfs of the union reports the upper filesystem', async (t) => {
  const r = await runBoth(t, { layers }, async (c) => {
    const s = await c.ops.must('statfs', { p: c.p() });
    const u = pyOnce('statfs', { p: c.upper }).v;
    // free space moves with other activity on the disk; the geometry does not
    return { bsize: s.bsize === u.bsize, blocks: s.blocks === u.blocks, files: s.files === u.files, namemax: s.namemax };
  });
  sameAsOverlay(t, r, { bsize: true, blocks: true, files: true, namemax: 255 });
});

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

test('xattrs in user., trusted. and security. namespaces through the union', async (t) => {
  const r = await runBoth(t, { layers }, async (c) => {
    const p = c.p('d/lower');
    for (const [n, v] of [['user.u', 'U'], ['trusted.t', 'T'], ['security.s', 'S']]) await c.ops.must('setxattr', { p, name: n, value: v });
    const got = await Promise.all(['user.u', 'trusted.t', 'security.s'].map((n) => c.ops.must('getxattr', { p, name: n })));
    const create = await c.ops.res('setxattr', { p, name: 'user.u', value: 'again', flag: 'CREATE' });
    const replaceMissing = await c.ops.res('setxattr', { p, name: 'user.none', value: 'x', flag: 'REPLACE' });
    await c.ops.must('removexattr', { p, name: 'trusted.t' });
    const list = (await c.ops.must('listxattr', { p })).filter((n: string) => !n.startsWith('trusted.overlay.'));
    // kernel >= 6.7 stores it escaped (trusted.overlay.overlay.*) instead of obeying it
    const overlayNs = await c.ops.res('setxattr', { p, name: 'trusted.overlay.opaque', value: 'y' });
    const back = await c.ops.call('getxattr', { p, name: 'trusted.overlay.opaque' });
    const overlayNsBack = back.ok ? back.v : back.err;
    return { got, create, replaceMissing, list, overlayNs, overlayNsBack };
  });
  sameAsOverlay(t, r, {
    got: [hx('U'), hx('T'), hx('S')], create: 'EEXIST', replaceMissing: 'ENODATA', list: ['security.s', 'user.u'],
    overlayNs: 'ok', overlayNsBack: hx('y'),
  });
});

// strata-fs answers xattr requests of an inode it knows has none without asking the
// layers again: each change must be seen at once, by every name of the file.
test('xattrs set after one was missed are seen; removal and hard links too', async (t) => {
  const r = await runBoth(t, { layers }, async (c) => {
    const get = async (p: string, name: string) => {
      const x = await c.ops.call('getxattr', { p: c.p(p), name });
      return x.ok ? x.v : x.err;
    };
    const list = async (p: string) => ((await c.ops.must('listxattr', { p: c.p(p) })) as string[]).filter((n) => !n.startsWith('trusted.overlay.')).sort();
    const out: Record<string, unknown> = {};
    await c.ops.must('create', { p: c.p('d/fresh') });
    await c.ops.must('write', { p: c.p('d/fresh'), data: 'x', flags: ['APPEND'] }); // the kernel asks for security.capability
    out.missed = [await get('d/lower', 'user.a'), await get('d/fresh', 'user.a'), await get('d/other', 'trusted.x')];
    out.emptyLists = [await list('d/lower'), await list('d/fresh')];
    await c.ops.must('setxattr', { p: c.p('d/lower'), name: 'user.a', value: '1' });
    await c.ops.must('setxattr', { p: c.p('d/other'), name: 'trusted.x', value: 'T' });
    out.afterSet = [await get('d/lower', 'user.a'), await get('d/other', 'trusted.x'), await list('d/lower')];
    await c.ops.must('removexattr', { p: c.p('d/lower'), name: 'user.a' });
    out.afterRemove = [await get('d/lower', 'user.a'), await list('d/lower')];
    await c.ops.must('link', { p: c.p('d/fresh'), p2: c.p('d/sub/hl') });
    out.linkMissed = await get('d/sub/hl', 'user.b');
    await c.ops.must('setxattr', { p: c.p('d/fresh'), name: 'user.b', value: '2' });
    out.viaLink = [await get('d/sub/hl', 'user.b'), await list('d/sub/hl')];
    dropCaches();
    out.afterForget = [await get('d/lower', 'user.a'), await get('d/sub/hl', 'user.b'), await get('d/other', 'trusted.x')];
    return out;
  });
  sameAsOverlay(t, r, {
    missed: ['ENODATA', 'ENODATA', 'ENODATA'], emptyLists: [[], []],
    afterSet: [hx('1'), hx('T'), ['user.a']], afterRemove: ['ENODATA', []],
    linkMissed: 'ENODATA', viaLink: [hx('2'), ['user.b']],
    afterForget: ['ENODATA', hx('2'), hx('T')],
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
