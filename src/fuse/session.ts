// One FUSE connection: decode each request from /dev/fuse, call the FileSystem, encode the
// reply. Knows the wire format and the kernel's caching rules; knows nothing of layers.
import * as os from 'node:os';
import { native } from '../native';
import {
  ATTR_OUT_SIZE, DIRENT_HEADER, ENTRY_OUT_SIZE, FATTR_ATIME, FATTR_ATIME_NOW, FATTR_FH, FATTR_GID,
  FATTR_MODE, FATTR_MTIME, FATTR_MTIME_NOW, FATTR_SIZE, FATTR_UID, FOPEN_KEEP_CACHE, FOPEN_PASSTHROUGH, IN_HEADER_SIZE, INIT, KERNEL_MINOR, KERNEL_VERSION, NOTIFY_INVAL_INODE, OPEN_OUT_SIZE,
  OUT_HEADER_SIZE, Op,
} from './protocol';
import type { Attr, Caller, Entry, FileSystem, Opened, SetAttr } from './types';

const UTIME_NOW = (1 << 30) - 1;
const MAX_WRITE = 1 << 20;
const BUF_SIZE = MAX_WRITE + 8192;
const ERRNO = os.constants.errno as Record<string, number>;

export interface SessionOptions {
  /** seconds the kernel may trust a name -> inode answer, and an inode's attributes */
  entryTimeout: number;
  attrTimeout: number;
  /** seconds to cache "no such name" */
  negativeTimeout: number;
  /** use FUSE_PASSTHROUGH for open files when the kernel offers it */
  passthrough: boolean;
  /** let the kernel open directories without asking and cache their listings (OPENDIR
   *  answered ENOSYS); else each open gets its own stable listing */
  cacheDirs: boolean;
  debug: boolean;
  log: (msg: string) => void;
}

/** Per inode: how many handles are open in cached mode and in passthrough mode (on which real file). */
interface IoMode {
  cached: number;
  passthrough: number;
  backing: number | null;
  backingId: number;
}

export class FuseSession {
  private passthroughOn = false;
  private readonly ptFiles = new Map<number, number>();
  private readonly ioModes = new Map<number, IoMode>();
  private readonly cachedFiles = new Map<number, number>();
  private readonly entryValid: [number, number];
  private readonly attrValid: [number, number];
  private readonly negValid: [number, number];
  private destroyed = false;
  private req: Buffer = Buffer.alloc(0);
  private readonly out = Buffer.allocUnsafe(BUF_SIZE);
  private readonly notifyBuf = Buffer.alloc(OUT_HEADER_SIZE + 24);
  onEnd: (err?: string) => void = () => {};

  constructor(private readonly fd: number, private readonly fs: FileSystem, private readonly opts: SessionOptions) {
    this.entryValid = split(opts.entryTimeout);
    this.attrValid = split(opts.attrTimeout);
    this.negValid = split(opts.negativeTimeout);
    this.notifyBuf.writeUInt32LE(this.notifyBuf.length, 0);
    this.notifyBuf.writeInt32LE(NOTIFY_INVAL_INODE, 4); // unique stays 0: a notification
    this.notifyBuf.writeBigInt64LE(-1n, 24); // offset: attributes only, not pages
    fs.onStaleAttrs = (nodeid) => this.invalidateAttrs(nodeid);
  }

  /** FUSE_NOTIFY_INVAL_INODE with a negative offset: the kernel drops the inode's cached
   *  attributes (not its pages) and asks again. Written from its own buffer: a reply may
   *  be half built in this.out. */
  private invalidateAttrs(nodeid: number): void {
    writeU64(this.notifyBuf, 16, nodeid);
    // ENOENT: the kernel holds no such inode, so it holds no stale attributes either
    native.writeFd(this.fd, this.notifyBuf);
  }

  start(): void {
    this.req = native.startPoll(this.fd, BUF_SIZE, (len) => {
      if (len < 0) {
        // ENODEV: unmounted. Anything else is a broken connection.
        try { this.destroy(); } catch { /* ending anyway */ }
        this.onEnd(len === -19 ? undefined : `read /dev/fuse: errno ${-len}`);
        return;
      }
      this.handle(len);
    });
  }

  /** Each request arrives in this.req and is answered from this.out before the next one
   *  is read: nothing that outlives a request may keep a view of either. */
  private handle(len: number): void {
    const req = this.req;
    const opcode = req.readUInt32LE(4);
    const nodeid = readU64(req, 16);
    const c: Caller = { uid: req.readUInt32LE(24), gid: req.readUInt32LE(28), pid: req.readUInt32LE(32) };
    const extlen = req.readUInt16LE(36) * 8;
    const body = req.subarray(IN_HEADER_SIZE, len - extlen);
    if (this.opts.debug) this.opts.log(`req ${req.readBigUInt64LE(8)} op ${opcode} node ${nodeid} uid ${c.uid} len ${len}`);
    try {
      this.dispatch(opcode, nodeid, c, body);
    } catch (e) {
      const x = e as { code?: string; errno?: unknown; syscall?: unknown };
      let errno = x.code !== undefined ? ERRNO[x.code] : undefined;
      // libuv has no name for some errnos (EDQUOT arrives as 'UNKNOWN'); a system error
      // still carries its number
      if (errno === undefined && typeof x.errno === 'number' && typeof x.syscall === 'string') errno = -x.errno;
      if (errno === undefined) {
        // A bug in strata, not a filesystem answer: fail this request only, keep serving.
        this.opts.log(`strata-fs: internal error in op ${opcode}: ${(e as Error).stack ?? String(e)}`);
      } else if (this.opts.debug) {
        this.opts.log(`  -> ${x.code ?? errno}`);
      }
      this.replyError(errno ?? ERRNO.EIO);
    }
  }

  private dispatch(op: number, nodeid: number, c: Caller, b: Buffer): void {
    const fs = this.fs;
    switch (op) {
      case Op.INIT: return this.init(b);
      case Op.LOOKUP: {
        const name = cstr(b, 0);
        let entry: Entry;
        try {
          entry = fs.lookup(c, nodeid, name);
        } catch (e) {
          if ((e as { code?: string }).code === 'ENOENT' && this.opts.negativeTimeout > 0) {
            return this.replyNegativeEntry();
          }
          throw e;
        }
        return this.replyEntry(entry);
      }
      case Op.FORGET:
        fs.forget(nodeid, readU64(b, 0));
        return;
      case Op.BATCH_FORGET: {
        const count = b.readUInt32LE(0);
        for (let i = 0; i < count; i++) fs.forget(readU64(b, 8 + i * 16), readU64(b, 16 + i * 16));
        return;
      }
      case Op.GETATTR: {
        const flags = b.readUInt32LE(0);
        const fh = flags & 1 ? readU64(b, 8) : undefined;
        return this.replyAttr(fs.getattr(c, nodeid, fh));
      }
      case Op.SETATTR: return this.replyAttr(this.setattr(c, nodeid, b));
      case Op.READLINK: return this.reply(fs.readlink(c, nodeid));
      case Op.SYMLINK: {
        const name = cstr(b, 0);
        const target = cstr(b, name.length + 1);
        return this.replyEntry(fs.symlink(c, nodeid, name, target));
      }
      case Op.MKNOD: {
        const mode = b.readUInt32LE(0);
        const rdev = b.readUInt32LE(4);
        return this.replyEntry(fs.mknod(c, nodeid, cstr(b, 16), mode, rdev, b.readUInt32LE(8)));
      }
      case Op.MKDIR: return this.replyEntry(fs.mkdir(c, nodeid, cstr(b, 8), b.readUInt32LE(0), b.readUInt32LE(4)));
      case Op.UNLINK: fs.unlink(c, nodeid, cstr(b, 0)); return this.replyEmpty();
      case Op.RMDIR: fs.rmdir(c, nodeid, cstr(b, 0)); return this.replyEmpty();
      case Op.RENAME:
      case Op.RENAME2: {
        // RENAME2 adds flags (and padding) after newdir
        const at = op === Op.RENAME ? 8 : 16;
        const from = cstr(b, at);
        const to = cstr(b, at + from.length + 1);
        fs.rename(c, nodeid, from, readU64(b, 0), to, op === Op.RENAME ? 0 : b.readUInt32LE(8));
        return this.replyEmpty();
      }
      case Op.LINK: return this.replyEntry(fs.link(c, readU64(b, 0), nodeid, cstr(b, 8)));
      case Op.OPEN: {
        const flags = b.readUInt32LE(0);
        const opened = fs.open(c, nodeid, flags);
        const out = this.payload(OPEN_OUT_SIZE);
        return this.replyOpen(nodeid, opened, out, 0);
      }
      case Op.CREATE: {
        const flags = b.readUInt32LE(0);
        const mode = b.readUInt32LE(4);
        const { entry, opened } = fs.create(c, nodeid, cstr(b, 16), mode, flags, b.readUInt32LE(8));
        const out = this.payload(ENTRY_OUT_SIZE + OPEN_OUT_SIZE);
        this.encodeEntry(out, 0, entry);
        return this.replyOpen(entry.nodeid, opened, out, ENTRY_OUT_SIZE);
      }
      case Op.READ: return this.reply(fs.read(readU64(b, 0), readU64(b, 8), b.readUInt32LE(16)));
      case Op.WRITE: {
        const size = b.readUInt32LE(16);
        const n = fs.write(readU64(b, 0), readU64(b, 8), b.subarray(40, 40 + size));
        const out = this.payload(8);
        out.writeUInt32LE(n, 0);
        return this.reply(out);
      }
      // Nothing is buffered between a close and the real file; ENOSYS tells the kernel to
      // stop sending FLUSH on every close.
      case Op.FLUSH: return this.replyError(ERRNO.ENOSYS);
      case Op.RELEASE: {
        const fh = readU64(b, 0);
        this.releaseIo(fh);
        fs.release(fh);
        return this.replyEmpty();
      }
      case Op.FSYNC: fs.fsync(readU64(b, 0), (b.readUInt32LE(8) & 1) !== 0); return this.replyEmpty();
      case Op.OPENDIR: {
        // Every change to a directory goes through this session, and the kernel drops its
        // cached listing when it sees one. ENOSYS tells it that opening a directory needs
        // no round trip (nor does closing it), and it then keeps listings between opens
        // (FOPEN_CACHE_DIR | FOPEN_KEEP_CACHE is its default for that case).
        if (this.opts.cacheDirs) return this.replyError(ERRNO.ENOSYS);
        const fh = fs.opendir(c, nodeid);
        const out = this.payload(OPEN_OUT_SIZE);
        writeU64(out, 0, fh);
        return this.reply(out);
      }
      case Op.READDIR: return this.readdir(c, nodeid, b, false);
      case Op.READDIRPLUS: return this.readdir(c, nodeid, b, true);
      case Op.RELEASEDIR: {
        const fh = readU64(b, 0);
        fs.releasedir(fh);
        return this.replyEmpty();
      }
      case Op.FSYNCDIR: return this.replyEmpty();
      case Op.STATFS: {
        const s = fs.statfs(nodeid);
        const out = this.payload(80);
        writeU64(out, 0, s.blocks);
        writeU64(out, 8, s.bfree);
        writeU64(out, 16, s.bavail);
        writeU64(out, 24, s.files);
        writeU64(out, 32, s.ffree);
        out.writeUInt32LE(s.bsize, 40);
        out.writeUInt32LE(s.namelen, 44);
        out.writeUInt32LE(s.frsize, 48);
        return this.reply(out);
      }
      case Op.SETXATTR: {
        const size = b.readUInt32LE(0);
        const flags = b.readUInt32LE(4);
        const name = cstr(b, 8);
        const value = b.subarray(8 + name.length + 1, 8 + name.length + 1 + size);
        fs.setxattr(c, nodeid, name, value, flags);
        return this.replyEmpty();
      }
      case Op.GETXATTR: {
        const name = cstr(b, 8);
        if (this.opts.debug) this.opts.log(`  getxattr ${name.toString()}`);
        let value: Buffer;
        try {
          value = fs.getxattr(c, nodeid, name);
        } catch (e) {
          if ((e as { code?: string }).code === 'ENODATA') this.noteXattrFree(nodeid);
          throw e;
        }
        return this.replyXattr(b.readUInt32LE(0), value);
      }
      case Op.LISTXATTR: {
        const list = fs.listxattr(c, nodeid);
        if (list.length === 0) this.noteXattrFree(nodeid);
        return this.replyXattr(b.readUInt32LE(0), list);
      }
      case Op.REMOVEXATTR: fs.removexattr(c, nodeid, cstr(b, 0)); return this.replyEmpty();
      case Op.ACCESS: return this.replyEmpty(); // default_permissions: the kernel checked already
      case Op.FALLOCATE:
        fs.fallocate(readU64(b, 0), b.readUInt32LE(24), readU64(b, 8), readU64(b, 16));
        return this.replyEmpty();
      case Op.LSEEK: {
        const off = fs.lseek(readU64(b, 0), readU64(b, 8), b.readUInt32LE(16));
        const out = this.payload(8);
        writeU64(out, 0, off);
        return this.reply(out);
      }
      case Op.COPY_FILE_RANGE: {
        const n = fs.copyFileRange(readU64(b, 0), readU64(b, 8), readU64(b, 24), readU64(b, 32), readU64(b, 40));
        const out = this.payload(8);
        out.writeUInt32LE(n, 0);
        return this.reply(out);
      }
      case Op.INTERRUPT: return; // every request is answered promptly; nothing to cancel
      case Op.DESTROY:
        this.destroy();
        return this.replyEmpty();
      case Op.IOCTL: return this.replyError(ERRNO.ENOTTY);
      case Op.TMPFILE: return this.replyError(ERRNO.EOPNOTSUPP);
      case Op.SYNCFS: return this.replyEmpty();
      default: return this.replyError(ERRNO.ENOSYS);
    }
  }

  /** The filesystem's end, once: at DESTROY, or when the device says unmounted. */
  private destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.fs.destroy();
  }

  private init(b: Buffer): void {
    const major = b.readUInt32LE(0);
    const minor = b.readUInt32LE(4);
    const maxReadahead = b.readUInt32LE(8);
    let kflags = BigInt(b.readUInt32LE(12));
    if (kflags & INIT.INIT_EXT && b.length >= 20) kflags |= BigInt(b.readUInt32LE(16)) << 32n;
    if (major !== KERNEL_VERSION) {
      this.opts.log(`strata-fs: kernel speaks FUSE ${major}.${minor}, need ${KERNEL_VERSION}.x`);
      return this.replyError(ERRNO.EPROTO);
    }
    let want = INIT.ASYNC_READ | INIT.ATOMIC_O_TRUNC | INIT.BIG_WRITES | INIT.DO_READDIRPLUS |
      INIT.PARALLEL_DIROPS | INIT.MAX_PAGES | INIT.CACHE_SYMLINKS | INIT.INIT_EXT | INIT.ASYNC_DIO |
      INIT.DONT_MASK |
      // The kernel then enforces ACLs (default_permissions alone ignores them) and caches
      // them per inode, instead of asking for system.posix_acl_* on every ls -l. With
      // DONT_MASK the umask reaches us, and the upper filesystem applies it unless the
      // directory has a default ACL, as for any local filesystem.
      INIT.POSIX_ACL;
    // Passthrough hands open files to the kernel; the kernel refuses it with writeback cache.
    if (this.opts.passthrough && kflags & INIT.PASSTHROUGH && process.getuid?.() === 0) want |= INIT.PASSTHROUGH;
    // Not HANDLE_KILLPRIV_V2: it would spare the kernel's security.capability probe
    // before each write, but then the kernel leaves clearing setuid/setgid to us, a
    // passthrough write never reaches us, and its cached mode would not see our change.
    const flags = want & kflags;
    this.passthroughOn = (flags & INIT.PASSTHROUGH) !== 0n;
    const out = this.payload(64);
    out.writeUInt32LE(KERNEL_VERSION, 0);
    out.writeUInt32LE(Math.min(minor, KERNEL_MINOR), 4);
    out.writeUInt32LE(maxReadahead, 8);
    out.writeUInt32LE(Number(flags & 0xffffffffn), 12);
    out.writeUInt16LE(64, 16); // max_background
    out.writeUInt16LE(48, 18); // congestion_threshold
    out.writeUInt32LE(MAX_WRITE, 20);
    out.writeUInt32LE(1, 24); // time_gran: nanoseconds
    out.writeUInt16LE(MAX_WRITE / 4096, 28); // max_pages
    out.writeUInt32LE(Number(flags >> 32n), 32);
    out.writeUInt32LE(this.passthroughOn ? 1 : 0, 36); // max_stack_depth
    if (this.opts.debug) this.opts.log(`init: kernel ${major}.${minor} flags ${kflags.toString(16)} -> ${flags.toString(16)}`);
    this.reply(out);
  }

  private setattr(c: Caller, nodeid: number, b: Buffer): Attr {
    const valid = b.readUInt32LE(0);
    const set: SetAttr = {};
    if (valid & FATTR_MODE) set.mode = b.readUInt32LE(68);
    if (valid & FATTR_UID) set.uid = b.readUInt32LE(76);
    if (valid & FATTR_GID) set.gid = b.readUInt32LE(80);
    if (valid & FATTR_SIZE) set.size = readU64(b, 16);
    if (valid & FATTR_ATIME) set.atime = valid & FATTR_ATIME_NOW ? [0, UTIME_NOW] : [readI64(b, 32), b.readUInt32LE(56)];
    if (valid & FATTR_MTIME) set.mtime = valid & FATTR_MTIME_NOW ? [0, UTIME_NOW] : [readI64(b, 40), b.readUInt32LE(60)];
    const fh = valid & FATTR_FH ? readU64(b, 8) : undefined;
    return this.fs.setattr(c, nodeid, set, fh);
  }

  private readdir(c: Caller, nodeid: number, b: Buffer, plus: boolean): void {
    const fh = readU64(b, 0);
    const offset = readU64(b, 8);
    const size = b.readUInt32LE(16);
    const out = this.payload(size);
    let pos = 0;
    // offsets 0 and 1 are "." and ".."; entry i of the listing has offset i + 2
    let i = offset;
    if (i < 2) {
      const self = this.fs.getattr(c, nodeid);
      for (; i < 2; i++) {
        const name = i === 0 ? DOT : DOTDOT;
        const need = direntSize(name.length, plus);
        if (pos + need > size) break;
        pos = this.encodeDirent(out, pos, name, self.ino, 4, i + 1, plus ? null : undefined);
      }
      if (i < 2) return this.reply(out.subarray(0, pos));
    }
    const entries = this.fs.readdir(nodeid, fh, i - 2);
    for (let k = i - 2; k < entries.length; k++, i++) {
      const d = entries[k]!;
      const need = direntSize(d.name.length, plus);
      if (pos + need > size) break;
      if (plus) {
        let entry: Entry | null = null;
        try {
          entry = this.fs.lookup(c, nodeid, d.name);
        } catch {
          entry = null; // gone since the listing was taken: list the name, link nothing
        }
        pos = this.encodeDirent(out, pos, d.name, entry ? entry.attr.ino : d.ino, d.type, i + 1, entry);
      } else {
        pos = this.encodeDirent(out, pos, d.name, d.ino, d.type, i + 1, undefined);
      }
    }
    this.reply(out.subarray(0, pos));
  }

  /** plusEntry undefined: plain dirent; null: direntplus with no inode; Entry: direntplus. */
  private encodeDirent(out: Buffer, pos: number, name: Buffer, ino: number, type: number, off: number, plusEntry: Entry | null | undefined): number {
    if (plusEntry !== undefined) {
      if (plusEntry) this.encodeEntry(out, pos, plusEntry);
      else out.fill(0, pos, pos + ENTRY_OUT_SIZE);
      pos += ENTRY_OUT_SIZE;
    }
    writeU64(out, pos, ino);
    writeU64(out, pos + 8, off);
    out.writeUInt32LE(name.length, pos + 16);
    out.writeUInt32LE(type, pos + 20);
    name.copy(out, pos + DIRENT_HEADER);
    const end = pos + DIRENT_HEADER + name.length;
    const padded = (end + 7) & ~7;
    out.fill(0, end, padded);
    return padded;
  }

  private replyOpen(nodeid: number, opened: Opened, out: Buffer, at: number): void {
    writeU64(out, at, opened.fh);
    // The kernel keeps an inode either in cached mode or backed by one real file; a
    // passthrough open may carry no other flag. Handles of one inode follow the mode of
    // those already open.
    let io = this.ioModes.get(nodeid);
    if (!io) this.ioModes.set(nodeid, (io = { cached: 0, backing: null, backingId: -1, passthrough: 0 }));
    let openFlags = 0;
    let backingId = -1;
    const mayPass = this.passthroughOn && opened.fd !== undefined && opened.backingKey !== undefined && io.cached === 0 &&
      (io.backing === null || io.backing === opened.backingKey);
    if (mayPass) {
      try {
        // one backing id per inode: the kernel opens each file's own backing file from its path
        if (io.backingId < 0) io.backingId = native.backingOpen(this.fd, opened.fd!);
        backingId = io.backingId;
        openFlags = FOPEN_PASSTHROUGH;
        io.backing = opened.backingKey!;
        io.passthrough++;
        this.ptFiles.set(opened.fh, nodeid);
      } catch (e) {
        if (this.opts.debug) this.opts.log(`passthrough refused: ${(e as Error).message}`);
      }
    }
    if (backingId < 0) {
      openFlags = opened.keepCache ? FOPEN_KEEP_CACHE : 0;
      io.cached++;
      this.cachedFiles.set(opened.fh, nodeid);
      if (opened.fd !== undefined) native.serveReads(opened.fh, opened.fd);
    }
    out.writeUInt32LE(openFlags, at + 8);
    out.writeInt32LE(backingId, at + 12);
    this.reply(out);
  }

  private releaseIo(fh: number): void {
    const ptNode = this.ptFiles.get(fh);
    const nodeid = ptNode ?? this.cachedFiles.get(fh);
    if (nodeid === undefined) return;
    const io = this.ioModes.get(nodeid);
    if (ptNode !== undefined) {
      this.ptFiles.delete(fh);
      if (io && --io.passthrough === 0) {
        // An opener looks the id up after our reply, at a time we cannot see: close it
        // only when no handle of the inode is left.
        try { native.backingClose(this.fd, io.backingId); } catch { /* connection gone */ }
        io.backing = null;
        io.backingId = -1;
      }
    } else {
      native.stopServingReads(fh);
      this.cachedFiles.delete(fh);
      if (io) io.cached--;
    }
    if (io && io.cached === 0 && io.passthrough === 0) this.ioModes.delete(nodeid);
  }

  /** Once an inode is known to have no xattrs at all, the native loop answers its
   *  GETXATTR/LISTXATTR itself (and forgets that on any xattr change or FORGET). */
  private noteXattrFree(nodeid: number): void {
    try {
      if (this.fs.xattrFree?.(nodeid)) native.markXattrFree(nodeid);
    } catch {
      // only a shortcut: without it the requests keep coming here
    }
  }

  private replyXattr(size: number, value: Buffer): void {
    if (size === 0) {
      const out = this.payload(8);
      out.writeUInt32LE(value.length, 0);
      return this.reply(out);
    }
    if (value.length > size) return this.replyError(ERRNO.ERANGE);
    this.reply(value);
  }

  private encodeEntry(out: Buffer, at: number, e: Entry): void {
    writeU64(out, at, e.nodeid);
    writeU64(out, at + 8, 0); // generation: nodeids are never reused within a mount
    writeU64(out, at + 16, this.entryValid[0]);
    writeU64(out, at + 24, this.attrValid[0]);
    out.writeUInt32LE(this.entryValid[1], at + 32);
    out.writeUInt32LE(this.attrValid[1], at + 36);
    encodeAttr(out, at + 40, e.attr);
  }

  private replyEntry(e: Entry): void {
    const out = this.payload(ENTRY_OUT_SIZE);
    this.encodeEntry(out, 0, e);
    this.reply(out);
  }

  private replyNegativeEntry(): void {
    const out = this.payload(ENTRY_OUT_SIZE);
    writeU64(out, 16, this.negValid[0]);
    out.writeUInt32LE(this.negValid[1], 32);
    this.reply(out);
  }

  private replyAttr(a: Attr): void {
    const out = this.payload(ATTR_OUT_SIZE);
    writeU64(out, 0, this.attrValid[0]);
    out.writeUInt32LE(this.attrValid[1], 8);
    encodeAttr(out, 16, a);
    this.reply(out);
  }

  private replyEmpty(): void {
    this.reply(EMPTY);
  }

  /** A zeroed reply payload of `size` bytes, staged in the reply buffer after the header. */
  private payload(size: number): Buffer {
    return this.out.fill(0, OUT_HEADER_SIZE, OUT_HEADER_SIZE + size).subarray(OUT_HEADER_SIZE, OUT_HEADER_SIZE + size);
  }

  private reply(payload: Buffer): void {
    // a payload from payload() is in place already
    const staged = payload.buffer === this.out.buffer && payload.byteOffset === this.out.byteOffset + OUT_HEADER_SIZE;
    if (!staged) payload.copy(this.out, OUT_HEADER_SIZE);
    this.send(0, OUT_HEADER_SIZE + payload.length);
  }

  private replyError(errno: number): void {
    this.send(-errno, OUT_HEADER_SIZE);
  }

  private send(error: number, len: number): void {
    const out = this.out;
    out.writeUInt32LE(len, 0);
    out.writeInt32LE(error, 4);
    this.req.copy(out, 8, 8, 16); // the request's unique id
    const r = native.writeFd(this.fd, out, len);
    // ENOENT: the caller was interrupted and the kernel dropped the request
    if (r < 0 && r !== -ERRNO.ENOENT && this.opts.debug) this.opts.log(`reply write failed: errno ${-r}`);
  }
}

const EMPTY = Buffer.alloc(0);
const DOT = Buffer.from('.');
const DOTDOT = Buffer.from('..');

function direntSize(namelen: number, plus: boolean): number {
  return (plus ? ENTRY_OUT_SIZE : 0) + ((DIRENT_HEADER + namelen + 7) & ~7);
}

function split(seconds: number): [number, number] {
  const s = Math.floor(seconds);
  return [s, Math.round((seconds - s) * 1e9)];
}

function cstr(b: Buffer, at: number): Buffer {
  const end = b.indexOf(0, at);
  return b.subarray(at, end < 0 ? b.length : end);
}

function readU64(b: Buffer, at: number): number {
  return b.readUInt32LE(at) + b.readUInt32LE(at + 4) * 4294967296;
}

function readI64(b: Buffer, at: number): number {
  return b.readUInt32LE(at) + b.readInt32LE(at + 4) * 4294967296;
}

function writeU64(b: Buffer, at: number, x: number): void {
  b.writeUInt32LE(x >>> 0, at);
  b.writeUInt32LE(Math.floor(x / 4294967296) >>> 0, at + 4);
}

function encodeAttr(out: Buffer, at: number, a: Attr): void {
  writeU64(out, at, a.ino);
  writeU64(out, at + 8, a.size);
  writeU64(out, at + 16, a.blocks);
  writeU64(out, at + 24, a.atime);
  writeU64(out, at + 32, a.mtime);
  writeU64(out, at + 40, a.ctime);
  out.writeUInt32LE(a.atimeNs, at + 48);
  out.writeUInt32LE(a.mtimeNs, at + 52);
  out.writeUInt32LE(a.ctimeNs, at + 56);
  out.writeUInt32LE(a.mode, at + 60);
  out.writeUInt32LE(a.nlink >>> 0, at + 64);
  out.writeUInt32LE(a.uid, at + 68);
  out.writeUInt32LE(a.gid, at + 72);
  out.writeUInt32LE(a.rdev >>> 0, at + 76);
  out.writeUInt32LE(4096, at + 80);
  out.writeUInt32LE(0, at + 84);
}
