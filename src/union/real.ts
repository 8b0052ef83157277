// Stat of the real objects in the layers, named (dirfd, name) as everywhere in the union.
import * as fs from 'node:fs';
import type { Attr } from '../fuse/types';
import {
  native, STAT_ATIME, STAT_ATIME_NS, STAT_BLOCKS, STAT_CTIME, STAT_CTIME_NS, STAT_DEV, STAT_GID, STAT_INO_HI,
  STAT_INO_LO, STAT_MODE, STAT_MTIME, STAT_MTIME_NS, STAT_NLINK, STAT_RDEV, STAT_SIZE, STAT_UID,
} from '../native';
import { FsError } from './errors';

export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const S_IFCHR = 0o020000;

/** A real object's stat: the attributes the kernel is answered with, and its device.
 *  Each call makes a fresh one, which the union may turn into its answer in place. */
export interface RealStat extends Attr {
  dev: number;
}

const statBuf = new Float64Array(16);

function unpack(o: Float64Array): RealStat {
  return {
    ino: o[STAT_INO_LO]! + o[STAT_INO_HI]! * 4294967296,
    size: o[STAT_SIZE]!,
    blocks: o[STAT_BLOCKS]!,
    atime: o[STAT_ATIME]!,
    atimeNs: o[STAT_ATIME_NS]!,
    mtime: o[STAT_MTIME]!,
    mtimeNs: o[STAT_MTIME_NS]!,
    ctime: o[STAT_CTIME]!,
    ctimeNs: o[STAT_CTIME_NS]!,
    mode: o[STAT_MODE]!,
    nlink: o[STAT_NLINK]!,
    uid: o[STAT_UID]!,
    gid: o[STAT_GID]!,
    rdev: o[STAT_RDEV]!,
    dev: o[STAT_DEV]!,
  };
}

const ERRNO_NAMES: Record<number, string> = {};
for (const [name, no] of Object.entries(require('node:os').constants.errno as Record<string, number>)) {
  if (!(no in ERRNO_NAMES)) ERRNO_NAMES[no] = name;
}

export function errnoName(negErrno: number): string {
  return ERRNO_NAMES[-negErrno] ?? 'EIO';
}

const ENOENT = -2;
const ENOTDIR = -20;

/** The object `name` in directory dirfd ('' for dirfd's own), or null when it is not there
 *  (ENOENT, ENOTDIR); other errors are thrown. One fstatat(2), never following a symlink. */
export function statOrNull(dirfd: number, name: string): RealStat | null {
  const r = native.statAt(dirfd, name, statBuf);
  if (r === 0) return unpack(statBuf);
  if (r === ENOENT || r === ENOTDIR) return null;
  throw new FsError(errnoName(r), `stat: ${errnoName(r)}`);
}

export function statAt(dirfd: number, name: string): RealStat {
  const r = native.statAt(dirfd, name, statBuf);
  if (r !== 0) throw new FsError(errnoName(r), `stat: ${errnoName(r)}`);
  return unpack(statBuf);
}

/** fstat(2) of an open file. */
export function fstat(fd: number): RealStat {
  return statAt(fd, '');
}

export function isDir(st: { mode: number }): boolean {
  return (st.mode & S_IFMT) === S_IFDIR;
}

/** Opens a lower object so that reading it leaves its atime alone (O_NOATIME), where the
 *  kernel lets us: only the file's owner (or CAP_FOWNER) may, so a server that is neither,
 *  as an ordinary user's is for root's files, opens it plainly. */
export function openLowerAt(dirfd: number, name: string, flags: number): number {
  try {
    return native.openAt(dirfd, name, flags | fs.constants.O_NOATIME, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') throw e;
    return native.openAt(dirfd, name, flags, 0);
  }
}
