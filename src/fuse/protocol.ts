// The FUSE kernel protocol (include/uapi/linux/fuse.h), as far as strata speaks it.

export const KERNEL_VERSION = 7;
export const KERNEL_MINOR = 40;

export const enum Op {
  LOOKUP = 1, FORGET = 2, GETATTR = 3, SETATTR = 4, READLINK = 5, SYMLINK = 6, MKNOD = 8,
  MKDIR = 9, UNLINK = 10, RMDIR = 11, RENAME = 12, LINK = 13, OPEN = 14, READ = 15, WRITE = 16,
  STATFS = 17, RELEASE = 18, FSYNC = 20, SETXATTR = 21, GETXATTR = 22, LISTXATTR = 23,
  REMOVEXATTR = 24, FLUSH = 25, INIT = 26, OPENDIR = 27, READDIR = 28, RELEASEDIR = 29,
  FSYNCDIR = 30, GETLK = 31, SETLK = 32, SETLKW = 33, ACCESS = 34, CREATE = 35, INTERRUPT = 36,
  BMAP = 37, DESTROY = 38, IOCTL = 39, POLL = 40, NOTIFY_REPLY = 41, BATCH_FORGET = 42,
  FALLOCATE = 43, READDIRPLUS = 44, RENAME2 = 45, LSEEK = 46, COPY_FILE_RANGE = 47,
  SYNCFS = 50, TMPFILE = 51, STATX = 52,
}

// init flags (flags | flags2 << 32)
export const INIT = {
  ASYNC_READ: 1n << 0n,
  ATOMIC_O_TRUNC: 1n << 3n,
  EXPORT_SUPPORT: 1n << 4n,
  BIG_WRITES: 1n << 5n,
  DONT_MASK: 1n << 6n,
  AUTO_INVAL_DATA: 1n << 12n,
  DO_READDIRPLUS: 1n << 13n,
  READDIRPLUS_AUTO: 1n << 14n,
  ASYNC_DIO: 1n << 15n,
  WRITEBACK_CACHE: 1n << 16n,
  PARALLEL_DIROPS: 1n << 18n,
  POSIX_ACL: 1n << 20n,
  MAX_PAGES: 1n << 22n,
  CACHE_SYMLINKS: 1n << 23n,
  NO_OPENDIR_SUPPORT: 1n << 24n,
  SETXATTR_EXT: 1n << 29n,
  INIT_EXT: 1n << 30n,
  PASSTHROUGH: 1n << 37n,
} as const;

/** Unsolicited message codes (in the error field of a reply with unique 0). */
export const NOTIFY_INVAL_INODE = 2;

export const FOPEN_DIRECT_IO = 1;
export const FOPEN_KEEP_CACHE = 2;
export const FOPEN_CACHE_DIR = 8;
export const FOPEN_PASSTHROUGH = 128;

export const FATTR_MODE = 1;
export const FATTR_UID = 2;
export const FATTR_GID = 4;
export const FATTR_SIZE = 8;
export const FATTR_ATIME = 16;
export const FATTR_MTIME = 32;
export const FATTR_FH = 64;
export const FATTR_ATIME_NOW = 128;
export const FATTR_MTIME_NOW = 256;
export const FATTR_CTIME = 1024;

export const IN_HEADER_SIZE = 40;
export const OUT_HEADER_SIZE = 16;
export const ATTR_SIZE = 88;
export const ENTRY_OUT_SIZE = 40 + ATTR_SIZE;
export const ATTR_OUT_SIZE = 16 + ATTR_SIZE;
export const OPEN_OUT_SIZE = 16;
export const DIRENT_HEADER = 24;
