// What a filesystem served over FUSE must provide: inode-number based operations, like
// the kernel's own requests, in plain values. Errors are thrown as objects with .code "EXXX".

export interface Caller {
  uid: number;
  gid: number;
  pid: number;
}

/** stat(2) data as the kernel wants it; times split in seconds and nanoseconds. */
export interface Attr {
  ino: number;
  size: number;
  blocks: number;
  atime: number;
  atimeNs: number;
  mtime: number;
  mtimeNs: number;
  ctime: number;
  ctimeNs: number;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: number;
}

export interface Entry {
  nodeid: number;
  attr: Attr;
}

export interface SetAttr {
  mode?: number;
  uid?: number;
  gid?: number;
  size?: number;
  /** [sec, nsec]; nsec may be UTIME_NOW */
  atime?: [number, number];
  mtime?: [number, number];
}

export interface Opened {
  fh: number;
  /** The real file: reads of the handle are served from it without the filesystem's code. */
  fd?: number;
  /** Set when the kernel may read and write fd directly (passthrough): the identity of
   *  the real file, which all passthrough handles of one inode must share. */
  backingKey?: number;
  keepCache?: boolean;
  /** open for writing: through a shared mapping of a passthrough file, the real file's
   *  times then change without any request reaching the filesystem */
  writable?: boolean;
}

export interface DirEntry {
  name: Buffer;
  ino: number;
  /** d_type */
  type: number;
}

export interface StatFs {
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  bsize: number;
  namelen: number;
  frsize: number;
}

export interface FileSystem {
  lookup(c: Caller, parent: number, name: Buffer): Entry;
  /** The kernel dropped n references to nodeid. */
  forget(nodeid: number, n: number): void;
  getattr(c: Caller, nodeid: number, fh?: number): Attr;
  setattr(c: Caller, nodeid: number, set: SetAttr, fh?: number): Attr;
  readlink(c: Caller, nodeid: number): Buffer;
  symlink(c: Caller, parent: number, name: Buffer, target: Buffer): Entry;
  /** umask: the caller's, for the filesystem to apply unless the directory's default ACL replaces it */
  mknod(c: Caller, parent: number, name: Buffer, mode: number, rdev: number, umask: number): Entry;
  mkdir(c: Caller, parent: number, name: Buffer, mode: number, umask: number): Entry;
  unlink(c: Caller, parent: number, name: Buffer): void;
  rmdir(c: Caller, parent: number, name: Buffer): void;
  rename(c: Caller, parent: number, name: Buffer, newParent: number, newName: Buffer, flags: number): void;
  link(c: Caller, nodeid: number, newParent: number, newName: Buffer): Entry;
  /** O_TMPFILE in parent: an open file without a name (optional: EOPNOTSUPP) */
  tmpfile?(c: Caller, parent: number, mode: number, flags: number, umask: number): { entry: Entry; opened: Opened };
  /** The ioctls the kernel passes to a FUSE filesystem for files (the inode flags ones);
   *  arg: the caller's input; returns outSize bytes of output (optional: ENOTTY). */
  ioctl?(c: Caller, nodeid: number, fh: number, cmd: number, arg: Buffer, outSize: number): Buffer;
  open(c: Caller, nodeid: number, flags: number): Opened;
  create(c: Caller, parent: number, name: Buffer, mode: number, flags: number, umask: number): { entry: Entry; opened: Opened };
  read(fh: number, offset: number, size: number): Buffer;
  write(fh: number, offset: number, data: Buffer): number;
  release(fh: number): void;
  fsync(fh: number, datasync: boolean): void;
  opendir(c: Caller, nodeid: number): number;
  /** The whole listing, kept stable for the handle; offset 0 (rewinddir) re-reads the
   *  directory. fh 0 (no OPENDIR: the kernel was told it needs none) keeps one listing
   *  per directory from offset 0 until it has been read to the end. */
  readdir(nodeid: number, fh: number, offset: number): DirEntry[];
  releasedir(fh: number): void;
  statfs(nodeid: number): StatFs;
  setxattr(c: Caller, nodeid: number, name: Buffer, value: Buffer, flags: number): void;
  getxattr(c: Caller, nodeid: number, name: Buffer): Buffer;
  listxattr(c: Caller, nodeid: number): Buffer;
  removexattr(c: Caller, nodeid: number, name: Buffer): void;
  /** Set by the session: call it when an inode's attributes change without a request
   *  about that inode (the kernel would keep showing the old ones). */
  onStaleAttrs?: (nodeid: number) => void;
  /** True if the inode has no extended attribute any caller could get or list; it then
   *  keeps none until a SETXATTR or REMOVEXATTR arrives (optional: a shortcut). */
  xattrFree?(nodeid: number): boolean;
  /** The kernel holds nodeid bound to a real file that is no longer the node's (its
   *  passthrough backing file, while files are open on it): give the node's names to a
   *  new node, which the kernel finds when it looks them up again after ESTALE. */
  renewNode?(nodeid: number): void;
  fallocate(fh: number, mode: number, offset: number, length: number): void;
  lseek(fh: number, offset: number, whence: number): number;
  copyFileRange(fhIn: number, offIn: number, fhOut: number, offOut: number, len: number): number;
  /** The kernel no longer uses the mount. */
  destroy(): void;
}
