// One function per FUSE opcode: decode the request's struct (protocol.ts), call the
// FileSystem, encode the reply. OPS maps each opcode to its name and its handler, as
// go-fuse's opcode.go does. A handler either replies exactly once or, for the few
// requests that get no reply (FORGET, BATCH_FORGET, INTERRUPT), not at all; a thrown
// error becomes the errno reply (FuseSession.receive).
import * as os from 'node:os';
import {
  BatchForgetIn, CopyFileRangeIn, CreateIn, EntryOut, FSYNC_FDATASYNC, FallocateIn, ForgetIn, ForgetOne,
  FsyncIn, GETATTR_FH, GetattrIn, GetxattrIn, GetxattrOut, INIT, InitIn, InitOut, IoctlIn, IoctlOut, KERNEL_MINOR,
  KERNEL_VERSION, LinkIn, LseekIn, LseekOut, MkdirIn, MknodIn, Op, OpenIn, OpenOut, ReadIn, ReleaseIn,
  Rename2In, RenameIn, SetxattrIn, StatfsOut, WriteIn, WriteOut,
} from './protocol';
import type { FuseSession } from './session';
import type { Caller, Entry } from './types';
import {
  cstr, decodeSetattrIn, direntSize, encodeDirent, encodeEntryOut, encodeStatfsOut, readU64, setattrFh, writeU64,
} from './wire';

const ERRNO = os.constants.errno;

/** Largest WRITE the kernel may send (and so the request buffer's size, with room for headers). */
export const MAX_WRITE = 1 << 20;

/** A request: b is its body, from after fuse_in_header to before any extensions. b is a
 *  view of the session's request buffer, valid until the handler returns. */
export type Handler = (s: FuseSession, nodeid: number, c: Caller, b: Buffer) => void;

export interface OpHandler {
  readonly name: string;
  readonly handle: Handler;
}

// ---- the session ----

function init(s: FuseSession, _nodeid: number, _c: Caller, b: Buffer): void {
  const major = b.readUInt32LE(InitIn.major);
  const minor = b.readUInt32LE(InitIn.minor);
  const maxReadahead = b.readUInt32LE(InitIn.max_readahead);
  let kflags = BigInt(b.readUInt32LE(InitIn.flags));
  if (kflags & INIT.INIT_EXT && b.length >= InitIn.flags2 + 4) kflags |= BigInt(b.readUInt32LE(InitIn.flags2)) << 32n;
  if (major !== KERNEL_VERSION) {
    s.opts.log(`strata-fs: kernel speaks FUSE ${major}.${minor}, need ${KERNEL_VERSION}.x`);
    return s.replyError(ERRNO.EPROTO);
  }
  let want = INIT.ASYNC_READ | INIT.ATOMIC_O_TRUNC | INIT.BIG_WRITES | INIT.DO_READDIRPLUS |
    INIT.PARALLEL_DIROPS | INIT.MAX_PAGES | INIT.CACHE_SYMLINKS | INIT.INIT_EXT | INIT.ASYNC_DIO |
    INIT.DONT_MASK |
    // The kernel then enforces ACLs (default_permissions alone ignores them) and caches
    // them per inode, instead of asking for system.posix_acl_* on every ls -l. With
    // DONT_MASK the umask reaches us, and the upper filesystem applies it unless the
    // directory has a default ACL, as for any local filesystem.
    (s.opts.acl === false ? 0n : INIT.POSIX_ACL);
  // Passthrough hands open files to the kernel; the kernel refuses it with writeback cache.
  if (s.opts.passthrough && kflags & INIT.PASSTHROUGH && process.getuid?.() === 0) want |= INIT.PASSTHROUGH;
  // offered only while the kernel's enable_uring is on; the ring is handed over once this
  // is answered (the kernel sizes its buffers by max_write), and until then the kernel
  // holds every other request back
  if (s.opts.ring) want |= INIT.OVER_IO_URING;
  // Not HANDLE_KILLPRIV_V2: it would spare the kernel's security.capability probe
  // before each write, but then the kernel leaves clearing setuid/setgid to us, a
  // passthrough write never reaches us, and its cached mode would not see our change.
  const flags = want & kflags;
  s.passthroughOn = (flags & INIT.PASSTHROUGH) !== 0n;
  s.uringOn = (flags & INIT.OVER_IO_URING) !== 0n;
  const out = s.payload(InitOut.SIZE);
  out.writeUInt32LE(KERNEL_VERSION, InitOut.major);
  out.writeUInt32LE(Math.min(minor, KERNEL_MINOR), InitOut.minor);
  out.writeUInt32LE(maxReadahead, InitOut.max_readahead);
  out.writeUInt32LE(Number(flags & 0xffffffffn), InitOut.flags);
  out.writeUInt16LE(64, InitOut.max_background);
  out.writeUInt16LE(48, InitOut.congestion_threshold);
  out.writeUInt32LE(MAX_WRITE, InitOut.max_write);
  out.writeUInt32LE(1, InitOut.time_gran); // nanoseconds
  out.writeUInt16LE(MAX_WRITE / 4096, InitOut.max_pages);
  out.writeUInt32LE(Number(flags >> 32n), InitOut.flags2);
  out.writeUInt32LE(s.passthroughOn ? 1 : 0, InitOut.max_stack_depth);
  if (s.opts.debug) s.opts.log(`init: kernel ${major}.${minor} flags ${kflags.toString(16)} -> ${flags.toString(16)}`);
  s.reply(out);
  s.afterInit();
}

function destroy(s: FuseSession): void {
  s.destroy();
  s.replyEmpty();
}

/** Every request is answered promptly; nothing to cancel, and INTERRUPT gets no reply. */
function interrupt(): void {}

// ---- names and inodes ----

function lookup(s: FuseSession, nodeid: number, c: Caller, b: Buffer): void {
  let entry: Entry;
  try {
    entry = s.fs.lookup(c, nodeid, cstr(b, 0));
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT' && s.opts.negativeTimeout > 0) return s.replyNegativeEntry();
    throw e;
  }
  s.replyEntry(entry);
}

/** No reply. */
function forget(s: FuseSession, nodeid: number, _c: Caller, b: Buffer): void {
  s.fs.forget(nodeid, readU64(b, ForgetIn.nlookup));
}

/** No reply. */
function batchForget(s: FuseSession, _nodeid: number, _c: Caller, b: Buffer): void {
  const count = b.readUInt32LE(BatchForgetIn.count);
  for (let i = 0, at = BatchForgetIn.SIZE; i < count; i++, at += ForgetOne.SIZE) {
    s.fs.forget(readU64(b, at + ForgetOne.nodeid), readU64(b, at + ForgetOne.nlookup));
  }
}

function getattr(s: FuseSession, nodeid: number, c: Caller, b: Buffer): void {
  const fh = b.readUInt32LE(GetattrIn.getattr_flags) & GETATTR_FH ? readU64(b, GetattrIn.fh) : undefined;
  s.replyAttr(s.fs.getattr(c, nodeid, fh), nodeid);
}

function setattr(s: FuseSession, nodeid: number, c: Caller, b: Buffer): void {
  s.replyAttr(s.fs.setattr(c, nodeid, decodeSetattrIn(b), setattrFh(b)), nodeid);
}

function readlink(s: FuseSession, nodeid: number, c: Caller): void {
  s.reply(s.fs.readlink(c, nodeid));
}

function symlink(s: FuseSession, nodeid: number, c: Caller, b: Buffer): void {
  const name = cstr(b, 0);
  const target = cstr(b, name.length + 1);
  s.replyEntry(s.fs.symlink(c, nodeid, name, target));
}

function mknod(s: FuseSession, nodeid: number, c: Caller, b: Buffer): void {
  const mode = b.readUInt32LE(MknodIn.mode);
  const rdev = b.readUInt32LE(MknodIn.rdev);
  const umask = b.readUInt32LE(MknodIn.umask);
  s.replyEntry(s.fs.mknod(c, nodeid, cstr(b, MknodIn.SIZE), mode, rdev, umask));
}

function mkdir(s: FuseSession, nodeid: number, c: Caller, b: Buffer): void {
  s.replyEntry(s.fs.mkdir(c, nodeid, cstr(b, MkdirIn.SIZE), b.readUInt32LE(MkdirIn.mode), b.readUInt32LE(MkdirIn.umask)));
}

function unlink(s: FuseSession, nodeid: number, c: Caller, b: Buffer): void {
  s.fs.unlink(c, nodeid, cstr(b, 0));
  s.replyEmpty();
}

function rmdir(s: FuseSession, nodeid: number, c: Caller, b: Buffer): void {
  s.fs.rmdir(c, nodeid, cstr(b, 0));
  s.replyEmpty();
}

/** The old name then the new name, from `at`. */
function renameNames(s: FuseSession, nodeid: number, c: Caller, b: Buffer, at: number, newdir: number, flags: number): void {
  const from = cstr(b, at);
  const to = cstr(b, at + from.length + 1);
  s.fs.rename(c, nodeid, from, newdir, to, flags);
  s.replyEmpty();
}

function rename(s: FuseSession, nodeid: number, c: Caller, b: Buffer): void {
  renameNames(s, nodeid, c, b, RenameIn.SIZE, readU64(b, RenameIn.newdir), 0);
}

function rename2(s: FuseSession, nodeid: number, c: Caller, b: Buffer): void {
  renameNames(s, nodeid, c, b, Rename2In.SIZE, readU64(b, Rename2In.newdir), b.readUInt32LE(Rename2In.flags));
}

/** The header's nodeid is the new parent; the inode linked is in fuse_link_in. */
function link(s: FuseSession, nodeid: number, c: Caller, b: Buffer): void {
  s.replyEntry(s.fs.link(c, readU64(b, LinkIn.oldnodeid), nodeid, cstr(b, LinkIn.SIZE)));
}

// ---- files ----

function open(s: FuseSession, nodeid: number, c: Caller, b: Buffer): void {
  const opened = s.fs.open(c, nodeid, b.readUInt32LE(OpenIn.flags));
  s.replyOpen(nodeid, opened, s.payload(OpenOut.SIZE), 0);
}

/** fuse_entry_out, then fuse_open_out. */
function create(s: FuseSession, nodeid: number, c: Caller, b: Buffer): void {
  const flags = b.readUInt32LE(CreateIn.flags);
  const mode = b.readUInt32LE(CreateIn.mode);
  const umask = b.readUInt32LE(CreateIn.umask);
  const { entry, opened } = s.fs.create(c, nodeid, cstr(b, CreateIn.SIZE), mode, flags, umask);
  const out = s.payload(EntryOut.SIZE + OpenOut.SIZE);
  encodeEntryOut(out, 0, entry, s.entryValid, s.attrValid);
  s.replyOpen(entry.nodeid, opened, out, EntryOut.SIZE);
}

/** Reaches JavaScript only when the native request loop did not answer it first: it
 *  answers every READ of a handle whose open returned a real fd (registered with
 *  serveReads at OPEN/CREATE, dropped at RELEASE) by pread on that fd. What arrives here
 *  is a handle without one. */
function read(s: FuseSession, _nodeid: number, _c: Caller, b: Buffer): void {
  s.reply(s.fs.read(readU64(b, ReadIn.fh), readU64(b, ReadIn.offset), b.readUInt32LE(ReadIn.size)));
}

function write(s: FuseSession, _nodeid: number, _c: Caller, b: Buffer): void {
  const size = b.readUInt32LE(WriteIn.size);
  const n = s.fs.write(readU64(b, WriteIn.fh), readU64(b, WriteIn.offset), b.subarray(WriteIn.SIZE, WriteIn.SIZE + size));
  const out = s.payload(WriteOut.SIZE);
  out.writeUInt32LE(n, WriteOut.size);
  s.reply(out);
}

/** Nothing is buffered between a close and the real file; ENOSYS tells the kernel to stop
 *  sending FLUSH on every close. */
function flush(s: FuseSession): void {
  s.replyError(ERRNO.ENOSYS);
}

function release(s: FuseSession, _nodeid: number, _c: Caller, b: Buffer): void {
  const fh = readU64(b, ReleaseIn.fh);
  s.releaseIo(fh);
  s.fs.release(fh);
  s.replyEmpty();
}

function fsync(s: FuseSession, _nodeid: number, _c: Caller, b: Buffer): void {
  s.fs.fsync(readU64(b, FsyncIn.fh), (b.readUInt32LE(FsyncIn.fsync_flags) & FSYNC_FDATASYNC) !== 0);
  s.replyEmpty();
}

function fallocate(s: FuseSession, _nodeid: number, _c: Caller, b: Buffer): void {
  s.fs.fallocate(readU64(b, FallocateIn.fh), b.readUInt32LE(FallocateIn.mode), readU64(b, FallocateIn.offset), readU64(b, FallocateIn.length));
  s.replyEmpty();
}

function lseek(s: FuseSession, _nodeid: number, _c: Caller, b: Buffer): void {
  const off = s.fs.lseek(readU64(b, LseekIn.fh), readU64(b, LseekIn.offset), b.readUInt32LE(LseekIn.whence));
  const out = s.payload(LseekOut.SIZE);
  writeU64(out, LseekOut.offset, off);
  s.reply(out);
}

function copyFileRange(s: FuseSession, _nodeid: number, _c: Caller, b: Buffer): void {
  const n = s.fs.copyFileRange(
    readU64(b, CopyFileRangeIn.fh_in), readU64(b, CopyFileRangeIn.off_in),
    readU64(b, CopyFileRangeIn.fh_out), readU64(b, CopyFileRangeIn.off_out), readU64(b, CopyFileRangeIn.len),
  );
  const out = s.payload(WriteOut.SIZE);
  out.writeUInt32LE(n, WriteOut.size);
  s.reply(out);
}

/** Only the inode flags ioctls arrive here for a file (the kernel itself turns chattr's
 *  and lsattr's into FUSE_IOCTL); others answer ENOTTY from the FileSystem. */
function ioctl(s: FuseSession, nodeid: number, c: Caller, b: Buffer): void {
  if (!s.fs.ioctl) return s.replyError(ERRNO.ENOTTY);
  const inSize = b.readUInt32LE(IoctlIn.in_size);
  const outSize = b.readUInt32LE(IoctlIn.out_size);
  const data = s.fs.ioctl(c, nodeid, readU64(b, IoctlIn.fh), b.readUInt32LE(IoctlIn.cmd), b.subarray(IoctlIn.SIZE, IoctlIn.SIZE + inSize), outSize);
  const out = s.payload(IoctlOut.SIZE + data.length);
  out.fill(0, 0, IoctlOut.SIZE);
  data.copy(out, IoctlOut.SIZE);
  s.reply(out);
}

/** Laid out as CREATE (fuse_create_in, then a name the kernel makes up), answered as CREATE. */
function tmpfile(s: FuseSession, nodeid: number, c: Caller, b: Buffer): void {
  if (!s.fs.tmpfile) return s.replyError(ERRNO.EOPNOTSUPP);
  const { entry, opened } = s.fs.tmpfile(c, nodeid, b.readUInt32LE(CreateIn.mode), b.readUInt32LE(CreateIn.flags), b.readUInt32LE(CreateIn.umask));
  const out = s.payload(EntryOut.SIZE + OpenOut.SIZE);
  encodeEntryOut(out, 0, entry, s.entryValid, s.attrValid);
  s.replyOpen(entry.nodeid, opened, out, EntryOut.SIZE);
}

// ---- directories ----

/** Every change to a directory goes through this session, and the kernel drops its cached
 *  listing when it sees one. ENOSYS tells it that opening a directory needs no round trip
 *  (nor does closing it), and it then keeps listings between opens (FOPEN_CACHE_DIR |
 *  FOPEN_KEEP_CACHE is its default for that case). */
function opendir(s: FuseSession, nodeid: number, c: Caller): void {
  if (s.opts.cacheDirs) return s.replyError(ERRNO.ENOSYS);
  const fh = s.fs.opendir(c, nodeid);
  const out = s.payload(OpenOut.SIZE);
  writeU64(out, OpenOut.fh, fh);
  s.reply(out);
}

const DOT = Buffer.from('.');
const DOTDOT = Buffer.from('..');
const DT_DIR = 4;

/** Records from fuse_read_in.offset until fuse_read_in.size bytes are full. Offsets 0 and 1
 *  are "." and ".."; entry i of the listing has offset i + 2, and each record carries the
 *  offset of the one after it. */
function listDir(s: FuseSession, nodeid: number, c: Caller, b: Buffer, plus: boolean): void {
  const fh = readU64(b, ReadIn.fh);
  const offset = readU64(b, ReadIn.offset);
  const size = b.readUInt32LE(ReadIn.size);
  const out = s.payload(size);
  const head = plus ? EntryOut.SIZE : 0;
  let pos = 0;
  let i = offset;
  if (i < 2) {
    const self = s.fs.getattr(c, nodeid);
    for (; i < 2; i++) {
      const name = i === 0 ? DOT : DOTDOT;
      if (pos + direntSize(name.length, plus) > size) break;
      // "." and ".." in a direntplus hand out no inode: a zero entry_out
      if (plus) out.fill(0, pos, pos + EntryOut.SIZE);
      pos = encodeDirent(out, pos + head, name, self.ino, DT_DIR, i + 1);
    }
    if (i < 2) return s.reply(out.subarray(0, pos));
  }
  const entries = s.fs.readdir(nodeid, fh, i - 2);
  for (let k = i - 2; k < entries.length; k++, i++) {
    const d = entries[k]!;
    if (pos + direntSize(d.name.length, plus) > size) break;
    let ino = d.ino;
    if (plus) {
      let entry: Entry | null = null;
      try {
        entry = s.fs.lookup(c, nodeid, d.name);
      } catch {
        entry = null; // gone since the listing was taken: list the name, link nothing
      }
      if (entry) {
        encodeEntryOut(out, pos, entry, s.entryValid, s.attrValidFor(entry.nodeid));
        ino = entry.attr.ino;
      } else {
        out.fill(0, pos, pos + EntryOut.SIZE);
      }
    }
    pos = encodeDirent(out, pos + head, d.name, ino, d.type, i + 1);
  }
  s.reply(out.subarray(0, pos));
}

function readdir(s: FuseSession, nodeid: number, c: Caller, b: Buffer): void {
  listDir(s, nodeid, c, b, false);
}

/** Each record is a fuse_direntplus: the kernel takes its entry_out as a LOOKUP's reply. */
function readdirplus(s: FuseSession, nodeid: number, c: Caller, b: Buffer): void {
  listDir(s, nodeid, c, b, true);
}

function releasedir(s: FuseSession, _nodeid: number, _c: Caller, b: Buffer): void {
  s.fs.releasedir(readU64(b, ReleaseIn.fh));
  s.replyEmpty();
}

// ---- xattrs ----

function setxattr(s: FuseSession, nodeid: number, c: Caller, b: Buffer): void {
  const size = b.readUInt32LE(SetxattrIn.size);
  const flags = b.readUInt32LE(SetxattrIn.flags);
  const at = SetxattrIn.COMPAT_SIZE;
  const name = cstr(b, at);
  const value = b.subarray(at + name.length + 1, at + name.length + 1 + size);
  s.fs.setxattr(c, nodeid, name, value, flags);
  s.replyEmpty();
}

/** Reaches JavaScript only when the native request loop did not answer it first: once an
 *  inode is marked xattr-free (noteXattrFree, after an ENODATA or empty list here), the
 *  loop answers its GETXATTR with ENODATA itself, until any SETXATTR or REMOVEXATTR on
 *  the mount, or a FORGET of the inode. */
function getxattr(s: FuseSession, nodeid: number, c: Caller, b: Buffer): void {
  const name = cstr(b, GetxattrIn.SIZE);
  if (s.opts.debug) s.opts.log(`  getxattr ${name.toString()}`);
  let value: Buffer;
  try {
    value = s.fs.getxattr(c, nodeid, name);
  } catch (e) {
    if ((e as { code?: string }).code === 'ENODATA') s.noteXattrFree(nodeid);
    throw e;
  }
  s.replyXattr(b.readUInt32LE(GetxattrIn.size), value);
}

/** Reaches JavaScript only when the native request loop did not answer it first: for an
 *  inode marked xattr-free (see getxattr) the loop answers with an empty list itself. */
function listxattr(s: FuseSession, nodeid: number, c: Caller, b: Buffer): void {
  const list = s.fs.listxattr(c, nodeid);
  if (list.length === 0) s.noteXattrFree(nodeid);
  s.replyXattr(b.readUInt32LE(GetxattrIn.size), list);
}

function removexattr(s: FuseSession, nodeid: number, c: Caller, b: Buffer): void {
  s.fs.removexattr(c, nodeid, cstr(b, 0));
  s.replyEmpty();
}

// ---- the filesystem ----

function statfs(s: FuseSession, nodeid: number): void {
  const out = s.payload(StatfsOut.SIZE);
  encodeStatfsOut(out, 0, s.fs.statfs(nodeid));
  s.reply(out);
}

/** Success without doing anything: ACCESS (default_permissions: the kernel checked
 *  already), FSYNCDIR and SYNCFS (nothing is synced here). */
function ok(s: FuseSession): void {
  s.replyEmpty();
}

function enosys(s: FuseSession): void {
  s.replyError(ERRNO.ENOSYS);
}

// ---- the table ----

/** The handler of every opcode, indexed by opcode; ENOSYS for the ones strata does not serve. */
export const OPS: readonly OpHandler[] = table([
  [Op.INIT, 'INIT', init],
  [Op.DESTROY, 'DESTROY', destroy],
  [Op.INTERRUPT, 'INTERRUPT', interrupt],
  [Op.LOOKUP, 'LOOKUP', lookup],
  [Op.FORGET, 'FORGET', forget],
  [Op.BATCH_FORGET, 'BATCH_FORGET', batchForget],
  [Op.GETATTR, 'GETATTR', getattr],
  [Op.SETATTR, 'SETATTR', setattr],
  [Op.READLINK, 'READLINK', readlink],
  [Op.SYMLINK, 'SYMLINK', symlink],
  [Op.MKNOD, 'MKNOD', mknod],
  [Op.MKDIR, 'MKDIR', mkdir],
  [Op.UNLINK, 'UNLINK', unlink],
  [Op.RMDIR, 'RMDIR', rmdir],
  [Op.RENAME, 'RENAME', rename],
  [Op.RENAME2, 'RENAME2', rename2],
  [Op.LINK, 'LINK', link],
  [Op.OPEN, 'OPEN', open],
  [Op.CREATE, 'CREATE', create],
  [Op.READ, 'READ', read],
  [Op.WRITE, 'WRITE', write],
  [Op.FLUSH, 'FLUSH', flush],
  [Op.RELEASE, 'RELEASE', release],
  [Op.FSYNC, 'FSYNC', fsync],
  [Op.FALLOCATE, 'FALLOCATE', fallocate],
  [Op.LSEEK, 'LSEEK', lseek],
  [Op.COPY_FILE_RANGE, 'COPY_FILE_RANGE', copyFileRange],
  [Op.IOCTL, 'IOCTL', ioctl],
  [Op.TMPFILE, 'TMPFILE', tmpfile],
  [Op.OPENDIR, 'OPENDIR', opendir],
  [Op.READDIR, 'READDIR', readdir],
  [Op.READDIRPLUS, 'READDIRPLUS', readdirplus],
  [Op.RELEASEDIR, 'RELEASEDIR', releasedir],
  [Op.FSYNCDIR, 'FSYNCDIR', ok],
  [Op.SETXATTR, 'SETXATTR', setxattr],
  [Op.GETXATTR, 'GETXATTR', getxattr],
  [Op.LISTXATTR, 'LISTXATTR', listxattr],
  [Op.REMOVEXATTR, 'REMOVEXATTR', removexattr],
  [Op.STATFS, 'STATFS', statfs],
  [Op.SYNCFS, 'SYNCFS', ok],
  [Op.ACCESS, 'ACCESS', ok],
  // opcodes strata does not serve, named for the debug log
  [Op.GETLK, 'GETLK', enosys],
  [Op.SETLK, 'SETLK', enosys],
  [Op.SETLKW, 'SETLKW', enosys],
  [Op.BMAP, 'BMAP', enosys],
  [Op.POLL, 'POLL', enosys],
  [Op.NOTIFY_REPLY, 'NOTIFY_REPLY', enosys],
  [Op.SETUPMAPPING, 'SETUPMAPPING', enosys],
  [Op.REMOVEMAPPING, 'REMOVEMAPPING', enosys],
  [Op.STATX, 'STATX', enosys],
  [Op.COPY_FILE_RANGE_64, 'COPY_FILE_RANGE_64', enosys],
]);

/** For opcodes past the table's end. */
export const UNKNOWN_OP: OpHandler = { name: 'UNKNOWN', handle: enosys };

/** A dense array (every slot filled, so an opcode is one indexed load). */
function table(rows: [Op, string, Handler][]): OpHandler[] {
  const max = Math.max(...rows.map(([op]) => op));
  const t = Array.from({ length: max + 1 }, (_, op): OpHandler => ({ name: `OPCODE_${op}`, handle: enosys }));
  for (const [op, name, handle] of rows) t[op] = { name, handle };
  return t;
}
