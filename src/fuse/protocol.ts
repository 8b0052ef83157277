// The FUSE kernel protocol (include/uapi/linux/fuse.h), as far as strata speaks it.
//
// Each struct the session reads or writes is a const enum: its members are the fuse.h
// field names with their byte offsets, and SIZE is sizeof(struct). tsc inlines every use
// as a number, so the per-request code reads fields straight from the buffer with no
// decoder object in between. test/fuse-wire.test.ts checks each layout against fuse.h's
// field types under the C alignment rules. Field types are noted where they are not u32.

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
  SETUPMAPPING = 48, REMOVEMAPPING = 49, SYNCFS = 50, TMPFILE = 51, STATX = 52,
  /** 7.45; answered ENOSYS, the kernel then sends COPY_FILE_RANGE */
  COPY_FILE_RANGE_64 = 53,
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
  /** 6.14: requests and replies through io_uring (fuse.h's FUSE_OVER_IO_URING) */
  OVER_IO_URING: 1n << 41n,
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

/** fuse_getattr_in.getattr_flags: fh is valid */
export const GETATTR_FH = 1;
/** fuse_fsync_in.fsync_flags */
export const FSYNC_FDATASYNC = 1;

// ---- headers ----

/** struct fuse_in_header: before every request. total_extlen counts 8-byte units of
 *  extensions (security context, supplementary groups) at the end of the request. */
export const enum InHeader {
  len = 0, opcode = 4, unique = 8 /* u64 */, nodeid = 16 /* u64 */, uid = 24, gid = 28, pid = 32,
  total_extlen = 36 /* u16 */, padding = 38 /* u16 */, SIZE = 40,
}

/** struct fuse_out_header: before every reply; error is -errno (i32). A notification
 *  has unique 0 and its notify code in error. */
export const enum OutHeader {
  len = 0, error = 4 /* i32 */, unique = 8 /* u64 */, SIZE = 16,
}

// ---- attributes and entries ----

/** struct fuse_attr: times in seconds (u64) and nanoseconds */
export const enum FuseAttr {
  ino = 0, size = 8, blocks = 16, atime = 24, mtime = 32, ctime = 40, // u64
  atimensec = 48, mtimensec = 52, ctimensec = 56, mode = 60, nlink = 64, uid = 68, gid = 72,
  rdev = 76, blksize = 80, flags = 84, SIZE = 88,
}

/** struct fuse_entry_out: the reply to LOOKUP, MKNOD, MKDIR, SYMLINK, LINK (and the first
 *  part of CREATE's). nodeid 0 is a negative entry: "no such name", cached entry_valid. */
export const enum EntryOut {
  nodeid = 0, generation = 8, entry_valid = 16, attr_valid = 24, // u64
  entry_valid_nsec = 32, attr_valid_nsec = 36, attr = 40 /* fuse_attr */, SIZE = 40 + FuseAttr.SIZE,
}

/** struct fuse_attr_out: the reply to GETATTR and SETATTR */
export const enum AttrOut {
  attr_valid = 0 /* u64 */, attr_valid_nsec = 8, dummy = 12, attr = 16 /* fuse_attr */, SIZE = 16 + FuseAttr.SIZE,
}

// ---- inodes and names ----

/** struct fuse_forget_in (FORGET, which gets no reply) */
export const enum ForgetIn { nlookup = 0 /* u64 */, SIZE = 8 }

/** struct fuse_batch_forget_in: count fuse_forget_one follow it */
export const enum BatchForgetIn { count = 0, dummy = 4, SIZE = 8 }

/** struct fuse_forget_one */
export const enum ForgetOne { nodeid = 0, nlookup = 8 /* u64 */, SIZE = 16 }

/** struct fuse_getattr_in */
export const enum GetattrIn { getattr_flags = 0, dummy = 4, fh = 8 /* u64 */, SIZE = 16 }

/** struct fuse_setattr_in: valid says which fields count (FATTR_*) */
export const enum SetattrIn {
  valid = 0, padding = 4, fh = 8, size = 16, lock_owner = 24, atime = 32, mtime = 40, ctime = 48, // u64
  atimensec = 56, mtimensec = 60, ctimensec = 64, mode = 68, unused4 = 72, uid = 76, gid = 80,
  unused5 = 84, SIZE = 88,
}

/** struct fuse_mknod_in; the name follows it */
export const enum MknodIn { mode = 0, rdev = 4, umask = 8, padding = 12, SIZE = 16 }

/** struct fuse_mkdir_in; the name follows it */
export const enum MkdirIn { mode = 0, umask = 4, SIZE = 8 }

/** struct fuse_rename_in; the old name and the new name follow it */
export const enum RenameIn { newdir = 0 /* u64 */, SIZE = 8 }

/** struct fuse_rename2_in (RENAME2: rename with RENAME_* flags); the two names follow it */
export const enum Rename2In { newdir = 0 /* u64 */, flags = 8, padding = 12, SIZE = 16 }

/** struct fuse_link_in; the new name follows it (the header's nodeid is the new parent) */
export const enum LinkIn { oldnodeid = 0 /* u64 */, SIZE = 8 }

// LOOKUP, UNLINK, RMDIR, REMOVEXATTR carry only a NUL-terminated name; SYMLINK carries
// the name, then the target, each NUL-terminated.

// ---- open files ----

/** struct fuse_open_in (OPEN, OPENDIR) */
export const enum OpenIn { flags = 0, open_flags = 4, SIZE = 8 }

/** struct fuse_create_in; the name follows it */
export const enum CreateIn { flags = 0, mode = 4, umask = 8, open_flags = 12, SIZE = 16 }

/** struct fuse_open_out (7.40: backing_id in place of the padding) */
export const enum OpenOut { fh = 0 /* u64 */, open_flags = 8, backing_id = 12 /* i32 */, SIZE = 16 }

/** struct fuse_release_in (RELEASE, RELEASEDIR) */
export const enum ReleaseIn { fh = 0 /* u64 */, flags = 8, release_flags = 12, lock_owner = 16 /* u64 */, SIZE = 24 }

/** struct fuse_read_in (READ, READDIR, READDIRPLUS) */
export const enum ReadIn {
  fh = 0 /* u64 */, offset = 8 /* u64 */, size = 16, read_flags = 20, lock_owner = 24 /* u64 */,
  flags = 32, padding = 36, SIZE = 40,
}

/** struct fuse_write_in; the data follows it */
export const enum WriteIn {
  fh = 0 /* u64 */, offset = 8 /* u64 */, size = 16, write_flags = 20, lock_owner = 24 /* u64 */,
  flags = 32, padding = 36, SIZE = 40,
}

/** struct fuse_write_out (WRITE, COPY_FILE_RANGE) */
export const enum WriteOut { size = 0, padding = 4, SIZE = 8 }

/** struct fuse_fsync_in (FSYNC, FSYNCDIR) */
export const enum FsyncIn { fh = 0 /* u64 */, fsync_flags = 8, padding = 12, SIZE = 16 }

/** struct fuse_fallocate_in */
export const enum FallocateIn { fh = 0, offset = 8, length = 16, /* u64 */ mode = 24, padding = 28, SIZE = 32 }

/** struct fuse_ioctl_in; the input data follows */
export const enum IoctlIn { fh = 0 /* u64 */, flags = 8, cmd = 12, arg = 16 /* u64 */, in_size = 24, out_size = 28, SIZE = 32 }

/** struct fuse_ioctl_out; the output data follows */
export const enum IoctlOut { result = 0 /* i32 */, flags = 4, in_iovs = 8, out_iovs = 12, SIZE = 16 }

/** struct fuse_lseek_in */
export const enum LseekIn { fh = 0 /* u64 */, offset = 8 /* u64 */, whence = 16, padding = 20, SIZE = 24 }

/** struct fuse_lseek_out */
export const enum LseekOut { offset = 0 /* u64 */, SIZE = 8 }

/** struct fuse_copy_file_range_in */
export const enum CopyFileRangeIn {
  fh_in = 0, off_in = 8, nodeid_out = 16, fh_out = 24, off_out = 32, len = 40, flags = 48, // u64
  SIZE = 56,
}

// ---- directories ----

/** struct fuse_dirent: one READDIR record; name (namelen bytes) at SIZE, the record
 *  padded with zeros to a multiple of 8 */
export const enum Dirent { ino = 0 /* u64 */, off = 8 /* u64 */, namelen = 16, type = 20, SIZE = 24 }

/** struct fuse_direntplus: one READDIRPLUS record, an entry_out (all zeros: no inode
 *  handed out) then a fuse_dirent */
export const enum DirentPlus { entry_out = 0, dirent = EntryOut.SIZE, SIZE = EntryOut.SIZE + Dirent.SIZE }

// ---- xattrs ----

/** struct fuse_setxattr_in. Without FUSE_SETXATTR_EXT (strata does not ask for it) the
 *  kernel sends only its first COMPAT_SIZE bytes; the name, then the value, follow. */
export const enum SetxattrIn { size = 0, flags = 4, setxattr_flags = 8, padding = 12, SIZE = 16, COMPAT_SIZE = 8 }

/** struct fuse_getxattr_in (GETXATTR: the name follows; LISTXATTR) */
export const enum GetxattrIn { size = 0, padding = 4, SIZE = 8 }

/** struct fuse_getxattr_out: the reply to a GETXATTR/LISTXATTR of size 0 (how many bytes
 *  the value or list needs) */
export const enum GetxattrOut { size = 0, padding = 4, SIZE = 8 }

// ---- the filesystem ----

/** struct fuse_kstatfs, the whole of struct fuse_statfs_out */
export const enum StatfsOut {
  blocks = 0, bfree = 8, bavail = 16, files = 24, ffree = 32, // u64
  bsize = 40, namelen = 44, frsize = 48, padding = 52, spare = 56 /* u32[6] */, SIZE = 80,
}

/** struct fuse_init_in. flags2 (the high 32 flag bits) only counts with FUSE_INIT_EXT. */
export const enum InitIn { major = 0, minor = 4, max_readahead = 8, flags = 12, flags2 = 16, unused = 20 /* u32[11] */, SIZE = 64 }

/** struct fuse_init_out (7.40) */
export const enum InitOut {
  major = 0, minor = 4, max_readahead = 8, flags = 12, max_background = 16 /* u16 */,
  congestion_threshold = 18 /* u16 */, max_write = 20, time_gran = 24, max_pages = 28 /* u16 */,
  map_alignment = 30 /* u16 */, flags2 = 32, max_stack_depth = 36, unused = 40 /* u32[6] */, SIZE = 64,
}

/** struct fuse_notify_inval_inode_out: off < 0 drops the attributes only, not the pages */
export const enum NotifyInvalInodeOut { ino = 0 /* u64 */, off = 8 /* i64 */, len = 16 /* i64 */, SIZE = 24 }
