// Typed face of the C addon (native/strata_native.c). Loaded once; every layer that
// needs a syscall Node lacks goes through here.
import * as path from 'node:path';

export type PathLike = string | Buffer;

export interface Native {
  /** Fills out[16] (see STAT_* indices); returns 0 or -errno. Never follows a final symlink. */
  lstat(p: PathLike, out: Float64Array): number;
  fstat(fd: number, out: Float64Array): number;
  /** Entries without . and .., packed as [u64 ino][u8 d_type][u16 len][name]. Opens with O_NOATIME. */
  readdir(p: PathLike): Buffer;
  lgetxattr(p: PathLike, name: PathLike): Buffer | null;
  llistxattr(p: PathLike): Buffer;
  lsetxattr(p: PathLike, name: PathLike, value: Buffer, flags: number): void;
  lremovexattr(p: PathLike, name: PathLike): void;
  mknod(p: PathLike, mode: number, dev: number): void;
  renameat2(from: PathLike, to: PathLike, flags: number): void;
  utimensat(p: PathLike, asec: number | bigint, ansec: number, msec: number | bigint, mnsec: number, nofollow: boolean): void;
  futimens(fd: number, asec: number | bigint, ansec: number, msec: number | bigint, mnsec: number): void;
  fallocate(fd: number, mode: number, offset: number | bigint, length: number | bigint): void;
  lseek(fd: number, offset: number | bigint, whence: number): number;
  copyFileRange(fdIn: number, offIn: number | bigint, fdOut: number, offOut: number | bigint, len: number | bigint): number;
  /** Copies size bytes of fdIn to fdOut keeping holes, then truncates fdOut to size. */
  copySparse(fdIn: number, fdOut: number, size: number | bigint): void;
  mount(source: string, target: string, fstype: string, flags: number, data: string): void;
  umount2(target: string, flags: number): void;
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
  /** write(2) of data, or of its first `length` bytes; bytes written or -errno. */
  writeFd(fd: number, data: Buffer, length?: number): number;
  openFuse(): number;
  // the container supervisor (src/runtime/supervise.ts)
  /** A listening unix socket at path, for runc's --console-socket. */
  consoleListen(path: string): number;
  /** Accepts one connection and receives the fd it sends (SCM_RIGHTS); -EAGAIN after timeoutMs without one. */
  consoleReceive(listenFd: number, timeoutMs: number): number;
  setWinsize(fd: number, rows: number, cols: number): void;
  /** prctl(PR_SET_CHILD_SUBREAPER): orphaned descendants become this process's children. */
  becomeSubreaper(): void;
  /** waitpid(pid, WNOHANG): null while it runs, else [exit code, signal], one of them -1. */
  reap(pid: number): [number, number] | null;
  /** pipe2(O_CLOEXEC): [read end, write end] */
  pipe(): [number, number];
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

let loadError: Error | null = null;

function load(): Native | null {
  // dist/src/native.js and src/native.ts both sit two levels below the repo root
  const root = path.resolve(__dirname, '..', '..');
  const candidates = [path.join(root, 'build', 'Release', 'strata_native.node'), path.resolve(__dirname, '..', 'build', 'Release', 'strata_native.node')];
  for (const c of candidates) {
    try {
      return require(c) as Native;
    } catch (e) {
      loadError = new Error(`strata: native addon not built (run npm run build): ${(e as Error).message}`);
    }
  }
  return null;
}

const loaded = load();

/** The addon, or null where it is not built (for code that has a slower way without it). */
export function nativeOrNull(): Native | null {
  return loaded;
}

/** The addon; using it where it is not built throws the load error. */
export const native: Native =
  loaded ??
  new Proxy({} as Native, {
    get(): never {
      throw loadError;
    },
  });
