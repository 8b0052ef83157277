// The one syscall adapter: the typed face of the C addon (native/strata_native.c), and a
// few conveniences over it for code outside the request path (the image extractor and
// packer, the store). Loaded once; `npm run build` always builds the addon.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** A name or path as bytes: a Buffer, or a string of one char per byte (latin1), the
 *  form the union keeps names in. */
export type Bytes = string | Buffer;

/**
 * Objects are named as the *at(2) calls name them: a directory descriptor and a name
 * below it (dirfd AT_FDCWD: name is a whole path; name '': dirfd's own object). No call
 * follows a symlink.
 */
export interface Native {
  /** Fills out[16] (see STAT_* indices); 0 or -errno. */
  statAt(dirfd: number, name: Bytes, out: Float64Array): number;
  /** open(2) flags and mode; O_CLOEXEC is added. */
  openAt(dirfd: number, name: Bytes, flags: number, mode: number): number;
  /** A real directory below dirfd, O_NOATIME where allowed, never through a symlink,
   *  a magic link or "..": fd, or -errno (ENOTDIR, ELOOP: not a real directory). */
  openDirAt(dirfd: number, name: Bytes): number;
  /** The entries of an open directory, without . and .., packed as [u64 ino][u8 d_type]
   *  [u16 len][name]; from its start if rewind (else from where it is: a fresh fd). */
  readdirFd(fd: number, rewind: boolean): Buffer;
  mkdirAt(dirfd: number, name: Bytes, mode: number): void;
  mknodAt(dirfd: number, name: Bytes, mode: number, dev: number): void;
  symlinkAt(target: Bytes, dirfd: number, name: Bytes): void;
  /** flags: AT_REMOVEDIR or 0 */
  unlinkAt(dirfd: number, name: Bytes, flags: number): void;
  renameAt2(fromDir: number, from: Bytes, toDir: number, to: Bytes, flags: number): void;
  linkAt(fromDir: number, from: Bytes, toDir: number, to: Bytes): void;
  readlinkAt(dirfd: number, name: Bytes): Buffer;
  chownAt(dirfd: number, name: Bytes, uid: number, gid: number): void;
  /** Mode bits of a non-symlink (EOPNOTSUPP for a symlink). */
  chmodAt(dirfd: number, name: Bytes, mode: number): void;
  /** nsec may be UTIME_NOW / UTIME_OMIT */
  utimensAt(dirfd: number, name: Bytes, asec: number | bigint, ansec: number, msec: number | bigint, mnsec: number): void;
  /** null when absent (or xattrs unsupported there) */
  getxattrAt(dirfd: number, name: Bytes, xname: Bytes): Buffer | null;
  /** NUL-separated names; empty where xattrs are unsupported */
  listxattrAt(dirfd: number, name: Bytes): Buffer;
  setxattrAt(dirfd: number, name: Bytes, xname: Bytes, value: Buffer, flags: number): void;
  removexattrAt(dirfd: number, name: Bytes, xname: Bytes): void;
  fallocate(fd: number, mode: number, offset: number | bigint, length: number | bigint): void;
  /** ioctl(fd, cmd, buf) for a cmd whose argument is a pointer to buf -> its result */
  ioctlBuf(fd: number, cmd: number, buf: Buffer): number;
  /** A detached mount (open_tree clone) of dirfd's directory with these atime attributes
   *  (MOUNT_ATTR_*: 0 relatime, NOATIME, STRICTATIME, | NODIRATIME) -> [the mount's fd
   *  (O_PATH: it lives while that is open), its root directory opened (for reopenIn)]. */
  cloneMountAt(dirfd: number, atimeAttrs: number): [number, number];
  /** The file open as fd, opened anew through the mount mountFd (by file handle). */
  reopenIn(mountFd: number, fd: number, flags: number): number;
  lseek(fd: number, offset: number | bigint, whence: number): number;
  copyFileRange(fdIn: number, offIn: number | bigint, fdOut: number, offOut: number | bigint, len: number | bigint): number;
  /** Copies size bytes of fdIn to fdOut keeping holes, then truncates fdOut to size. */
  copySparse(fdIn: number, fdOut: number, size: number | bigint): void;
  /** ioctl(fdOut, FICLONE, fdIn): the empty fdOut shares fdIn's data extents (a reflink,
   *  O(1) in the data). 0, or -errno: EXDEV, EOPNOTSUPP, EINVAL (or ENOTTY) where the
   *  filesystems cannot. */
  cloneFile(fdIn: number, fdOut: number): number;
  /** Raises the soft RLIMIT_NOFILE to the hard limit; the soft limit now in force. */
  raiseNofileLimit(): number;
  /** Paths and data: strings are UTF-8 here, as in Node. */
  mount(source: string, target: string, fstype: string, flags: number, data: string): void;
  umount2(target: string, flags: number): void;
  /** open_tree(OPEN_TREE_CLONE, recursive) of the mount at dirfd, then made read-only and
   *  noatime: an O_PATH descriptor on the detached copy's root, whose mount lives while it
   *  (or anything opened below it) is open. Throws EPERM without CAP_SYS_ADMIN, ENOSYS on
   *  kernels before 5.12. */
  openTreeNoatime(dirfd: number): number;
  /** Requests read from /dev/fuse so far, by opcode (however answered); the last entry
   *  counts opcodes beyond it. */
  requestCounts(): Float64Array;
  backingOpen(fuseFd: number, fd: number): number;
  backingClose(fuseFd: number, backingId: number): void;
  /** Serve /dev/fuse from the event loop. Each request is read into the returned buffer
   *  and onRequest gets its length, or -errno once at the end; the buffer is overwritten
   *  by the next request. */
  startPoll(fuseFd: number, bufSize: number, onRequest: (len: number) => void): Buffer;
  /** Answer READ requests for fh from fd inside the request loop, without JavaScript. */
  serveReads(fh: number, fd: number): void;
  stopServingReads(fh: number): void;
  /** Let the request loop answer GETXATTR (ENODATA) and LISTXATTR (empty) of nodeid itself,
   *  until any SETXATTR/REMOVEXATTR, or a FORGET of it. */
  markXattrFree(nodeid: number): void;
  /** A reply or notification to /dev/fuse fd: bytes written or -errno. The reply to the
   *  request being answered from the io_uring ring (uringStart) goes back through the ring. */
  fuseWrite(fd: number, data: Buffer, length: number): number;
  /** FUSE over io_uring: a ring with `depth` entries for each possible CPU, each with a
   *  payload buffer of payloadSize bytes; the buffer its requests arrive in. Not yet handed
   *  to the kernel. Throws (EBUSY: one per process; io_uring_setup's errors). */
  uringSetup(depth: number, payloadSize: number): Buffer;
  /** Hands the ring's entries to the kernel (after INIT's reply) and serves it from the
   *  event loop: onRequest gets a request's length and its offset in uringSetup's buffer
   *  (laid out as from /dev/fuse), or once -errno as the ring ends. */
  uringStart(fuseFd: number, onRequest: (len: number, at: number) => void): void;
  uringClose(): void;
  /** [queues, entries per queue, requests served over the ring so far] */
  uringInfo(): [number, number, number];
  /** write(2) of data, or of its first `length` bytes; bytes written or -errno. */
  writeFd(fd: number, data: Buffer, length?: number): number;
  openFuse(): number;
  /** Give the allocator's free pages back to the system (malloc_trim; nothing without glibc). */
  trimMemory(): void;
  // the container supervisor (src/runtime/supervise.ts)
  /** A listening unix socket at path, for runc's --console-socket. */
  consoleListen(path: string): number;
  /** Accepts one connection and receives the fd it sends (SCM_RIGHTS); -EAGAIN after timeoutMs without one. */
  consoleReceive(listenFd: number, timeoutMs: number): number;
  setWinsize(fd: number, rows: number, cols: number): void;
  /** Clears OPOST on a terminal: newlines go out as they are. */
  rawOutput(fd: number): void;
  /** prctl(PR_SET_CHILD_SUBREAPER): orphaned descendants become this process's children. */
  becomeSubreaper(): void;
  /** waitpid(pid, WNOHANG): null while it runs, else [exit code, signal], one of them -1. */
  reap(pid: number): [number, number] | null;
  /** pipe2(O_CLOEXEC): [read end, write end] */
  pipe(): [number, number];
  // mounting through fusermount3 (src/fuse/fusermount.ts)
  /** socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC) */
  socketPair(): [number, number];
  /** The fd the peer sends (SCM_RIGHTS, close-on-exec here); -EAGAIN after timeoutMs
   *  without one, -ECONNRESET if the peer closed without sending one, else -errno. */
  receiveFd(sock: number, timeoutMs: number): number;
}

export const STAT_INO_LO = 0;
export const STAT_INO_HI = 1;
export const STAT_SIZE = 2;
export const STAT_BLOCKS = 3;
export const STAT_ATIME = 4;
export const STAT_ATIME_NS = 5;
export const STAT_MTIME = 6;
export const STAT_MTIME_NS = 7;
export const STAT_CTIME = 8;
export const STAT_CTIME_NS = 9;
export const STAT_MODE = 10;
export const STAT_NLINK = 11;
export const STAT_UID = 12;
export const STAT_GID = 13;
export const STAT_RDEV = 14;
export const STAT_DEV = 15;

export const AT_FDCWD = -100;
export const AT_REMOVEDIR = 0x200;
export const UTIME_NOW = (1 << 30) - 1;
export const UTIME_OMIT = (1 << 30) - 2;
export const RENAME_NOREPLACE = 1;
export const RENAME_EXCHANGE = 2;
export const RENAME_WHITEOUT = 4;
export const XATTR_CREATE = 1;
export const XATTR_REPLACE = 2;
export const MNT_DETACH = 2;
export const SEEK_DATA = 3;
export const SEEK_HOLE = 4;

function load(): Native {
  // dist/src/native.js and src/native.ts both sit two levels below the repo root
  const root = path.resolve(__dirname, '..', '..');
  const candidates = [path.join(root, 'build', 'Release', 'strata_native.node'), path.resolve(__dirname, '..', 'build', 'Release', 'strata_native.node')];
  let error: Error | null = null;
  for (const c of candidates) {
    try {
      return require(c) as Native;
    } catch (e) {
      error = e as Error;
    }
  }
  const loadError = new Error(`strata: native addon not built (run npm run build): ${error?.message}`);
  // fail where it is used, not where it is imported (the CLI's --help needs no addon)
  return new Proxy({} as Native, {
    get(): never {
      throw loadError;
    },
  });
}

export const native: Native = load();

// ---------- conveniences by whole path, for the image and store code ----------

/** A path as given by people or Node (strings are UTF-8), or raw bytes. */
export type PathArg = string | Buffer;

function pathBytes(p: PathArg): Buffer {
  return typeof p === 'string' ? Buffer.from(p) : p;
}

function withPath(syscall: string, p: PathArg, e: unknown): Error {
  const err = new Error(`${syscall} ${typeof p === 'string' ? p : p.toString('latin1')}: ${(e as Error).message}`) as NodeJS.ErrnoException;
  err.code = (e as NodeJS.ErrnoException).code;
  return err;
}

/** Sets atime and mtime with nanosecond precision, never following a final symlink. */
export function setTimesNs(p: PathArg, atimeNs: bigint, mtimeNs: bigint): void {
  const split = (ns: bigint): [number, number] => {
    let s = ns / 1_000_000_000n;
    let n = ns % 1_000_000_000n;
    if (n < 0n) {
      n += 1_000_000_000n;
      s -= 1n;
    }
    return [Number(s), Number(n)];
  };
  const [as, an] = split(atimeNs);
  const [ms, mn] = split(mtimeNs);
  native.utimensAt(AT_FDCWD, pathBytes(p), as, an, ms, mn);
}

/** xattr names are latin1 strings (raw bytes), as llistxattr gives them. */
export function lsetxattr(p: PathArg, name: string, value: Buffer): void {
  try {
    native.setxattrAt(AT_FDCWD, pathBytes(p), name, value, 0);
  } catch (e) {
    throw withPath('lsetxattr', p, e);
  }
}

export function lremovexattr(p: PathArg, name: string): void {
  native.removexattrAt(AT_FDCWD, pathBytes(p), name);
}

/** Value of one xattr, or null if unset. */
export function lgetxattr(p: PathArg, name: string): Buffer | null {
  try {
    return native.getxattrAt(AT_FDCWD, pathBytes(p), name);
  } catch (e) {
    throw withPath('lgetxattr', p, e);
  }
}

/** All xattr names of a path (latin1 strings, i.e. raw bytes). */
export function llistxattr(p: PathArg): string[] {
  let raw: Buffer;
  try {
    raw = native.listxattrAt(AT_FDCWD, pathBytes(p));
  } catch (e) {
    throw withPath('llistxattr', p, e);
  }
  return raw
    .toString('latin1')
    .split('\0')
    .filter((s) => s.length > 0);
}

export function mknod(p: PathArg, mode: number, major: number, minor: number): void {
  const dev = ((major & 0xfff) << 8) | (minor & 0xff) | ((minor & ~0xff) << 12);
  try {
    native.mknodAt(AT_FDCWD, pathBytes(p), mode, dev);
  } catch (e) {
    throw withPath('mknod', p, e);
  }
}

export function lchown(p: PathArg, uid: number, gid: number): void {
  fs.lchownSync(p, uid, gid);
}

export function devMajor(rdev: number): number {
  return (rdev >>> 8) & 0xfff;
}
export function devMinor(rdev: number): number {
  return (rdev & 0xff) | ((rdev >>> 12) & 0xfff00);
}

export function mountOverlay(target: string, data: string): void {
  native.mount('overlay', target, 'overlay', 0, data);
}
