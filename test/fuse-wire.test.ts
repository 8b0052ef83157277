// The FUSE wire without a mount: protocol.ts's layouts against fuse.h, the encoders' bytes,
// and the whole dispatch (FuseSession.receive) with requests built from fuse.h's layouts,
// against a fake filesystem and a recording device. Each test names the rule it checks.
import test, { type ExecutionContext } from 'ava';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { OPS, UNKNOWN_OP } from '../src/fuse/ops';
import {
  AttrOut, BatchForgetIn, CopyFileRangeIn, CreateIn, Dirent, DirentPlus, EntryOut, FallocateIn, ForgetIn, ForgetOne,
  FsyncIn, FuseAttr, GetattrIn, GetxattrIn, GetxattrOut, InHeader, InitIn, InitOut, IoctlIn, IoctlOut, LinkIn, LseekIn, LseekOut,
  MkdirIn, MknodIn, NotifyInvalInodeOut, OpenIn, OpenOut, OutHeader, ReadIn, ReleaseIn, Rename2In, RenameIn,
  SetattrIn, SetxattrIn, StatfsOut, WriteIn, WriteOut,
} from '../src/fuse/protocol';
import type { Caller, DirEntry, SetAttr } from '../src/fuse/types';
import { direntSize, encodeDirent } from '../src/fuse/wire';
import {
  cname, errnoError, harness, request, sampleAttr, sampleEntry, type Reply,
} from './helpers/fuse-harness';
import { OPCODES, STRUCTS, layout, offsetOf, pack, unpack, type Decoded } from './helpers/fuse-structs';

const E = os.constants.errno;
const UTIME_NOW = (1 << 30) - 1;

// ---- layouts ----

/** protocol.ts's constants per fuse.h struct: every field fuse.h declares, and SIZE. */
const OURS: Record<string, Record<string, number>> = {
  fuse_in_header: {
    len: InHeader.len, opcode: InHeader.opcode, unique: InHeader.unique, nodeid: InHeader.nodeid, uid: InHeader.uid,
    gid: InHeader.gid, pid: InHeader.pid, total_extlen: InHeader.total_extlen, padding: InHeader.padding, SIZE: InHeader.SIZE,
  },
  fuse_out_header: { len: OutHeader.len, error: OutHeader.error, unique: OutHeader.unique, SIZE: OutHeader.SIZE },
  fuse_attr: {
    ino: FuseAttr.ino, size: FuseAttr.size, blocks: FuseAttr.blocks, atime: FuseAttr.atime, mtime: FuseAttr.mtime,
    ctime: FuseAttr.ctime, atimensec: FuseAttr.atimensec, mtimensec: FuseAttr.mtimensec, ctimensec: FuseAttr.ctimensec,
    mode: FuseAttr.mode, nlink: FuseAttr.nlink, uid: FuseAttr.uid, gid: FuseAttr.gid, rdev: FuseAttr.rdev,
    blksize: FuseAttr.blksize, flags: FuseAttr.flags, SIZE: FuseAttr.SIZE,
  },
  fuse_entry_out: {
    nodeid: EntryOut.nodeid, generation: EntryOut.generation, entry_valid: EntryOut.entry_valid,
    attr_valid: EntryOut.attr_valid, entry_valid_nsec: EntryOut.entry_valid_nsec,
    attr_valid_nsec: EntryOut.attr_valid_nsec, attr: EntryOut.attr, SIZE: EntryOut.SIZE,
  },
  fuse_attr_out: {
    attr_valid: AttrOut.attr_valid, attr_valid_nsec: AttrOut.attr_valid_nsec, dummy: AttrOut.dummy, attr: AttrOut.attr,
    SIZE: AttrOut.SIZE,
  },
  fuse_forget_in: { nlookup: ForgetIn.nlookup, SIZE: ForgetIn.SIZE },
  fuse_forget_one: { nodeid: ForgetOne.nodeid, nlookup: ForgetOne.nlookup, SIZE: ForgetOne.SIZE },
  fuse_batch_forget_in: { count: BatchForgetIn.count, dummy: BatchForgetIn.dummy, SIZE: BatchForgetIn.SIZE },
  fuse_getattr_in: { getattr_flags: GetattrIn.getattr_flags, dummy: GetattrIn.dummy, fh: GetattrIn.fh, SIZE: GetattrIn.SIZE },
  fuse_setattr_in: {
    valid: SetattrIn.valid, padding: SetattrIn.padding, fh: SetattrIn.fh, size: SetattrIn.size,
    lock_owner: SetattrIn.lock_owner, atime: SetattrIn.atime, mtime: SetattrIn.mtime, ctime: SetattrIn.ctime,
    atimensec: SetattrIn.atimensec, mtimensec: SetattrIn.mtimensec, ctimensec: SetattrIn.ctimensec,
    mode: SetattrIn.mode, unused4: SetattrIn.unused4, uid: SetattrIn.uid, gid: SetattrIn.gid, unused5: SetattrIn.unused5,
    SIZE: SetattrIn.SIZE,
  },
  fuse_mknod_in: { mode: MknodIn.mode, rdev: MknodIn.rdev, umask: MknodIn.umask, padding: MknodIn.padding, SIZE: MknodIn.SIZE },
  fuse_mkdir_in: { mode: MkdirIn.mode, umask: MkdirIn.umask, SIZE: MkdirIn.SIZE },
  fuse_rename_in: { newdir: RenameIn.newdir, SIZE: RenameIn.SIZE },
  fuse_rename2_in: { newdir: Rename2In.newdir, flags: Rename2In.flags, padding: Rename2In.padding, SIZE: Rename2In.SIZE },
  fuse_link_in: { oldnodeid: LinkIn.oldnodeid, SIZE: LinkIn.SIZE },
  fuse_open_in: { flags: OpenIn.flags, open_flags: OpenIn.open_flags, SIZE: OpenIn.SIZE },
  fuse_create_in: { flags: CreateIn.flags, mode: CreateIn.mode, umask: CreateIn.umask, open_flags: CreateIn.open_flags, SIZE: CreateIn.SIZE },
  fuse_open_out: { fh: OpenOut.fh, open_flags: OpenOut.open_flags, backing_id: OpenOut.backing_id, SIZE: OpenOut.SIZE },
  fuse_release_in: {
    fh: ReleaseIn.fh, flags: ReleaseIn.flags, release_flags: ReleaseIn.release_flags, lock_owner: ReleaseIn.lock_owner,
    SIZE: ReleaseIn.SIZE,
  },
  fuse_read_in: {
    fh: ReadIn.fh, offset: ReadIn.offset, size: ReadIn.size, read_flags: ReadIn.read_flags, lock_owner: ReadIn.lock_owner,
    flags: ReadIn.flags, padding: ReadIn.padding, SIZE: ReadIn.SIZE,
  },
  fuse_write_in: {
    fh: WriteIn.fh, offset: WriteIn.offset, size: WriteIn.size, write_flags: WriteIn.write_flags,
    lock_owner: WriteIn.lock_owner, flags: WriteIn.flags, padding: WriteIn.padding, SIZE: WriteIn.SIZE,
  },
  fuse_write_out: { size: WriteOut.size, padding: WriteOut.padding, SIZE: WriteOut.SIZE },
  fuse_kstatfs: {
    blocks: StatfsOut.blocks, bfree: StatfsOut.bfree, bavail: StatfsOut.bavail, files: StatfsOut.files,
    ffree: StatfsOut.ffree, bsize: StatfsOut.bsize, namelen: StatfsOut.namelen, frsize: StatfsOut.frsize,
    padding: StatfsOut.padding, spare: StatfsOut.spare, SIZE: StatfsOut.SIZE,
  },
  fuse_fsync_in: { fh: FsyncIn.fh, fsync_flags: FsyncIn.fsync_flags, padding: FsyncIn.padding, SIZE: FsyncIn.SIZE },
  fuse_setxattr_in: {
    size: SetxattrIn.size, flags: SetxattrIn.flags, setxattr_flags: SetxattrIn.setxattr_flags,
    padding: SetxattrIn.padding, SIZE: SetxattrIn.SIZE,
  },
  fuse_getxattr_in: { size: GetxattrIn.size, padding: GetxattrIn.padding, SIZE: GetxattrIn.SIZE },
  fuse_getxattr_out: { size: GetxattrOut.size, padding: GetxattrOut.padding, SIZE: GetxattrOut.SIZE },
  fuse_init_in: {
    major: InitIn.major, minor: InitIn.minor, max_readahead: InitIn.max_readahead, flags: InitIn.flags,
    flags2: InitIn.flags2, unused: InitIn.unused, SIZE: InitIn.SIZE,
  },
  fuse_init_out: {
    major: InitOut.major, minor: InitOut.minor, max_readahead: InitOut.max_readahead, flags: InitOut.flags,
    max_background: InitOut.max_background, congestion_threshold: InitOut.congestion_threshold,
    max_write: InitOut.max_write, time_gran: InitOut.time_gran, max_pages: InitOut.max_pages,
    map_alignment: InitOut.map_alignment, flags2: InitOut.flags2, max_stack_depth: InitOut.max_stack_depth,
    unused: InitOut.unused, SIZE: InitOut.SIZE,
  },
  fuse_fallocate_in: {
    fh: FallocateIn.fh, offset: FallocateIn.offset, length: FallocateIn.length, mode: FallocateIn.mode,
    padding: FallocateIn.padding, SIZE: FallocateIn.SIZE,
  },
  fuse_ioctl_in: {
    fh: IoctlIn.fh, flags: IoctlIn.flags, cmd: IoctlIn.cmd, arg: IoctlIn.arg, in_size: IoctlIn.in_size,
    out_size: IoctlIn.out_size, SIZE: IoctlIn.SIZE,
  },
  fuse_ioctl_out: {
    result: IoctlOut.result, flags: IoctlOut.flags, in_iovs: IoctlOut.in_iovs, out_iovs: IoctlOut.out_iovs, SIZE: IoctlOut.SIZE,
  },
  fuse_lseek_in: { fh: LseekIn.fh, offset: LseekIn.offset, whence: LseekIn.whence, padding: LseekIn.padding, SIZE: LseekIn.SIZE },
  fuse_lseek_out: { offset: LseekOut.offset, SIZE: LseekOut.SIZE },
  fuse_copy_file_range_in: {
    fh_in: CopyFileRangeIn.fh_in, off_in: CopyFileRangeIn.off_in, nodeid_out: CopyFileRangeIn.nodeid_out,
    fh_out: CopyFileRangeIn.fh_out, off_out: CopyFileRangeIn.off_out, len: CopyFileRangeIn.len,
    flags: CopyFileRangeIn.flags, SIZE: CopyFileRangeIn.SIZE,
  },
  fuse_dirent: { ino: Dirent.ino, off: Dirent.off, namelen: Dirent.namelen, type: Dirent.type, SIZE: Dirent.SIZE },
  fuse_direntplus: { entry_out: DirentPlus.entry_out, dirent: DirentPlus.dirent, SIZE: DirentPlus.SIZE },
  fuse_notify_inval_inode_out: {
    ino: NotifyInvalInodeOut.ino, off: NotifyInvalInodeOut.off, len: NotifyInvalInodeOut.len, SIZE: NotifyInvalInodeOut.SIZE,
  },
};

test('layouts: every struct of fuse.h the session speaks is in protocol.ts', (t) => {
  t.deepEqual(Object.keys(OURS).sort(), Object.keys(STRUCTS).sort());
});

for (const struct of Object.keys(STRUCTS)) {
  test(`layouts: ${struct} has fuse.h's field offsets and size in protocol.ts`, (t) => {
    const l = layout(struct);
    const ours = OURS[struct]!;
    t.deepEqual(Object.keys(ours).filter((k) => k !== 'SIZE'), l.fields.map((f) => f.name), 'the same fields, in order');
    for (const f of l.fields) t.is(ours[f.name], f.offset, `${struct}.${f.name}`);
    t.is(ours.SIZE, l.size, `sizeof(struct ${struct})`);
  });
}

// Renamed between the machine's header and 7.40 (the same bytes, a new name).
const RENAMED_IN_7_40: Record<string, [minor: number, old: string]> = {
  'fuse_open_out.backing_id': [40, 'padding'],
  'fuse_init_out.max_stack_depth': [40, 'unused'],
  'fuse_init_out.unused': [40, 'unused[1]'],
};

test("layouts: fuse-structs.ts agrees with this machine's <linux/fuse.h> (offsetof and sizeof by the C compiler)", (t) => {
  // The independent check of the transcription the other layout tests rely on.
  const lines: string[] = ['#include <stddef.h>', '#include <stdio.h>', '#include <linux/fuse.h>', 'int main(void) {'];
  const expected: string[] = [];
  for (const struct of Object.keys(STRUCTS)) {
    const l = layout(struct);
    lines.push(`  printf("sizeof ${struct} %zu\\n", sizeof(struct ${struct}));`);
    expected.push(`sizeof ${struct} ${l.size}`);
    for (const f of l.fields) {
      const key = `${struct}.${f.name}`;
      const renamed = RENAMED_IN_7_40[key];
      const off = (name: string): string => `  printf("${key} %zu\\n", offsetof(struct ${struct}, ${name}));`;
      if (renamed) {
        lines.push(`#if FUSE_KERNEL_MINOR_VERSION >= ${renamed[0]}`, off(f.name), '#else', off(renamed[1]), '#endif');
      } else {
        lines.push(off(f.name));
      }
      expected.push(`${key} ${f.offset}`);
    }
  }
  lines.push('  return 0;', '}');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fuse-h-'));
  try {
    fs.writeFileSync(path.join(dir, 'layout.c'), lines.join('\n'));
    const cc = spawnSync('cc', ['-o', path.join(dir, 'layout'), path.join(dir, 'layout.c')], { encoding: 'utf8' });
    t.is(cc.status, 0, `cc: ${cc.stderr}`);
    const run = spawnSync(path.join(dir, 'layout'), { encoding: 'utf8' });
    t.deepEqual(run.stdout.trim().split('\n'), expected);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('opcodes: the table gives each of fuse.h opcodes its name at its number, and nothing else a name', (t) => {
  for (const [name, op] of Object.entries(OPCODES)) t.is(OPS[op]?.name, name, `opcode ${op}`);
  const named = new Set(Object.values(OPCODES));
  for (let op = 0; op < OPS.length; op++) if (!named.has(op)) t.is(OPS[op]!.name, `OPCODE_${op}`);
  t.is(UNKNOWN_OP.name, 'UNKNOWN');
});

// ---- encoders ----

test('dirents: each record is 24 header bytes and the name, zero-padded to a multiple of 8', (t) => {
  for (const len of [1, 2, 7, 8, 9, 255]) {
    const name = Buffer.alloc(len, 0x61);
    const out = Buffer.alloc(512, 0xee);
    const end = encodeDirent(out, 8, name, 0x1_0000_0009, 8, 77);
    t.is(end, 8 + Math.ceil((24 + len) / 8) * 8, `end for a ${len}-byte name`);
    t.is(end - 8, direntSize(len, false));
    t.is(direntSize(len, true), 128 + direntSize(len, false), 'a direntplus is an entry_out more');
    t.deepEqual(unpack('fuse_dirent', out, 8), { ino: 0x1_0000_0009, off: 77, namelen: len, type: 8 });
    t.deepEqual(out.subarray(8 + 24, 8 + 24 + len), name);
    t.true(out.subarray(8 + 24 + len, end).every((x) => x === 0), 'padding is zeros');
    t.is(out[end], 0xee, 'nothing written past the record');
    t.is(out[7], 0xee, 'nothing written before it');
  }
});

// ---- the dispatch ----

const ROOT: Caller = { uid: 1000, gid: 1001, pid: 4242 };

function attrOf(a: ReturnType<typeof sampleAttr>): Decoded {
  return {
    ino: a.ino, size: a.size, blocks: a.blocks, atime: a.atime, mtime: a.mtime, ctime: a.ctime, atimensec: a.atimeNs,
    mtimensec: a.mtimeNs, ctimensec: a.ctimeNs, mode: a.mode, nlink: a.nlink, uid: a.uid, gid: a.gid, rdev: a.rdev,
    blksize: 4096, flags: 0,
  };
}

function ok(t: ExecutionContext, r: Reply, payloadLen: number): void {
  t.is(r.header.error, 0, 'no error');
  t.is(r.header.len, 16 + payloadLen, 'len counts the header and the payload');
  t.is(r.payload.length, payloadLen);
}

test('replies: the out header echoes the request unique and counts its own 16 bytes; errors are -errno with no payload', (t) => {
  const h = harness({ unlink: () => {}, rmdir: () => { throw errnoError('ENOTEMPTY'); } });
  const r = h.one(request('UNLINK', [cname('a')], { unique: 0x7_0000_0008 }));
  t.deepEqual(r.header, { len: 16, error: 0, unique: 0x7_0000_0008 });
  const e = h.one(request('RMDIR', [cname('d')], { unique: 99 }));
  t.deepEqual(e.header, { len: 16, error: -E.ENOTEMPTY, unique: 99 });
});

test('requests: the caller is the header uid/gid/pid, the node its nodeid; extensions (total_extlen) are not part of the body', (t) => {
  const h = harness({ lookup: () => sampleEntry() });
  // a name without its NUL runs to the end of the body: the extension must not be in it
  h.one(request('LOOKUP', [Buffer.from('abc')], { nodeid: 0x1_0000_0001, uid: 7, gid: 8, pid: 9, ext: Buffer.alloc(16, 0x78) }));
  t.deepEqual(h.calls[0], { op: 'lookup', args: [{ uid: 7, gid: 8, pid: 9 }, 0x1_0000_0001, Buffer.from('abc')] });
});

test('LOOKUP: the name ends at its NUL; the reply is a fuse_entry_out with both timeouts split into seconds and ns', (t) => {
  const e = sampleEntry();
  const h = harness({ lookup: () => e });
  const r = h.one(request('LOOKUP', [cname('name'), Buffer.from('junk')], { nodeid: 5 }));
  ok(t, r, 128);
  t.deepEqual(h.calls[0]!.args, [ROOT, 5, Buffer.from('name')]);
  t.deepEqual(unpack('fuse_entry_out', r.payload), {
    nodeid: e.nodeid, generation: 0, entry_valid: 86400, attr_valid: 1, entry_valid_nsec: 250_000_000,
    attr_valid_nsec: 500_000_000, attr: attrOf(e.attr),
  });
});

test('LOOKUP of a missing name: a negative entry (nodeid 0) cached for negative_timeout; ENOENT itself when that is 0', (t) => {
  const h = harness({ lookup: () => { throw errnoError('ENOENT'); } });
  const r = h.one(request('LOOKUP', [cname('x')]));
  ok(t, r, 128);
  const neg = unpack('fuse_entry_out', r.payload);
  t.is(neg.nodeid, 0);
  t.is(neg.entry_valid, 2);
  t.is(neg.entry_valid_nsec, 125_000_000);
  t.true(r.payload.subarray(offsetOf('fuse_entry_out', 'attr')).every((x) => x === 0), 'no attributes');
  const h0 = harness({ lookup: () => { throw errnoError('ENOENT'); } }, { negativeTimeout: 0 });
  t.is(h0.one(request('LOOKUP', [cname('x')])).header.error, -E.ENOENT);
  const hx = harness({ lookup: () => { throw errnoError('EACCES'); } });
  t.is(hx.one(request('LOOKUP', [cname('x')])).header.error, -E.EACCES, 'other errors stay errors');
});

test('GETATTR: fh only with FUSE_GETATTR_FH; the reply is a fuse_attr_out', (t) => {
  const a = sampleAttr();
  const h = harness({ getattr: () => a });
  const r = h.one(request('GETATTR', [pack('fuse_getattr_in', { getattr_flags: 0, fh: 33 })], { nodeid: 9 }));
  ok(t, r, 104);
  t.deepEqual(unpack('fuse_attr_out', r.payload), { attr_valid: 1, attr_valid_nsec: 500_000_000, dummy: 0, attr: attrOf(a) });
  h.one(request('GETATTR', [pack('fuse_getattr_in', { getattr_flags: 1, fh: 0x1_0000_0021 })], { nodeid: 9 }));
  t.deepEqual(h.calls.map((c) => c.args), [[ROOT, 9, undefined], [ROOT, 9, 0x1_0000_0021]]);
});

test('SETATTR: each FATTR_* bit brings its field of fuse_setattr_in, and no other field is read', (t) => {
  const sets: [SetAttr, number | undefined][] = [];
  const h = harness({ setattr: (_c, _n, set, fh) => { sets.push([set, fh]); return sampleAttr(); } });
  const all = {
    fh: 0x1_0000_0044, size: 0x2_0000_0001, atime: 1_600_000_000, atimensec: 5, mtimensec: 6,
    mode: 0o104755, uid: 2000, gid: 3000, ctime: 77, ctimensec: 78, lock_owner: 79,
    mtime: BigInt.asUintN(64, -86400n), // before 1970: the u64 holds a negative time
  };
  // MODE UID GID SIZE ATIME MTIME FH
  const r = h.one(request('SETATTR', [pack('fuse_setattr_in', { valid: 1 | 2 | 4 | 8 | 16 | 32 | 64, ...all })]));
  ok(t, r, 104);
  t.deepEqual(sets[0], [{ mode: 0o104755, uid: 2000, gid: 3000, size: 0x2_0000_0001, atime: [1_600_000_000, 5], mtime: [-86400, 6] }, 0x1_0000_0044]);
  h.one(request('SETATTR', [pack('fuse_setattr_in', { valid: 16 | 32 | 128 | 256, ...all })])); // *_NOW
  t.deepEqual(sets[1], [{ atime: [0, UTIME_NOW], mtime: [0, UTIME_NOW] }, undefined]);
  h.one(request('SETATTR', [pack('fuse_setattr_in', { valid: 1, ...all })]));
  t.deepEqual(sets[2], [{ mode: 0o104755 }, undefined]);
});

test('MKNOD, MKDIR: mode, rdev and umask from their structs, the name after them; replies are fuse_entry_out', (t) => {
  const e = sampleEntry(12);
  const h = harness({ mknod: () => e, mkdir: () => e });
  const r1 = h.one(request('MKNOD', [pack('fuse_mknod_in', { mode: 0o20644, rdev: 0x0103, umask: 0o022 }), cname('dev')], { nodeid: 3 }));
  const r2 = h.one(request('MKDIR', [pack('fuse_mkdir_in', { mode: 0o40755, umask: 0o027 }), cname('dir')], { nodeid: 3 }));
  ok(t, r1, 128);
  ok(t, r2, 128);
  t.is(unpack('fuse_entry_out', r2.payload).nodeid, 12);
  t.deepEqual(h.calls.map((c) => [c.op, ...c.args]), [
    ['mknod', ROOT, 3, Buffer.from('dev'), 0o20644, 0x0103, 0o022],
    ['mkdir', ROOT, 3, Buffer.from('dir'), 0o40755, 0o027],
  ]);
});

test('SYMLINK: the name, then the target; LINK: the inode from fuse_link_in, the new parent from the header', (t) => {
  const h = harness({ symlink: () => sampleEntry(20), link: () => sampleEntry(21) });
  ok(t, h.one(request('SYMLINK', [cname('ln'), cname('../some/target')], { nodeid: 4 })), 128);
  const r = h.one(request('LINK', [pack('fuse_link_in', { oldnodeid: 0x1_0000_0017 }), cname('hard')], { nodeid: 6 }));
  t.is(unpack('fuse_entry_out', r.payload).nodeid, 21);
  t.deepEqual(h.calls.map((c) => [c.op, ...c.args]), [
    ['symlink', ROOT, 4, Buffer.from('ln'), Buffer.from('../some/target')],
    ['link', ROOT, 0x1_0000_0017, 6, Buffer.from('hard')],
  ]);
});

test('RENAME: newdir, then the two names (flags 0); RENAME2: the same with flags from fuse_rename2_in, names after 16 bytes', (t) => {
  const h = harness({ rename: () => {} });
  ok(t, h.one(request('RENAME', [pack('fuse_rename_in', { newdir: 0x1_0000_0003 }), cname('from'), cname('to')], { nodeid: 2 })), 0);
  ok(t, h.one(request('RENAME2', [pack('fuse_rename2_in', { newdir: 8, flags: 2 }), cname('a'), cname('bb')], { nodeid: 2 })), 0);
  t.deepEqual(h.calls.map((c) => c.args), [
    [ROOT, 2, Buffer.from('from'), 0x1_0000_0003, Buffer.from('to'), 0],
    [ROOT, 2, Buffer.from('a'), 8, Buffer.from('bb'), 2], // RENAME_EXCHANGE
  ]);
});

test('OPEN: a fuse_open_out with the handle; keepCache is FOPEN_KEEP_CACHE; a real fd goes to the native read shortcut until RELEASE', (t) => {
  const h = harness({ open: (_c, n) => (n === 5 ? { fh: 0x1_0000_0050, fd: 17, keepCache: true } : { fh: 51 }), release: () => {} });
  const r = h.one(request('OPEN', [pack('fuse_open_in', { flags: 0o100002 })], { nodeid: 5 }));
  ok(t, r, 16);
  t.deepEqual(unpack('fuse_open_out', r.payload), { fh: 0x1_0000_0050, open_flags: 2, backing_id: -1 });
  t.deepEqual(h.calls[0]!.args, [ROOT, 5, 0o100002]);
  t.deepEqual([...h.dev.servedReads], [[0x1_0000_0050, 17]]);
  t.deepEqual(unpack('fuse_open_out', h.one(request('OPEN', [pack('fuse_open_in', { flags: 0 })], { nodeid: 6 })).payload),
    { fh: 51, open_flags: 0, backing_id: -1 }, 'no fd: no shortcut, no flags');
  ok(t, h.one(request('RELEASE', [pack('fuse_release_in', { fh: 0x1_0000_0050, flags: 2 })], { nodeid: 5 })), 0);
  t.deepEqual(h.calls[2], { op: 'release', args: [0x1_0000_0050] });
  t.is(h.dev.servedReads.size, 0, 'RELEASE ends the shortcut');
});

test('CREATE: flags, mode, umask from fuse_create_in and the name after it; the reply is a fuse_entry_out then a fuse_open_out', (t) => {
  const e = sampleEntry(30);
  const h = harness({ create: () => ({ entry: e, opened: { fh: 31 } }) });
  const r = h.one(request('CREATE', [pack('fuse_create_in', { flags: 0o101101, mode: 0o100600, umask: 0o077 }), cname('new')], { nodeid: 2 }));
  ok(t, r, 128 + 16);
  t.deepEqual(h.calls[0]!.args, [ROOT, 2, Buffer.from('new'), 0o100600, 0o101101, 0o077]);
  t.is(unpack('fuse_entry_out', r.payload).nodeid, 30);
  t.deepEqual(unpack('fuse_open_out', r.payload, 128), { fh: 31, open_flags: 0, backing_id: -1 });
});

test('TMPFILE: laid out and answered as CREATE (the name the kernel makes up is not passed on)', (t) => {
  const e = sampleEntry(40);
  const h = harness({ tmpfile: () => ({ entry: e, opened: { fh: 41 } }) });
  const r = h.one(request('TMPFILE', [pack('fuse_create_in', { flags: 0o20200002, mode: 0o100640, umask: 0o022 }), cname('/')], { nodeid: 3 }));
  ok(t, r, 128 + 16);
  t.deepEqual(h.calls[0]!.args, [ROOT, 3, 0o100640, 0o20200002, 0o022]);
  t.is(unpack('fuse_entry_out', r.payload).nodeid, 40);
  t.deepEqual(unpack('fuse_open_out', r.payload, 128), { fh: 41, open_flags: 0, backing_id: -1 });
});

test('IOCTL: fh, cmd, the input after fuse_ioctl_in and out_size; the reply is a fuse_ioctl_out then the output', (t) => {
  const h = harness({ ioctl: () => Buffer.from([0x10, 0, 8, 0]) });
  const r = h.one(request('IOCTL', [pack('fuse_ioctl_in', { fh: 0x1_0000_0007, cmd: 0x40086602, in_size: 4, out_size: 4 }), Buffer.from([1, 2, 3, 4])], { nodeid: 6 }));
  ok(t, r, 16 + 4);
  t.deepEqual(h.calls[0]!.args, [ROOT, 6, 0x1_0000_0007, 0x40086602, Buffer.from([1, 2, 3, 4]), 4]);
  t.deepEqual(unpack('fuse_ioctl_out', r.payload), { result: 0, flags: 0, in_iovs: 0, out_iovs: 0 });
  t.deepEqual(r.payload.subarray(16), Buffer.from([0x10, 0, 8, 0]));
  const refused = harness({ ioctl: () => { throw errnoError('ENOTTY'); } });
  t.is(refused.one(request('IOCTL', [pack('fuse_ioctl_in', { cmd: 0x80045aff, out_size: 4 })])).header.error, -E.ENOTTY);
});

test('passthrough: an open with a backing file gets FOPEN_PASSTHROUGH and one backing id per inode, closed with its last handle', (t) => {
  let fh = 100;
  const h = harness({ open: () => ({ fh: fh++, fd: 40, backingKey: 9 }), release: () => {} });
  // INIT offering passthrough (root only: this test runs as root, as the suite does)
  h.one(request('INIT', [pack('fuse_init_in', { major: 7, minor: 45, flags: 1 << 30, flags2: 1 << 5 })]));
  t.true(h.session.passthroughOn);
  const o1 = unpack('fuse_open_out', h.one(request('OPEN', [pack('fuse_open_in', {})], { nodeid: 5 })).payload);
  const o2 = unpack('fuse_open_out', h.one(request('OPEN', [pack('fuse_open_in', {})], { nodeid: 5 })).payload);
  t.deepEqual(o1, { fh: 100, open_flags: 128, backing_id: 7 });
  t.deepEqual(o2, { fh: 101, open_flags: 128, backing_id: 7 }, 'the same id for the same inode');
  t.deepEqual(h.dev.backingOpened, [40]);
  t.is(h.dev.servedReads.size, 0, 'the kernel reads a passthrough file itself');
  h.one(request('RELEASE', [pack('fuse_release_in', { fh: 100 })], { nodeid: 5 }));
  t.deepEqual(h.dev.backingClosed, [], 'a handle is still open');
  h.one(request('RELEASE', [pack('fuse_release_in', { fh: 101 })], { nodeid: 5 }));
  t.deepEqual(h.dev.backingClosed, [7]);
});

test('passthrough: an open of an inode bound to another backing file is ESTALE, the node renewed and the new handle released', (t) => {
  let fh = 100;
  let key = 9;
  const h = harness({ open: () => ({ fh: fh++, fd: 40 + key, backingKey: key }), release: () => {}, renewNode: () => {} });
  h.one(request('INIT', [pack('fuse_init_in', { major: 7, minor: 45, flags: 1 << 30, flags2: 1 << 5 })]));
  const o1 = unpack('fuse_open_out', h.one(request('OPEN', [pack('fuse_open_in', {})], { nodeid: 5 })).payload);
  t.deepEqual(o1, { fh: 100, open_flags: 128, backing_id: 7 });
  key = 10; // the node's real file is another one now (a copy-up)
  const r = h.one(request('OPEN', [pack('fuse_open_in', {})], { nodeid: 5 }));
  t.is(r.header.error, -E.ESTALE);
  t.deepEqual(h.calls.filter((c) => c.op === 'release' || c.op === 'renewNode').map((c) => [c.op, ...c.args]), [['release', 101], ['renewNode', 5]]);
  t.deepEqual(h.dev.backingOpened, [49], 'no backing file opened for the refused handle');
  t.is(h.dev.servedReads.size, 0, 'nor is it served in cached mode');
  h.one(request('RELEASE', [pack('fuse_release_in', { fh: 100 })], { nodeid: 5 }));
  t.deepEqual(h.dev.backingClosed, [7]);
});

test('READ: fh, offset and size from fuse_read_in; the data is the whole payload', (t) => {
  const h = harness({ read: (_fh, _off, size) => Buffer.alloc(Math.min(size, 5), 0x41) });
  const r = h.one(request('READ', [pack('fuse_read_in', { fh: 0x1_0000_0060, offset: 0x1_0000_1000, size: 4096, flags: 2 })]));
  ok(t, r, 5);
  t.deepEqual(r.payload, Buffer.from('AAAAA'));
  t.deepEqual(h.calls[0]!.args, [0x1_0000_0060, 0x1_0000_1000, 4096]);
});

test('WRITE: the data is size bytes after the 40-byte fuse_write_in; the reply is a fuse_write_out', (t) => {
  const h = harness({ write: (_fh, _off, data) => data.length - 1 });
  const r = h.one(request('WRITE', [pack('fuse_write_in', { fh: 61, offset: 0x1_0000_0000, size: 6 }), Buffer.from('abcdefXX')]));
  ok(t, r, 8);
  t.deepEqual(unpack('fuse_write_out', r.payload), { size: 5, padding: 0 });
  t.deepEqual(h.calls[0]!.args, [61, 0x1_0000_0000, Buffer.from('abcdef')]);
});

function readdirFs(entries: DirEntry[]) {
  return {
    getattr: () => sampleAttr({ ino: 0x1_0000_0001, mode: 0o40755 }),
    readdir: () => entries, // the whole listing, as FileSystem.readdir returns it
    lookup: (_c: Caller, _p: number, name: Buffer) => {
      if (name.toString() === 'gone') throw errnoError('ENOENT');
      return sampleEntry(0x100 + name.length, { ino: 0x900 + name.length });
    },
  };
}

function dirents(b: Buffer, plus: boolean): { entry?: Decoded; d: Decoded; name: string }[] {
  const out = [];
  let pos = 0;
  while (pos < b.length) {
    const entry = plus ? unpack('fuse_entry_out', b, pos) : undefined;
    const at = pos + (plus ? 128 : 0);
    const d = unpack('fuse_dirent', b, at);
    const namelen = d.namelen as number;
    out.push({ entry, d, name: b.subarray(at + 24, at + 24 + namelen).toString() });
    pos = at + Math.ceil((24 + namelen) / 8) * 8;
  }
  return out;
}

const LISTING: DirEntry[] = [
  { name: Buffer.from('a'), ino: 0x1_0000_0011, type: 8 },
  { name: Buffer.from('longer-name'), ino: 12, type: 4 },
  { name: Buffer.from('gone'), ino: 13, type: 10 },
];

test('READDIR: . and .. first, then the listing; each fuse_dirent carries the next offset; a full buffer ends the reply there', (t) => {
  const h = harness(readdirFs(LISTING));
  const r = h.one(request('READDIR', [pack('fuse_read_in', { fh: 0, offset: 0, size: 4096 })], { nodeid: 3 }));
  const ds = dirents(r.payload, false);
  t.deepEqual(ds.map((x) => [x.name, x.d.ino, x.d.off, x.d.type]), [
    ['.', 0x1_0000_0001, 1, 4], ['..', 0x1_0000_0001, 2, 4], ['a', 0x1_0000_0011, 3, 8], ['longer-name', 12, 4, 4],
    ['gone', 13, 5, 10],
  ]);
  // resume after "a" with room for the 40-byte record of "longer-name" but not the 32 of "gone"
  const r2 = h.one(request('READDIR', [pack('fuse_read_in', { fh: 0, offset: 3, size: 40 + 31 })], { nodeid: 3 }));
  t.deepEqual(dirents(r2.payload, false).map((x) => [x.name, x.d.off]), [['longer-name', 4]]);
  t.is(r2.payload.length, 40);
  t.deepEqual(h.calls.filter((c) => c.op === 'readdir').map((c) => c.args), [[3, 0, 0], [3, 0, 1]], 'listing offsets exclude . and ..');
  const tiny = h.one(request('READDIR', [pack('fuse_read_in', { fh: 0, offset: 0, size: 32 + 31 })], { nodeid: 3 }));
  t.deepEqual(dirents(tiny.payload, false).map((x) => x.name), ['.'], 'only what fits');
  ok(t, h.one(request('READDIR', [pack('fuse_read_in', { fh: 0, offset: 0, size: 31 })], { nodeid: 3 })), 0);
});

test('READDIRPLUS: each record is a fuse_entry_out then a fuse_dirent; . and .. and a vanished name get a zero entry_out', (t) => {
  const h = harness(readdirFs(LISTING));
  const r = h.one(request('READDIRPLUS', [pack('fuse_read_in', { fh: 0, offset: 0, size: 4096 })], { nodeid: 3 }));
  const ds = dirents(r.payload, true);
  t.deepEqual(ds.map((x) => [x.name, x.entry!.nodeid, x.d.ino, x.d.off]), [
    ['.', 0, 0x1_0000_0001, 1], ['..', 0, 0x1_0000_0001, 2],
    ['a', 0x101, 0x901, 3], ['longer-name', 0x10b, 0x90b, 4], // the looked-up inode's number
    ['gone', 0, 13, 5], // the listing's
  ]);
  t.deepEqual(ds[2]!.entry, {
    nodeid: 0x101, generation: 0, entry_valid: 86400, attr_valid: 1, entry_valid_nsec: 250_000_000,
    attr_valid_nsec: 500_000_000, attr: attrOf(sampleAttr({ ino: 0x901 })),
  });
  const zero = unpack('fuse_entry_out', Buffer.alloc(128));
  for (const i of [0, 1, 4]) t.deepEqual(ds[i]!.entry, zero, ds[i]!.name);
  t.deepEqual(h.calls.filter((c) => c.op === 'lookup').map((c) => c.args[2]), [Buffer.from('a'), Buffer.from('longer-name'), Buffer.from('gone')]);
});

test('OPENDIR: ENOSYS when the kernel may cache directories; else a fuse_open_out with the handle; RELEASEDIR passes it back', (t) => {
  const cached = harness({ opendir: () => 5 });
  t.is(cached.one(request('OPENDIR', [pack('fuse_open_in', {})])).header.error, -E.ENOSYS);
  t.is(cached.calls.length, 0);
  const h = harness({ opendir: () => 0x1_0000_0005, releasedir: () => {} }, { cacheDirs: false });
  const r = h.one(request('OPENDIR', [pack('fuse_open_in', { flags: 0o200000 })], { nodeid: 4 }));
  t.deepEqual(unpack('fuse_open_out', r.payload), { fh: 0x1_0000_0005, open_flags: 0, backing_id: 0 });
  ok(t, h.one(request('RELEASEDIR', [pack('fuse_release_in', { fh: 0x1_0000_0005 })])), 0);
  t.deepEqual(h.calls.map((c) => [c.op, ...c.args]), [['opendir', ROOT, 4], ['releasedir', 0x1_0000_0005]]);
});

test('SETXATTR: size and flags from the 8-byte compat fuse_setxattr_in, then the name, then size bytes of value', (t) => {
  const h = harness({ setxattr: () => {} });
  const body = Buffer.concat([pack('fuse_setxattr_in', { size: 3, flags: 1 }).subarray(0, 8), cname('user.k'), Buffer.from('v\0wZZ')]);
  ok(t, h.one(request('SETXATTR', [body], { nodeid: 7 })), 0);
  t.deepEqual(h.calls[0]!.args, [ROOT, 7, Buffer.from('user.k'), Buffer.from('v\0w'), 1]);
});

test('GETXATTR/LISTXATTR: size 0 gets a fuse_getxattr_out with the size needed; a smaller buffer ERANGE; else the bytes', (t) => {
  const h = harness({ getxattr: () => Buffer.from('value'), listxattr: () => Buffer.from('user.a\0user.b\0') });
  const need = h.one(request('GETXATTR', [pack('fuse_getxattr_in', { size: 0 }), cname('user.a')]));
  ok(t, need, 8);
  t.deepEqual(unpack('fuse_getxattr_out', need.payload), { size: 5, padding: 0 });
  t.is(h.one(request('GETXATTR', [pack('fuse_getxattr_in', { size: 4 }), cname('user.a')])).header.error, -E.ERANGE);
  t.deepEqual(h.one(request('GETXATTR', [pack('fuse_getxattr_in', { size: 5 }), cname('user.a')])).payload, Buffer.from('value'));
  t.deepEqual(h.calls[0]!.args[2], Buffer.from('user.a'), 'the name after fuse_getxattr_in');
  t.deepEqual(unpack('fuse_getxattr_out', h.one(request('LISTXATTR', [pack('fuse_getxattr_in', { size: 0 })])).payload).size, 14);
  t.is(h.one(request('LISTXATTR', [pack('fuse_getxattr_in', { size: 13 })])).header.error, -E.ERANGE);
  t.deepEqual(h.one(request('LISTXATTR', [pack('fuse_getxattr_in', { size: 100 })])).payload, Buffer.from('user.a\0user.b\0'));
});

test('xattr-free inodes: ENODATA or an empty list hands the inode to the native shortcut only when the filesystem agrees', (t) => {
  const free = new Set([8]);
  const h = harness({
    getxattr: () => { throw errnoError('ENODATA'); },
    listxattr: () => Buffer.alloc(0),
    xattrFree: (n) => free.has(n),
  });
  t.is(h.one(request('GETXATTR', [pack('fuse_getxattr_in', { size: 0 }), cname('security.capability')], { nodeid: 8 })).header.error, -E.ENODATA);
  t.is(h.one(request('GETXATTR', [pack('fuse_getxattr_in', { size: 0 }), cname('security.capability')], { nodeid: 9 })).header.error, -E.ENODATA);
  ok(t, h.one(request('LISTXATTR', [pack('fuse_getxattr_in', { size: 0 })], { nodeid: 8 })), 8);
  t.deepEqual(h.dev.xattrFree, [8, 8], 'node 9 still has xattrs the caller could not see');
});

test('FORGET, BATCH_FORGET and INTERRUPT get no reply; BATCH_FORGET forgets each fuse_forget_one', (t) => {
  const h = harness({ forget: () => {} });
  t.deepEqual(h.send(request('FORGET', [pack('fuse_forget_in', { nlookup: 0x1_0000_0002 })], { nodeid: 0x1_0000_0010 })), []);
  const batch = [pack('fuse_batch_forget_in', { count: 2 }), pack('fuse_forget_one', { nodeid: 21, nlookup: 1 }), pack('fuse_forget_one', { nodeid: 0x1_0000_0016, nlookup: 7 })];
  t.deepEqual(h.send(request('BATCH_FORGET', batch)), []);
  t.deepEqual(h.send(request('INTERRUPT', [Buffer.alloc(8)])), []);
  t.deepEqual(h.calls.map((c) => c.args), [[0x1_0000_0010, 0x1_0000_0002], [21, 1], [0x1_0000_0016, 7]]);
});

test('STATFS: the reply is a fuse_kstatfs', (t) => {
  const s = { blocks: 0x1_0000_0001, bfree: 2, bavail: 3, files: 0x4_0000_0000, ffree: 5, bsize: 4096, namelen: 255, frsize: 512 };
  const h = harness({ statfs: () => s });
  const r = h.one(request('STATFS', [], { nodeid: 1 }));
  ok(t, r, 80);
  t.deepEqual(unpack('fuse_kstatfs', r.payload), { ...s, padding: 0 });
  t.true(r.payload.subarray(56).every((x) => x === 0), 'spare is zero');
});

test('FSYNC, FALLOCATE, LSEEK, COPY_FILE_RANGE: their arguments from their structs; LSEEK answers a fuse_lseek_out, COPY_FILE_RANGE a fuse_write_out', (t) => {
  const h = harness({ fsync: () => {}, fallocate: () => {}, lseek: () => 0x1_0000_2000, copyFileRange: () => 4096 });
  ok(t, h.one(request('FSYNC', [pack('fuse_fsync_in', { fh: 70, fsync_flags: 1 })])), 0);
  ok(t, h.one(request('FSYNC', [pack('fuse_fsync_in', { fh: 70, fsync_flags: 0 })])), 0);
  ok(t, h.one(request('FALLOCATE', [pack('fuse_fallocate_in', { fh: 71, offset: 0x1_0000_0000, length: 8192, mode: 3 })])), 0);
  const l = h.one(request('LSEEK', [pack('fuse_lseek_in', { fh: 72, offset: 10, whence: 3 })]));
  t.deepEqual(unpack('fuse_lseek_out', l.payload), { offset: 0x1_0000_2000 });
  const c = h.one(request('COPY_FILE_RANGE', [pack('fuse_copy_file_range_in', { fh_in: 73, off_in: 1, nodeid_out: 99, fh_out: 74, off_out: 0x1_0000_0000, len: 4096 })]));
  t.deepEqual(unpack('fuse_write_out', c.payload), { size: 4096, padding: 0 });
  t.deepEqual(h.calls.map((x) => [x.op, ...x.args]), [
    ['fsync', 70, true], ['fsync', 70, false], ['fallocate', 71, 3, 0x1_0000_0000, 8192], ['lseek', 72, 10, 3],
    ['copyFileRange', 73, 1, 74, 0x1_0000_0000, 4096],
  ]);
});

test('INIT: 7.min(kernel, 40); flags are what strata wants of what the kernel offers; 1 MiB writes, ns times, max_pages to match', (t) => {
  const h = harness({}, { passthrough: false });
  const lo = 0xffffffff; // the kernel offers everything
  const r = h.one(request('INIT', [pack('fuse_init_in', { major: 7, minor: 45, max_readahead: 131072, flags: lo, flags2: lo })]));
  ok(t, r, 64);
  const o = unpack('fuse_init_out', r.payload);
  const want = [0, 3, 5, 6, 13, 15, 18, 20, 22, 23, 30].reduce((m, bit) => m + 2 ** bit, 0);
  t.deepEqual(o, {
    major: 7, minor: 40, max_readahead: 131072, flags: want, max_background: 64, congestion_threshold: 48,
    max_write: 1 << 20, time_gran: 1, max_pages: 256, map_alignment: 0, flags2: 0, max_stack_depth: 0,
  });
  const old = harness().one(request('INIT', [pack('fuse_init_in', { major: 7, minor: 31, flags: 1 << 13 })]));
  t.deepEqual([unpack('fuse_init_out', old.payload).minor, unpack('fuse_init_out', old.payload).flags], [31, 1 << 13], 'only flags offered');
  const hi = harness().one(request('INIT', [pack('fuse_init_in', { major: 7, minor: 40, flags: 0, flags2: 1 << 5 })]));
  t.is(unpack('fuse_init_out', hi.payload).flags2, 0, 'flags2 counts only with FUSE_INIT_EXT');
  const bad = harness();
  t.is(bad.one(request('INIT', [pack('fuse_init_in', { major: 8, minor: 0 })])).header.error, -E.EPROTO);
  t.regex(bad.log.join('\n'), /kernel speaks FUSE 8\.0, need 7\.x/);
});

test('errors: an error .code is its errno; an errno-only system error (EDQUOT) its number; anything else EIO and a log line with the opcode', (t) => {
  const quota = Object.assign(new Error('quota'), { code: 'UNKNOWN', errno: -E.EDQUOT, syscall: 'write' });
  const h = harness({
    unlink: () => { throw errnoError('EROFS'); },
    rmdir: () => { throw quota; },
    mkdir: () => { throw new TypeError('a bug'); },
  });
  t.is(h.one(request('UNLINK', [cname('x')])).header.error, -E.EROFS);
  t.is(h.one(request('RMDIR', [cname('x')])).header.error, -E.EDQUOT);
  t.is(h.one(request('MKDIR', [pack('fuse_mkdir_in', {}), cname('x')])).header.error, -E.EIO);
  t.regex(h.log.join('\n'), /^strata-fs: internal error in op 9: TypeError: a bug/m);
  t.is(h.one(request('UNLINK', [cname('x')])).header.error, -E.EROFS, 'and it keeps serving');
});

test('unserved opcodes: unknown and lock/bmap/poll ones ENOSYS, FLUSH ENOSYS; ACCESS, FSYNCDIR, SYNCFS succeed', (t) => {
  const h = harness();
  const err = (op: keyof typeof OPCODES | number): number => h.one(request(op, [Buffer.alloc(64)])).header.error as number;
  for (const op of [7, 19, 54, 4096, 'GETLK', 'SETLK', 'BMAP', 'POLL', 'STATX', 'COPY_FILE_RANGE_64', 'FLUSH'] as const) t.is(err(op), -E.ENOSYS, `${op}`);
  for (const op of ['ACCESS', 'FSYNCDIR', 'SYNCFS'] as const) t.is(err(op), 0, op);
  t.deepEqual(h.calls, [], 'none of them reaches the filesystem');
});

test('DESTROY ends the filesystem once and is answered', (t) => {
  const h = harness({ destroy: () => {} });
  ok(t, h.one(request('DESTROY')), 0);
  ok(t, h.one(request('DESTROY')), 0);
  t.deepEqual(h.calls.map((c) => c.op), ['destroy']);
});

test('onStaleAttrs: FUSE_NOTIFY_INVAL_INODE with unique 0, the code in error, the inode, off -1 (attributes only) and len 0', (t) => {
  const h = harness({ unlink: () => h.fs.onStaleAttrs!(0x1_0000_0033) });
  const rs = h.send(request('UNLINK', [cname('x')], { unique: 5 }));
  t.is(rs.length, 2, 'the notification, then the reply');
  t.deepEqual(rs[0]!.header, { len: 16 + 24, error: 2, unique: 0 });
  t.deepEqual(unpack('fuse_notify_inval_inode_out', rs[0]!.payload), { ino: 0x1_0000_0033, off: -1, len: 0 });
  t.deepEqual(rs[1]!.header, { len: 16, error: 0, unique: 5 });
});

test('the debug log names each request by its opcode', (t) => {
  const h = harness({ lookup: () => sampleEntry() }, { debug: true });
  h.one(request('LOOKUP', [cname('x')], { unique: 12, nodeid: 1 }));
  h.one(request(77));
  t.is(h.log[0], 'req 12 LOOKUP node 1 uid 1000 len 42');
  t.regex(h.log.join('\n'), /req \d+ UNKNOWN node 1/);
});
