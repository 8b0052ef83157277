// Bytes <-> values for the FUSE structs in protocol.ts: little-endian integers, names,
// and the reply records (fuse_attr, fuse_entry_out, fuse_dirent, ...). Plain functions
// over a buffer and an offset: no state, no allocation beyond the values they return.
import {
  AttrOut, Dirent, EntryOut, FATTR_ATIME, FATTR_ATIME_NOW, FATTR_FH, FATTR_GID, FATTR_MODE, FATTR_MTIME,
  FATTR_MTIME_NOW, FATTR_SIZE, FATTR_UID, FuseAttr, OpenOut, SetattrIn, StatfsOut,
} from './protocol';
import type { Attr, Entry, SetAttr, StatFs } from './types';

/** A cache lifetime as the kernel takes it: [seconds, nanoseconds]. */
export type Timeout = readonly [number, number];

const UTIME_NOW = (1 << 30) - 1;
/** What the kernel gets as st_blksize: the preferred I/O size. */
const BLKSIZE = 4096;

export function timeout(seconds: number): Timeout {
  const s = Math.floor(seconds);
  return [s, Math.round((seconds - s) * 1e9)];
}

/** A u64 as a number: exact up to 2^53, which inode numbers, handles, sizes and offsets stay below. */
export function readU64(b: Buffer, at: number): number {
  return b.readUInt32LE(at) + b.readUInt32LE(at + 4) * 4294967296;
}

export function readI64(b: Buffer, at: number): number {
  return b.readUInt32LE(at) + b.readInt32LE(at + 4) * 4294967296;
}

export function writeU64(b: Buffer, at: number, x: number): void {
  b.writeUInt32LE(x >>> 0, at);
  b.writeUInt32LE(Math.floor(x / 4294967296) >>> 0, at + 4);
}

/** The NUL-terminated name at `at` (to the end of b if it has no NUL), without the NUL. */
export function cstr(b: Buffer, at: number): Buffer {
  const end = b.indexOf(0, at);
  return b.subarray(at, end < 0 ? b.length : end);
}

/** struct fuse_attr */
export function encodeAttr(out: Buffer, at: number, a: Attr): void {
  writeU64(out, at + FuseAttr.ino, a.ino);
  writeU64(out, at + FuseAttr.size, a.size);
  writeU64(out, at + FuseAttr.blocks, a.blocks);
  writeU64(out, at + FuseAttr.atime, a.atime);
  writeU64(out, at + FuseAttr.mtime, a.mtime);
  writeU64(out, at + FuseAttr.ctime, a.ctime);
  out.writeUInt32LE(a.atimeNs, at + FuseAttr.atimensec);
  out.writeUInt32LE(a.mtimeNs, at + FuseAttr.mtimensec);
  out.writeUInt32LE(a.ctimeNs, at + FuseAttr.ctimensec);
  out.writeUInt32LE(a.mode, at + FuseAttr.mode);
  out.writeUInt32LE(a.nlink >>> 0, at + FuseAttr.nlink);
  out.writeUInt32LE(a.uid, at + FuseAttr.uid);
  out.writeUInt32LE(a.gid, at + FuseAttr.gid);
  out.writeUInt32LE(a.rdev >>> 0, at + FuseAttr.rdev);
  out.writeUInt32LE(BLKSIZE, at + FuseAttr.blksize);
  out.writeUInt32LE(0, at + FuseAttr.flags);
}

/** struct fuse_entry_out for e */
export function encodeEntryOut(out: Buffer, at: number, e: Entry, entryValid: Timeout, attrValid: Timeout): void {
  writeU64(out, at + EntryOut.nodeid, e.nodeid);
  writeU64(out, at + EntryOut.generation, 0); // nodeids are never reused within a mount
  writeU64(out, at + EntryOut.entry_valid, entryValid[0]);
  writeU64(out, at + EntryOut.attr_valid, attrValid[0]);
  out.writeUInt32LE(entryValid[1], at + EntryOut.entry_valid_nsec);
  out.writeUInt32LE(attrValid[1], at + EntryOut.attr_valid_nsec);
  encodeAttr(out, at + EntryOut.attr, e.attr);
}

/** A negative fuse_entry_out (nodeid 0) into zeroed bytes: the kernel caches "no such
 *  name" for `valid`. */
export function encodeNegativeEntryOut(out: Buffer, at: number, valid: Timeout): void {
  writeU64(out, at + EntryOut.entry_valid, valid[0]);
  out.writeUInt32LE(valid[1], at + EntryOut.entry_valid_nsec);
}

/** The attribute timeout of an encoded fuse_entry_out at `at`. */
export function encodeAttrValid(out: Buffer, at: number, attrValid: Timeout): void {
  writeU64(out, at + EntryOut.attr_valid, attrValid[0]);
  out.writeUInt32LE(attrValid[1], at + EntryOut.attr_valid_nsec);
}

/** struct fuse_attr_out into zeroed bytes */
export function encodeAttrOut(out: Buffer, at: number, a: Attr, attrValid: Timeout): void {
  writeU64(out, at + AttrOut.attr_valid, attrValid[0]);
  out.writeUInt32LE(attrValid[1], at + AttrOut.attr_valid_nsec);
  encodeAttr(out, at + AttrOut.attr, a);
}

/** struct fuse_open_out; backingId -1 unless FOPEN_PASSTHROUGH is in openFlags */
export function encodeOpenOut(out: Buffer, at: number, fh: number, openFlags: number, backingId: number): void {
  writeU64(out, at + OpenOut.fh, fh);
  out.writeUInt32LE(openFlags, at + OpenOut.open_flags);
  out.writeInt32LE(backingId, at + OpenOut.backing_id);
}

/** struct fuse_kstatfs into zeroed bytes */
export function encodeStatfsOut(out: Buffer, at: number, s: StatFs): void {
  writeU64(out, at + StatfsOut.blocks, s.blocks);
  writeU64(out, at + StatfsOut.bfree, s.bfree);
  writeU64(out, at + StatfsOut.bavail, s.bavail);
  writeU64(out, at + StatfsOut.files, s.files);
  writeU64(out, at + StatfsOut.ffree, s.ffree);
  out.writeUInt32LE(s.bsize, at + StatfsOut.bsize);
  out.writeUInt32LE(s.namelen, at + StatfsOut.namelen);
  out.writeUInt32LE(s.frsize, at + StatfsOut.frsize);
}

/** Bytes one fuse_dirent (or fuse_direntplus) record of a namelen-byte name takes. */
export function direntSize(namelen: number, plus: boolean): number {
  return (plus ? EntryOut.SIZE : 0) + ((Dirent.SIZE + namelen + 7) & ~7);
}

/** struct fuse_dirent and its name at pos, zero-padded to 8 bytes; returns the end. off is
 *  the offset of the entry after this one (where a READDIR resuming after it starts). */
export function encodeDirent(out: Buffer, pos: number, name: Buffer, ino: number, type: number, off: number): number {
  writeU64(out, pos + Dirent.ino, ino);
  writeU64(out, pos + Dirent.off, off);
  out.writeUInt32LE(name.length, pos + Dirent.namelen);
  out.writeUInt32LE(type, pos + Dirent.type);
  name.copy(out, pos + Dirent.SIZE);
  const end = pos + Dirent.SIZE + name.length;
  const padded = (end + 7) & ~7;
  out.fill(0, end, padded);
  return padded;
}

/** The changes a fuse_setattr_in asks for. */
export function decodeSetattrIn(b: Buffer): SetAttr {
  const valid = b.readUInt32LE(SetattrIn.valid);
  const set: SetAttr = {};
  if (valid & FATTR_MODE) set.mode = b.readUInt32LE(SetattrIn.mode);
  if (valid & FATTR_UID) set.uid = b.readUInt32LE(SetattrIn.uid);
  if (valid & FATTR_GID) set.gid = b.readUInt32LE(SetattrIn.gid);
  if (valid & FATTR_SIZE) set.size = readU64(b, SetattrIn.size);
  if (valid & FATTR_ATIME) {
    set.atime = valid & FATTR_ATIME_NOW ? [0, UTIME_NOW] : [readI64(b, SetattrIn.atime), b.readUInt32LE(SetattrIn.atimensec)];
  }
  if (valid & FATTR_MTIME) {
    set.mtime = valid & FATTR_MTIME_NOW ? [0, UTIME_NOW] : [readI64(b, SetattrIn.mtime), b.readUInt32LE(SetattrIn.mtimensec)];
  }
  return set;
}

/** The handle a fuse_setattr_in names (ftruncate, fchmod, ...), if any. */
export function setattrFh(b: Buffer): number | undefined {
  return b.readUInt32LE(SetattrIn.valid) & FATTR_FH ? readU64(b, SetattrIn.fh) : undefined;
}
