// The union filesystem: one method per FUSE operation, in overlayfs's semantics and
// on-disk format, over a LayerStack. Serves inode-number based requests; knows nothing of
// the wire. The parts: inodes.ts (nodes and their names), lookup.ts (the layers' rules),
// copyup.ts, xattr.ts, dirfds.ts (directory descriptors), format.ts (the on-disk format).
//
// Every real object is named relative to its parent directory's descriptor: an upper one
// by its node's parent and name (the merged tree is the upper tree), a lower one by its
// Loc. No path longer than one name is ever built.
import * as fs from 'node:fs';
import type { Attr, Caller, DirEntry, Entry, FileSystem, Opened, SetAttr, StatFs } from '../fuse/types';
import { AT_REMOVEDIR, native, RENAME_EXCHANGE, RENAME_NOREPLACE, RENAME_WHITEOUT, UTIME_OMIT } from '../native';
import { CopyUp } from './copyup';
import { DirFds, dirFdBudget } from './dirfds';
import { fail } from './errors';
import { AUFS_WHITEOUT_PREFIX, escapeXattr, isWhiteout, REDIRECT_MAX } from './format';
import { IdMap } from './idmap';
import { Inodes } from './inodes';
import { LayerStack } from './layers';
import { aufsOpaque, checkName, isOpaqueAt, Lookup, NAME_MAX } from './lookup';
import { Loc, locPath, Node, NO_LOWERS, Resolved, nameKey } from './node';
import { errnoName, fstat, isDir, openLowerAt, RealStat, S_IFCHR, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, statAt, statOrNull } from './real';
import { noVisibleXattrs, visibleXattrs } from './xattr';

const O_ACCMODE = 3;
const { O_RDONLY, O_CREAT, O_EXCL, O_NOCTTY, O_NOFOLLOW, O_TRUNC, O_WRONLY, O_NOATIME, O_NONBLOCK } = fs.constants;
const O_TMPFILE = 0o20000000 | fs.constants.O_DIRECTORY;
const DT_UNKNOWN = 0;
const DT_CHR = 2;
const Y = Buffer.from('y');

/** The inode flags ioctls (linux/fs.h), the only ones the kernel sends a FUSE filesystem
 *  for a file (through FUSE_IOCTL, from chattr/lsattr's FS_IOC_[GS]ETFLAGS and
 *  FS_IOC_FS[GS]ETXATTR) */
export const FS_IOC_GETFLAGS = 0x80086601;
export const FS_IOC_SETFLAGS = 0x40086602;
export const FS_IOC_FSGETXATTR = 0x801c581f;
export const FS_IOC_FSSETXATTR = 0x401c5820;

interface Handle {
  node: Node;
  fd: number;
  writable: boolean;
  lower: boolean;
}

interface DirHandle {
  node: Node;
  entries: DirEntry[] | null;
}

export interface UnionOptions {
  /** directory descriptors kept open (see DirFds); default for a 1024-descriptor limit */
  maxDirFds?: number;
  /** The mount's atime options as MOUNT_ATTR_* bits (ATIME_*): upper files and
   *  directories are then read through a detached mount of the upper layer carrying them,
   *  so the kernel applies them exactly as on any mount. Unset: the upper's own mount's. */
  atime?: number;
  /** directories report st_nlink 1 (fuse-overlayfs's static_nlink) */
  staticNlink?: boolean;
  /** owners shown and written (fuse-overlayfs's uidmapping/gidmapping/squash_*; idmap.ts) */
  uids?: IdMap;
  gids?: IdMap;
}

export const ATIME_RELATIME = 0;
export const ATIME_NOATIME = 0x10;
export const ATIME_STRICTATIME = 0x20;
export const ATIME_NODIRATIME = 0x80;

export class UnionFs implements FileSystem {
  private readonly fds: DirFds;
  private readonly inodes: Inodes;
  private readonly look: Lookup;
  private readonly cu: CopyUp;
  private readonly handles = new Map<number, Handle>();
  private readonly dirHandles = new Map<number, DirHandle>();
  /** listings being read without a handle (see readdir), until read to the end */
  private readonly listings = new Map<number, DirEntry[]>();
  private nextFh = 1;
  private destroyed = false;
  /** the upper layer as a detached mount with the atime options (see UnionOptions.atime):
   *  the mount's own descriptor and its root directory's, or -1 */
  private readonly atimeMountFd: number = -1;
  private readonly atimeMount: number = -1;
  /** why there is no atime mount although options asked for one */
  readonly atimeUnavailable: string | null = null;
  private readonly staticNlink: boolean;
  private readonly uids: IdMap;
  private readonly gids: IdMap;
  onStaleAttrs?: (nodeid: number) => void;

  constructor(readonly stack: LayerStack, opts: UnionOptions = {}) {
    this.fds = new DirFds(stack, opts.maxDirFds ?? dirFdBudget(1024));
    this.staticNlink = opts.staticNlink ?? false;
    this.uids = opts.uids ?? IdMap.IDENTITY;
    this.gids = opts.gids ?? IdMap.IDENTITY;
    const lowers: Loc[] = [];
    const upper = stack.upper;
    if (!(upper && isOpaqueAt(upper.rootFd, '', stack.xattrs))) {
      for (const l of stack.lowers) {
        lowers.push(l.rootLoc);
        if (isOpaqueAt(l.rootFd, '', stack.xattrs) || (l.aufs && aufsOpaque(l.rootFd, ''))) break;
      }
    }
    const top = upper ?? stack.lowers[0]!;
    const ino = stack.inodeNumber(top, statAt(top.rootFd, '').ino);
    this.inodes = new Inodes(stack, this.fds, ino, lowers);
    this.inodes.onDrop = (node) => this.listings.delete(node.id);
    this.look = new Lookup(stack, this.fds);
    if (opts.atime !== undefined && upper) {
      try {
        [this.atimeMountFd, this.atimeMount] = native.cloneMountAt(upper.rootFd, opts.atime);
      } catch (e) {
        this.atimeUnavailable = (e as Error).message;
      }
    }
    this.cu = new CopyUp(stack, this.fds, this.inodes);
    this.cu.onMerged = (node) => this.onStaleAttrs?.(node.id);
  }

  get root(): Node {
    return this.inodes.root;
  }

  /** nodes forgotten so far: a hint for when returning memory is worth a collection */
  get dropped(): number {
    return this.inodes.dropped;
  }

  // ---------- where a node's real object is ----------

  /** The directory holding the real object a node shows: its upper copy, else its topmost lower one. */
  private topDir(node: Node): number {
    if (node.upper) return this.fds.upperParent(node);
    const loc = node.topLower;
    if (!loc) fail('ESTALE');
    return this.fds.lowerParent(loc);
  }

  /** Its name there ('' for the root: the directory itself). */
  private topName(node: Node): string {
    return node.upper ? upperName(node) : node.topLower!.name;
  }

  private requireUpper(): void {
    if (!this.stack.upper) fail('EROFS');
  }

  /** A chown; where owners are squashed, one the filesystem refuses is no matter (as
   *  fuse-overlayfs: every object shows the squashed owner anyway). */
  private owning(chown: () => void): void {
    try {
      chown();
    } catch (e) {
      if (this.uids.squash === null && this.gids.squash === null) throw e;
    }
  }

  /** The kernel's attributes of a node, made from (and in) its real object's fresh stat. */
  private attrOf(node: Node, st: RealStat): Attr {
    // Counting subdirectories across layers is not worth it; overlayfs answers 1 too.
    if (node.isDir && (this.staticNlink || node.lowerCount + (node.upper ? 1 : 0) > 1)) st.nlink = 1;
    // a removed file still read from a lower layer shows the lower object's own count,
    // as overlayfs does: that object keeps its name there
    if (node.unlinked && node.upper) st.nlink = 0;
    st.ino = node.ino;
    st.uid = this.uids.shown(st.uid);
    st.gid = this.gids.shown(st.gid);
    return st;
  }

  /** A node without a name (removed, or detached) is stat'ed through an open file: the
   *  given one, else any. */
  private statNode(node: Node, h?: Handle): RealStat {
    // a handle on the upper object is the same file as its name, without a lookup
    if (h && !h.lower) return fstat(h.fd);
    if (node.unlinked || node.detached) {
      if (h) return fstat(h.fd);
      for (const o of this.handles.values()) if (o.node.id === node.id) return fstat(o.fd);
    }
    return statAt(this.topDir(node), this.topName(node));
  }

  /** An open file of the node on its upper object, if any. */
  private upperHandleOf(node: Node): Handle | undefined {
    for (const o of this.handles.values()) if (o.node.id === node.id && !o.lower) return o;
    return undefined;
  }

  private entry(node: Node, st: RealStat): Entry {
    node.nlookup++;
    return { nodeid: node.id, attr: this.attrOf(node, st) };
  }

  private childNode(dir: Node, name: string): { node: Node; r: Resolved } {
    const r = this.look.resolveChild(dir, name);
    if (!r) fail('ENOENT');
    return { node: this.inodes.nodeFor(dir, name, r), r };
  }

  // ---------- lookup and attributes ----------

  lookup(_c: Caller, parent: number, name: Buffer): Entry {
    this.fds.settle();
    const dir = this.inodes.dir(parent);
    const k = nameKey(name);
    const r = this.look.resolveChild(dir, k);
    if (!r) fail('ENOENT');
    return this.entry(this.inodes.nodeFor(dir, k, r), r.st);
  }

  forget(nodeid: number, n: number): void {
    this.inodes.forget(nodeid, n);
  }

  getattr(_c: Caller, nodeid: number, fh?: number): Attr {
    this.fds.settle();
    const node = this.inodes.get(nodeid);
    return this.attrOf(node, this.statNode(node, fh !== undefined ? this.handles.get(fh) : undefined));
  }

  setattr(_c: Caller, nodeid: number, set: SetAttr, fh?: number): Attr {
    this.fds.settle();
    const node = this.inodes.get(nodeid);
    this.requireUpper();
    let h = fh !== undefined ? this.handles.get(fh) : undefined;
    // fchmod(2) and the like arrive without the handle: a file without a name is
    // reached through any of its open files
    if (!h && node.unlinked) h = this.upperHandleOf(node);
    this.cu.copyUp(node, !(set.size === 0));
    // through the caller's open file when it is on the upper object (fchown(2) and the
    // like arrive with it), else by name; through any open file once the name is gone
    const byName = !((h && !h.lower) || node.unlinked);
    if (set.size !== undefined) {
      if (h && h.writable) fs.ftruncateSync(h.fd, set.size);
      else if (!node.unlinked) truncateAt(this.fds.upperParent(node), upperName(node), set.size);
      else fail('EBADF');
    }
    const chown = set.uid !== undefined || set.gid !== undefined;
    const uid = set.uid === undefined ? -1 : this.uids.disk(set.uid);
    const gid = set.gid === undefined ? -1 : this.gids.disk(set.gid);
    const a = set.atime ?? [0, UTIME_OMIT];
    const m = set.mtime ?? [0, UTIME_OMIT];
    const times = set.atime !== undefined || set.mtime !== undefined;
    if (byName) {
      const dfd = this.fds.upperParent(node);
      const name = upperName(node);
      if (chown) this.owning(() => native.chownAt(dfd, name, uid, gid));
      if (set.mode !== undefined && node.type !== S_IFLNK) native.chmodAt(dfd, name, set.mode & 0o7777);
      if (times) native.utimensAt(dfd, name, a[0], a[1], m[0], m[1]);
    } else if (h) {
      if (chown) this.owning(() => fs.fchownSync(h.fd, uid, gid));
      if (set.mode !== undefined) fs.fchmodSync(h.fd, set.mode & 0o7777);
      if (times) native.utimensAt(h.fd, '', a[0], a[1], m[0], m[1]);
    }
    return this.attrOf(node, this.statNode(node, h));
  }

  readlink(_c: Caller, nodeid: number): Buffer {
    this.fds.settle();
    const node = this.inodes.get(nodeid);
    return native.readlinkAt(this.topDir(node), this.topName(node));
  }

  // ---------- creating names ----------

  /** Make a new object named `name` in `dir` in the upper layer, owned by the caller. Over a
   *  whiteout, the object is made in the work dir and renamed over it, so the lower object
   *  never shows through; a directory made there is opaque. */
  private createIn(c: Caller, dir: Node, name: string, mode: number, umask: number, make: (dirfd: number, name: string) => number | void): { node: Node; st: RealStat } {
    this.fds.settle();
    this.requireUpper();
    checkName(name);
    this.cu.copyUp(dir);
    const dfd = this.fds.upper(dir);
    const dst = fstat(dfd);
    const isDirectory = (mode & S_IFMT) === S_IFDIR;
    let perm = mode & 0o7777;
    const uid = this.uids.disk(c.uid);
    let gid = this.gids.disk(c.gid);
    if (dst.mode & 0o2000) {
      gid = dst.gid; // a setgid directory hands down its group, and its setgid bit to subdirectories
      if (isDirectory) perm |= 0o2000;
    }
    const create = (d: number, n: string): number | undefined => {
      process.umask(umask);
      try {
        return make(d, n) ?? undefined;
      } finally {
        process.umask(0);
      }
    };
    // through the new file's descriptor when there is one
    const finish = (d: number, n: string, fd: number | undefined): void => {
      if (fd !== undefined) this.owning(() => fs.fchownSync(fd, uid, gid));
      else this.owning(() => native.chownAt(d, n, uid, gid));
      // chown cleared setuid/setgid: put them back over what umask and ACLs left
      if ((mode & S_IFMT) === S_IFLNK || !(perm & 0o7000)) return;
      if (fd !== undefined) fs.fchmodSync(fd, (fstat(fd).mode & 0o777) | (perm & 0o7000));
      else native.chmodAt(d, n, (statAt(d, n).mode & 0o777) | (perm & 0o7000));
    };
    // Made in place unless the name is taken; a whiteout there is replaced atomically.
    let fd: number | undefined;
    let overWhiteout = false;
    try {
      fd = create(dfd, name);
    } catch (e) {
      if ((e as { code?: string }).code !== 'EEXIST') throw e;
      const existing = statOrNull(dfd, name);
      if (!existing || !isWhiteout(existing)) throw e;
      overWhiteout = true;
    }
    if (overWhiteout) {
      const work = this.stack.workFd();
      const tmp = this.stack.tmpName();
      try {
        fd = create(work, tmp);
        finish(work, tmp, fd);
        if (isDirectory) {
          native.setxattrAt(work, tmp, this.stack.xattrs.opaque, Y, 0);
          native.renameAt2(work, tmp, dfd, name, RENAME_EXCHANGE);
          native.unlinkAt(work, tmp, 0); // the whiteout, now in the work dir
        } else {
          native.renameAt2(work, tmp, dfd, name, 0);
        }
      } catch (e) {
        if (fd !== undefined) fs.closeSync(fd);
        this.stack.removeTmp(tmp);
        throw e;
      }
    } else {
      try {
        finish(dfd, name, fd);
      } catch (e) {
        if (fd !== undefined) fs.closeSync(fd);
        try {
          native.unlinkAt(dfd, name, isDirectory ? AT_REMOVEDIR : 0);
        } catch {
          // the error that matters is the first one
        }
        throw e;
      }
    }
    const st = fd !== undefined ? fstat(fd) : statAt(dfd, name);
    const node = this.inodes.nodeFor(dir, name, { upper: true, lowers: NO_LOWERS, st, layer: 0 });
    return { node, st };
  }

  symlink(c: Caller, parent: number, name: Buffer, target: Buffer): Entry {
    const { node, st } = this.createIn(c, this.inodes.dir(parent), nameKey(name), S_IFLNK | 0o777, 0, (d, n) => native.symlinkAt(target, d, n));
    return this.entry(node, st);
  }

  mknod(c: Caller, parent: number, name: Buffer, mode: number, rdev: number, umask = 0): Entry {
    // a 0/0 character device is a whiteout on disk: nobody may make one through the union
    if ((mode & S_IFMT) === S_IFCHR && rdev === 0) fail('EPERM');
    const { node, st } = this.createIn(c, this.inodes.dir(parent), nameKey(name), mode, umask, (d, n) => native.mknodAt(d, n, mode, rdev));
    return this.entry(node, st);
  }

  mkdir(c: Caller, parent: number, name: Buffer, mode: number, umask = 0): Entry {
    const { node, st } = this.createIn(c, this.inodes.dir(parent), nameKey(name), S_IFDIR | (mode & 0o7777), umask, (d, n) => native.mkdirAt(d, n, mode & 0o7777));
    return this.entry(node, st);
  }

  create(c: Caller, parent: number, name: Buffer, mode: number, flags: number, umask = 0): { entry: Entry; opened: Opened } {
    let fd = -1;
    const oflags = (flags & ~(O_NOCTTY | O_TRUNC)) | O_CREAT | O_EXCL | O_NOFOLLOW;
    const { node, st } = this.createIn(c, this.inodes.dir(parent), nameKey(name), S_IFREG | (mode & 0o7777), umask, (d, n) => {
      fd = native.openAt(d, n, oflags, mode & 0o7777);
      return fd;
    });
    const entry = this.entry(node, st);
    fd = this.throughAtimeMount(fd, oflags);
    return { entry, opened: this.addHandle(node, fd, (flags & O_ACCMODE) !== O_RDONLY) };
  }

  /** An upper file's descriptor for its reads and writes, opened anew through the atime
   *  mount where there is one (reads through it, the kernel's passthrough ones too, follow
   *  the mount's atime options); else, or if that fails, fd itself. Not for a file
   *  link(2) will need: a descriptor of another mount cannot be linked into this one. */
  private throughAtimeMount(fd: number, oflags: number): number {
    if (this.atimeMount < 0) return fd;
    let again: number;
    try {
      again = native.reopenIn(this.atimeMount, fd, oflags & ~(O_CREAT | O_EXCL | O_TRUNC | O_NOCTTY | O_NOFOLLOW));
    } catch {
      return fd;
    }
    fs.closeSync(fd);
    return again;
  }

  /** O_TMPFILE: a file without a name, made in the work dir (the upper's filesystem),
   *  owned as a file created in `parent` would be; link(2) can give it a name there. */
  tmpfile(c: Caller, parent: number, mode: number, flags: number, umask = 0): { entry: Entry; opened: Opened } {
    this.fds.settle();
    this.requireUpper();
    const dir = this.inodes.dir(parent);
    this.cu.copyUp(dir);
    const dst = fstat(this.fds.upper(dir));
    const perm = mode & 0o7777;
    const gid = dst.mode & 0o2000 ? dst.gid : c.gid;
    const oflags = (flags & ~(O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_TMPFILE)) | O_TMPFILE;
    process.umask(umask);
    let fd: number;
    try {
      fd = native.openAt(this.stack.workFd(), '.', oflags, perm);
    } finally {
      process.umask(0);
    }
    try {
      fs.fchownSync(fd, c.uid, gid);
      if (perm & 0o7000) fs.fchmodSync(fd, (fstat(fd).mode & 0o777) | (perm & 0o7000));
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
    const st = fstat(fd);
    const node = this.inodes.unnamed(S_IFREG, this.stack.inodeNumber(this.stack.upper!, st.ino));
    const entry = this.entry(node, st);
    return { entry, opened: this.addHandle(node, fd, (flags & O_ACCMODE) !== O_RDONLY) };
  }

  link(_c: Caller, nodeid: number, newParent: number, newName: Buffer): Entry {
    this.fds.settle();
    const node = this.inodes.get(nodeid);
    if (node.isDir) fail('EPERM');
    const dir = this.inodes.dir(newParent);
    const k = nameKey(newName);
    this.requireUpper();
    checkName(k);
    this.cu.copyUp(node);
    this.cu.copyUp(dir);
    // a file without a name (O_TMPFILE; the kernel refuses any other) is linked by its open file
    let sfd: number;
    let sname = '';
    if (node.unlinked) {
      const h = this.upperHandleOf(node);
      if (!h) fail('ENOENT');
      sfd = h.fd;
    } else {
      sfd = this.fds.upperParent(node);
      sname = upperName(node);
    }
    const dfd = this.fds.upper(dir);
    const existing = statOrNull(dfd, k);
    if (existing && !isWhiteout(existing)) fail('EEXIST');
    if (existing) {
      const work = this.stack.workFd();
      const tmp = this.stack.tmpName();
      native.linkAt(sfd, sname, work, tmp);
      native.renameAt2(work, tmp, dfd, k, 0);
    } else {
      native.linkAt(sfd, sname, dfd, k);
    }
    this.inodes.addHardLink(node, dir, k);
    return this.entry(node, statAt(dfd, k));
  }

  // ---------- removing names ----------

  /** Replace the upper entry `name` in dirfd (or nothing) with a whiteout, atomically. */
  private whiteoutAt(dirfd: number, name: string, replacing: 'none' | 'file' | 'dir'): void {
    if (replacing === 'none') {
      native.mknodAt(dirfd, name, S_IFCHR, 0);
      return;
    }
    const work = this.stack.workFd();
    const tmp = this.stack.tmpName();
    native.mknodAt(work, tmp, S_IFCHR, 0);
    if (replacing === 'file') {
      native.renameAt2(work, tmp, dirfd, name, 0);
    } else {
      native.renameAt2(work, tmp, dirfd, name, RENAME_EXCHANGE);
      this.stack.removeTmp(tmp); // the old upper dir: whiteouts only
    }
  }

  unlink(_c: Caller, parent: number, name: Buffer): void {
    this.fds.settle();
    const dir = this.inodes.dir(parent);
    this.requireUpper();
    const k = nameKey(name);
    const { node, r } = this.childNode(dir, k);
    if (node.isDir) fail('EISDIR');
    this.cu.copyUp(dir);
    const dfd = this.fds.upper(dir);
    const hidden = this.look.lowerHas(dir, k);
    if (r.upper) {
      if (hidden) this.whiteoutAt(dfd, k, 'file');
      else native.unlinkAt(dfd, k, 0);
    } else {
      this.whiteoutAt(dfd, k, 'none');
    }
    this.inodes.dropLink(node, dir, k);
  }

  rmdir(_c: Caller, parent: number, name: Buffer): void {
    this.fds.settle();
    const dir = this.inodes.dir(parent);
    this.requireUpper();
    const k = nameKey(name);
    const { node, r } = this.childNode(dir, k);
    if (!node.isDir) fail('ENOTDIR');
    if (this.listDir(node).length) fail('ENOTEMPTY');
    this.cu.copyUp(dir);
    const dfd = this.fds.upper(dir);
    const hidden = this.look.lowerHas(dir, k);
    if (r.upper) {
      if (hidden) {
        this.whiteoutAt(dfd, k, 'dir');
      } else {
        const tmp = this.stack.tmpName();
        native.renameAt2(dfd, k, this.stack.workFd(), tmp, 0);
        this.stack.removeTmp(tmp);
      }
    } else {
      this.whiteoutAt(dfd, k, 'none');
    }
    this.fds.forget(node);
    this.inodes.dropLink(node, dir, k);
  }

  // ---------- rename ----------

  /** Before a directory moves, as overlayfs's rename does: one that merges lower dirs keeps
   *  merging them through a redirect (its old name within the same parent, else its lower
   *  path from the layer root, EXDEV when that is longer than redirect_max); one that
   *  merges none is made opaque when it lands in a merged parent. */
  private prepareMovedDir(node: Node, dirfd: number, name: string, samedir: boolean, newDir: Node): void {
    if (node.lowers.length) {
      if (!this.stack.redirects) fail('EXDEV', 'a merged directory moves only by copying here (no redirects with userxattr)');
      const cur = native.getxattrAt(dirfd, name, this.stack.xattrs.redirect);
      if (cur && cur.length && (samedir || cur[0] === 0x2f)) return;
      let redirect = name;
      if (!samedir) {
        const p = locPath(node.lowers[0]!, REDIRECT_MAX - 1);
        if (p === null) fail('EXDEV', 'redirect longer than redirect_max');
        redirect = '/' + p;
      }
      native.setxattrAt(dirfd, name, this.stack.xattrs.redirect, Buffer.from(redirect, 'latin1'), 0);
    } else if (newDir.lowers.length && !isOpaqueAt(dirfd, name, this.stack.xattrs)) {
      native.setxattrAt(dirfd, name, this.stack.xattrs.opaque, Y, 0);
    }
  }

  rename(_c: Caller, parent: number, name: Buffer, newParent: number, newName: Buffer, flags: number): void {
    this.fds.settle();
    if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) fail('EINVAL');
    const exchange = (flags & RENAME_EXCHANGE) !== 0;
    const od = this.inodes.dir(parent);
    const nd = this.inodes.dir(newParent);
    this.requireUpper();
    const k = nameKey(name);
    const nk = nameKey(newName);
    const { node: src } = this.childNode(od, k);
    const rd = this.look.resolveChild(nd, nk);
    const dst = rd ? this.inodes.nodeFor(nd, nk, rd) : null;
    if (dst && dst.id === src.id) return;
    if ((flags & RENAME_NOREPLACE) && dst) fail('EEXIST');
    if (exchange && !dst) fail('ENOENT');
    for (let a: Node | null = nd; a; a = a.parent) if (a.id === src.id) fail('EINVAL');
    if (dst && exchange) for (let a: Node | null = od; a; a = a.parent) if (a.id === dst.id) fail('EINVAL');
    if (dst && !exchange) {
      if (src.isDir && !dst.isDir) fail('ENOTDIR');
      if (!src.isDir && dst.isDir) fail('EISDIR');
    }
    // without redirects a merged directory cannot move: say so before anything is copied up
    if (!this.stack.redirects && ((src.isDir && src.lowers.length) || (exchange && dst!.isDir && dst!.lowers.length))) fail('EXDEV');
    // overlayfs checks a target with lower layers itself, before any copy-up; a target that
    // is upper only it leaves to the upper's rename, after copying the source up
    const notEmpty = !!dst && !exchange && dst.isDir && this.listDir(dst).length > 0;
    if (notEmpty && dst!.lowers.length) fail('ENOTEMPTY');
    this.cu.copyUp(od);
    this.cu.copyUp(nd);
    this.cu.copyUp(src);
    if (notEmpty) fail('ENOTEMPTY');
    if (exchange) this.cu.copyUp(dst!);
    const samedir = od.id === nd.id;
    const ofd = this.fds.upper(od);
    const nfd = this.fds.upper(nd);
    if (src.isDir) this.prepareMovedDir(src, ofd, k, samedir, nd);
    if (exchange) {
      if (dst!.isDir) this.prepareMovedDir(dst!, nfd, nk, samedir, od);
      native.renameAt2(ofd, k, nfd, nk, RENAME_EXCHANGE);
      this.inodes.moveLink(src, od, k, nd, nk);
      this.inodes.moveLink(dst!, nd, nk, od, k);
      return;
    }
    const whiteout = this.look.lowerHas(od, k);
    const upperDst = statOrNull(nfd, nk);
    if (upperDst && isWhiteout(upperDst) && src.isDir) {
      native.renameAt2(ofd, k, nfd, nk, RENAME_EXCHANGE);
      if (!whiteout) native.unlinkAt(ofd, k, 0);
    } else {
      // the target is empty in the union but its upper dir may hold whiteouts
      if (upperDst && isDir(upperDst)) clearDir(nfd, nk);
      native.renameAt2(ofd, k, nfd, nk, whiteout ? RENAME_WHITEOUT : 0);
    }
    if (dst) {
      if (dst.isDir) this.fds.forget(dst);
      this.inodes.dropLink(dst, nd, nk);
    }
    this.inodes.moveLink(src, od, k, nd, nk);
  }

  // ---------- files ----------

  private addHandle(node: Node, fd: number, writable: boolean): Opened {
    const fh = this.nextFh++;
    const lower = !node.upper;
    this.handles.set(fh, { node, fd, writable, lower });
    node.opens++;
    if (lower) node.lowerOpens++;
    // The kernel opens a passthrough file's backing file on our fd's path with the
    // reader's flags, not our O_NOATIME: a lower file goes to it only from its layer's
    // noatime mount. Elsewhere its reads are served from our O_NOATIME fd.
    const pass = !lower || this.stack.lower(node.topLower!.layer).noatimeMount;
    return { fh, fd, backingKey: pass ? node.key : undefined, keepCache: lower, writable };
  }

  private handle(fh: number): Handle {
    const h = this.handles.get(fh);
    if (!h) fail('EBADF');
    return h;
  }

  open(_c: Caller, nodeid: number, flags: number): Opened {
    this.fds.settle();
    const node = this.inodes.get(nodeid);
    const writable = (flags & O_ACCMODE) !== O_RDONLY;
    if (writable || flags & O_TRUNC) {
      this.requireUpper();
      const readers = !node.upper && node.lowerOpens > 0;
      this.cu.copyUp(node, !(flags & O_TRUNC));
      if (readers) {
        // The kernel ties an inode to one backing file while any file is open on it, and
        // readers hold the lower one. ESTALE makes the kernel look the name up again
        // (LOOKUP_REVAL) and retry the open on a new inode, backed by the upper copy.
        this.inodes.detach(node);
        fail('ESTALE');
      }
    }
    const oflags = (flags & ~(O_CREAT | O_EXCL | O_NOCTTY)) | O_NOFOLLOW;
    // lower layers are never written, not even atime
    let fd = node.upper ? native.openAt(this.topDir(node), this.topName(node), oflags, 0) : openLowerAt(this.topDir(node), this.topName(node), oflags);
    if (node.upper) fd = this.throughAtimeMount(fd, oflags);
    return this.addHandle(node, fd, writable);
  }

  renewNode(nodeid: number): void {
    const node = this.inodes.get(nodeid);
    if (node.linkCount) this.inodes.detach(node);
  }

  read(fh: number, offset: number, size: number): Buffer {
    const h = this.handle(fh);
    const buf = Buffer.allocUnsafe(size);
    const n = fs.readSync(h.fd, buf, 0, size, offset);
    return buf.subarray(0, n);
  }

  write(fh: number, offset: number, data: Buffer): number {
    const h = this.handle(fh);
    return fs.writeSync(h.fd, data, 0, data.length, offset);
  }

  release(fh: number): void {
    const h = this.handles.get(fh);
    if (!h) return;
    this.handles.delete(fh);
    fs.closeSync(h.fd);
    h.node.opens--;
    if (h.lower) h.node.lowerOpens--;
    this.inodes.maybeDrop(h.node);
  }

  fsync(fh: number, datasync: boolean): void {
    const h = this.handle(fh);
    if (this.stack.volatile) return; // as overlayfs: a volatile mount syncs nothing
    if (datasync) fs.fdatasyncSync(h.fd);
    else fs.fsyncSync(h.fd);
  }

  fallocate(fh: number, mode: number, offset: number, length: number): void {
    native.fallocate(this.handle(fh).fd, mode, offset, length);
  }

  lseek(fh: number, offset: number, whence: number): number {
    return native.lseek(this.handle(fh).fd, offset, whence);
  }

  copyFileRange(fhIn: number, offIn: number, fhOut: number, offOut: number, len: number): number {
    return native.copyFileRange(this.handle(fhIn).fd, offIn, this.handle(fhOut).fd, offOut, len);
  }

  /** The inode flags (FS_IOC_[GS]ETFLAGS, FS_IOC_FS[GS]ETXATTR) of the real object on
   *  top, as overlayfs does: set on the upper one, copied up first. `arg` is what the
   *  caller passed; the answer is what the ioctl wrote back (outSize bytes). */
  ioctl(_c: Caller, nodeid: number, fh: number, cmd: number, arg: Buffer, outSize: number): Buffer {
    this.fds.settle();
    const node = this.inodes.get(nodeid);
    const set = cmd === FS_IOC_SETFLAGS || cmd === FS_IOC_FSSETXATTR;
    if (!set && cmd !== FS_IOC_GETFLAGS && cmd !== FS_IOC_FSGETXATTR) fail('ENOTTY');
    if (node.type !== S_IFREG && !node.isDir) fail('ENOTTY');
    if (set) {
      this.requireUpper();
      this.cu.copyUp(node);
    }
    const buf = Buffer.alloc(Math.max(arg.length, outSize, 32));
    arg.copy(buf);
    if (node.isDir) {
      native.ioctlBuf(node.upper ? this.fds.upper(node) : this.fds.lower(node.topLower!), cmd, buf);
    } else if (node.unlinked || node.detached) {
      const mine = this.handles.get(fh);
      const h = mine && mine.node.id === node.id && (!set || !mine.lower) ? mine : this.upperHandleOf(node);
      if (!h) fail('ESTALE');
      native.ioctlBuf(h.fd, cmd, buf);
    } else {
      const fd = native.openAt(this.topDir(node), this.topName(node), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | (node.upper ? 0 : O_NOATIME), 0);
      try {
        native.ioctlBuf(fd, cmd, buf);
      } finally {
        fs.closeSync(fd);
      }
    }
    // the upper object's ctime moved, with no request about its attributes
    if (set) this.onStaleAttrs?.(node.id);
    return buf.subarray(0, outSize);
  }

  // ---------- directories ----------

  /** The merged listing: each name once, the topmost layer's, whiteouts hidden. `read`:
   *  a caller reads it (readdir), which moves the upper directory's atime as the mount's
   *  atime options say. */
  private listDir(node: Node, read = false): DirEntry[] {
    const seen = new Set<string>();
    const out: DirEntry[] = [];
    if (node.upper && this.stack.upper) {
      const fd = this.fds.upper(node);
      this.listInto(fd, seen, out, false, read ? this.readThroughAtimeMount(fd) : null);
    }
    for (const loc of node.lowers) this.listInto(this.fds.lower(loc), seen, out, this.stack.lower(loc.layer).aufs);
    return out;
  }

  /** An upper directory's entries read through the atime mount (our own descriptors do
   *  not move atimes), or null where there is none. */
  private readThroughAtimeMount(dirfd: number): Buffer | null {
    if (this.atimeMount < 0) return null;
    let fd: number;
    try {
      fd = native.reopenIn(this.atimeMount, dirfd, O_RDONLY | fs.constants.O_DIRECTORY);
    } catch {
      return null;
    }
    try {
      return native.readdirFd(fd, false);
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Adds one layer's entries: names not seen above, whiteouts not at all (in an AUFS
   *  layer, a .wh. file hides its name in the layers below). `raw`: the entries of fd's
   *  directory when read already. */
  private listInto(fd: number, seen: Set<string>, out: DirEntry[], aufs: boolean, raw: Buffer | null = null): void {
    forEachEntry(raw ?? this.fds.readdir(fd), (name, ino, type) => {
      const k = nameKey(name);
      if (aufs && k.startsWith(AUFS_WHITEOUT_PREFIX)) {
        seen.add(k.slice(AUFS_WHITEOUT_PREFIX.length));
        return;
      }
      if (seen.has(k)) return;
      seen.add(k);
      if (type === DT_CHR || type === DT_UNKNOWN) {
        const st = statOrNull(fd, k);
        if (!st || isWhiteout(st)) return;
      }
      out.push({ name, ino, type: type === DT_UNKNOWN ? 0 : type });
    });
  }

  opendir(_c: Caller, nodeid: number): number {
    const node = this.inodes.dir(nodeid);
    const fh = this.nextFh++;
    this.dirHandles.set(fh, { node, entries: null });
    node.opens++;
    return fh;
  }

  readdir(nodeid: number, fh: number, offset: number): DirEntry[] {
    this.fds.settle();
    if (fh === 0) {
      const node = this.inodes.dir(nodeid);
      let entries = this.listings.get(node.id);
      if (offset === 0 || !entries) this.listings.set(node.id, (entries = this.listDir(node, true)));
      if (offset >= entries.length) this.listings.delete(node.id); // read to the end
      return entries;
    }
    const h = this.dirHandles.get(fh);
    if (!h) fail('EBADF');
    if (offset === 0 || !h.entries) h.entries = this.listDir(h.node, true);
    return h.entries;
  }

  releasedir(fh: number): void {
    const h = this.dirHandles.get(fh);
    if (!h) return;
    this.dirHandles.delete(fh);
    h.node.opens--;
    this.inodes.maybeDrop(h.node);
  }

  statfs(_nodeid: number): StatFs {
    const top = this.stack.upper ?? this.stack.lowers[0]!;
    const s = fs.statfsSync(top.dir);
    return { blocks: s.blocks, bfree: s.bfree, bavail: s.bavail, files: s.files, ffree: s.ffree, bsize: s.bsize, namelen: NAME_MAX, frsize: s.bsize };
  }

  // ---------- xattrs ----------

  // trusted.overlay.* (user.overlay.* with userxattr) is the union's own; a name in it set
  // through the mount is stored escaped as trusted.overlay.overlay.*, as overlayfs does,
  // and shown unescaped.

  setxattr(_c: Caller, nodeid: number, name: Buffer, value: Buffer, flags: number): void {
    this.fds.settle();
    const node = this.inodes.get(nodeid);
    this.requireUpper();
    this.cu.copyUp(node);
    native.setxattrAt(this.fds.upperParent(node), upperName(node), escapeXattr(nameKey(name), this.stack.xattrs), value, flags);
  }

  getxattr(_c: Caller, nodeid: number, name: Buffer): Buffer {
    this.fds.settle();
    const node = this.inodes.get(nodeid);
    const v = native.getxattrAt(this.topDir(node), this.topName(node), escapeXattr(nameKey(name), this.stack.xattrs));
    if (v === null) fail('ENODATA');
    return v;
  }

  listxattr(c: Caller, nodeid: number): Buffer {
    this.fds.settle();
    const node = this.inodes.get(nodeid);
    return visibleXattrs(this.topDir(node), this.topName(node), c.uid === 0, this.stack.xattrs);
  }

  xattrFree(nodeid: number): boolean {
    this.fds.settle();
    const node = this.inodes.get(nodeid);
    return noVisibleXattrs(this.topDir(node), this.topName(node), this.stack.xattrs);
  }

  removexattr(_c: Caller, nodeid: number, name: Buffer): void {
    this.fds.settle();
    const node = this.inodes.get(nodeid);
    this.requireUpper();
    const real = escapeXattr(nameKey(name), this.stack.xattrs);
    // removing what is not there needs no copy-up
    if (!node.upper && native.getxattrAt(this.topDir(node), this.topName(node), real) === null) fail('ENODATA');
    this.cu.copyUp(node);
    native.removexattrAt(this.fds.upperParent(node), upperName(node), real);
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const h of this.handles.values()) {
      try { fs.closeSync(h.fd); } catch { /* closing anyway */ }
    }
    this.handles.clear();
    this.fds.clear();
    if (this.atimeMount >= 0) {
      fs.closeSync(this.atimeMount);
      fs.closeSync(this.atimeMountFd);
    }
    this.stack.close();
  }
}

/** A node's name in its parent's upper directory ('' for the root: the directory itself). */
function upperName(node: Node): string {
  return node.name;
}

/** Each entry of a directory, as getdents gives them. */
function forEachEntry(raw: Buffer, fn: (name: Buffer, ino: number, type: number) => void): void {
  for (let pos = 0; pos < raw.length;) {
    const ino = raw.readUInt32LE(pos) + raw.readUInt32LE(pos + 4) * 4294967296;
    const type = raw[pos + 8]!;
    const len = raw.readUInt16LE(pos + 9);
    fn(raw.subarray(pos + 11, pos + 11 + len), ino, type);
    pos += 11 + len;
  }
}

/** Removes the entries (whiteouts) of the upper directory `name` in dirfd. */
function clearDir(dirfd: number, name: string): void {
  const fd = native.openDirAt(dirfd, name);
  if (fd < 0) fail(errnoName(fd));
  try {
    forEachEntry(native.readdirFd(fd, false), (n) => native.unlinkAt(fd, n, 0));
  } finally {
    fs.closeSync(fd);
  }
}

function truncateAt(dirfd: number, name: string, size: number): void {
  const fd = native.openAt(dirfd, name, O_WRONLY | O_NOFOLLOW | O_NONBLOCK, 0);
  try {
    fs.ftruncateSync(fd, size);
  } finally {
    fs.closeSync(fd);
  }
}
