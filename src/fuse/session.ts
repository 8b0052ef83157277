// One FUSE connection: read each request from /dev/fuse, hand it to its opcode's handler
// (ops.ts), write the reply. Knows the wire format and the kernel's caching rules; knows
// nothing of layers.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { native } from '../native';
import { MAX_WRITE, OPS, UNKNOWN_OP } from './ops';
import {
  AttrOut, EntryOut, FOPEN_KEEP_CACHE, FOPEN_PASSTHROUGH, GetxattrOut, InHeader, NOTIFY_INVAL_INODE, NotifyInvalInodeOut,
  OutHeader,
} from './protocol';
import type { Attr, Caller, Entry, FileSystem, Opened } from './types';
import { encodeAttrOut, encodeAttrValid, encodeEntryOut, encodeNegativeEntryOut, encodeOpenOut, readU64, timeout, writeU64 } from './wire';
import type { Timeout } from './wire';

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
  /** ask the kernel to enforce POSIX ACLs (default on; fuse-overlayfs's noacl turns it off) */
  acl?: boolean;
  /** offer FUSE over io_uring at INIT: the request buffer of a ring made by prepareUring */
  ring?: Buffer;
  debug: boolean;
  log: (msg: string) => void;
}

/** What the session needs of /dev/fuse besides reading it: writing replies, and the
 *  shortcuts of the native request loop and the kernel's passthrough. A test passes its
 *  own and feeds requests to FuseSession.receive. */
export interface FuseDevice {
  /** write(2) of data's first `length` bytes: bytes written or -errno (-ENOENT: the
   *  request was interrupted and the kernel dropped it) */
  write(data: Buffer, length: number): number;
  /** from now on the native loop answers READs of fh from fd (see ops.ts read) */
  serveReads(fh: number, fd: number): void;
  stopServingReads(fh: number): void;
  /** the native loop may answer GETXATTR/LISTXATTR of nodeid (see ops.ts getxattr) */
  markXattrFree(nodeid: number): void;
  /** FUSE_DEV_IOC_BACKING_OPEN: a backing id for fd, for FOPEN_PASSTHROUGH */
  backingOpen(fd: number): number;
  backingClose(backingId: number): void;
  /** FUSE over io_uring, where the device has a ring: serve it from now on (INIT is
   *  answered), each request at `at` in SessionOptions.ring; or drop it unused */
  startUring?(onRequest: (len: number, at: number) => void): void;
  closeUring?(): void;
}

export function nativeDevice(fuseFd: number): FuseDevice {
  return {
    write: (data, length) => native.fuseWrite(fuseFd, data, length),
    serveReads: (fh, fd) => native.serveReads(fh, fd),
    stopServingReads: (fh) => native.stopServingReads(fh),
    markXattrFree: (nodeid) => native.markXattrFree(nodeid),
    backingOpen: (fd) => native.backingOpen(fuseFd, fd),
    backingClose: (id) => native.backingClose(fuseFd, id),
    startUring: (onRequest) => native.uringStart(fuseFd, onRequest),
    closeUring: () => native.uringClose(),
  };
}

/** Requests each CPU's queue may hold at once. The one JavaScript thread answers them in
 *  turn; more entries let it take several per wake-up. */
const URING_DEPTH = 4;

/** The kernel's switch for FUSE over io_uring (6.14+, CONFIG_FUSE_IO_URING). */
export const ENABLE_URING_PARAM = '/sys/module/fuse/parameters/enable_uring';

/** A ring for FUSE over io_uring, made before mounting so that uring=on can refuse with
 *  a reason: 'on' throws when the kernel does not offer it, 'auto' then returns undefined
 *  (the session stays on /dev/fuse reads). The kernel offers it only while its
 *  enable_uring parameter is Y, which only root can set. */
export function prepareUring(mode: 'auto' | 'on' | 'off'): Buffer | undefined {
  if (mode === 'off') return undefined;
  let param: string;
  try {
    param = fs.readFileSync(ENABLE_URING_PARAM, 'utf8').trim();
  } catch {
    if (mode === 'on') throw new Error('uring=on: this kernel has no FUSE over io_uring (6.14+ with CONFIG_FUSE_IO_URING); use uring=auto or off');
    return undefined;
  }
  if (param !== 'Y' && param !== '1') {
    if (mode === 'on') throw new Error(`uring=on: FUSE over io_uring is switched off (${ENABLE_URING_PARAM} is ${param}): as root, echo Y > ${ENABLE_URING_PARAM}, or use uring=auto`);
    return undefined;
  }
  try {
    return native.uringSetup(URING_DEPTH, MAX_WRITE);
  } catch (e) {
    if (mode === 'on') throw new Error(`uring=on: cannot set up an io_uring: ${(e as Error).message}`);
    return undefined;
  }
}

/** Per inode: how many handles are open in cached mode and in passthrough mode (on which real file). */
interface IoMode {
  cached: number;
  passthrough: number;
  backing: number | null;
  backingId: number;
  /** passthrough handles open for writing */
  ptWriters: number;
}

const NO_CACHE: Timeout = [0, 0];

export class FuseSession {
  // ---- read by the opcode handlers (ops.ts) ----
  readonly entryValid: Timeout;
  readonly attrValid: Timeout;
  /** set by INIT */
  passthroughOn = false;
  /** requests come over io_uring (INIT agreed on it, and the ring has not ended) */
  uringOn = false;

  private readonly ptFiles = new Map<number, number>();
  private readonly ptWritable = new Set<number>();
  private readonly ioModes = new Map<number, IoMode>();
  private readonly cachedFiles = new Map<number, number>();
  private readonly negValid: Timeout;
  private destroyed = false;
  private req: Buffer = Buffer.alloc(0);
  /** where the request being answered starts in req */
  private reqAt = 0;
  private readonly out = Buffer.allocUnsafe(BUF_SIZE);
  private readonly notifyBuf = Buffer.alloc(OutHeader.SIZE + NotifyInvalInodeOut.SIZE);
  onEnd: (err?: string) => void = () => {};

  constructor(
    private readonly fd: number,
    readonly fs: FileSystem,
    readonly opts: SessionOptions,
    private readonly dev: FuseDevice = nativeDevice(fd),
  ) {
    this.entryValid = timeout(opts.entryTimeout);
    this.attrValid = timeout(opts.attrTimeout);
    this.negValid = timeout(opts.negativeTimeout);
    this.notifyBuf.writeUInt32LE(this.notifyBuf.length, OutHeader.len);
    this.notifyBuf.writeInt32LE(NOTIFY_INVAL_INODE, OutHeader.error); // unique stays 0: a notification
    // off < 0: attributes only, not pages
    this.notifyBuf.writeBigInt64LE(-1n, OutHeader.SIZE + NotifyInvalInodeOut.off);
    fs.onStaleAttrs = (nodeid) => this.invalidateAttrs(nodeid);
  }

  /** FUSE_NOTIFY_INVAL_INODE with a negative offset: the kernel drops the inode's cached
   *  attributes (not its pages) and asks again. Written from its own buffer: a reply may
   *  be half built in this.out. */
  private invalidateAttrs(nodeid: number): void {
    writeU64(this.notifyBuf, OutHeader.SIZE + NotifyInvalInodeOut.ino, nodeid);
    // ENOENT: the kernel holds no such inode, so it holds no stale attributes either
    this.dev.write(this.notifyBuf, this.notifyBuf.length);
  }

  start(): void {
    this.req = native.startPoll(this.fd, BUF_SIZE, (len) => {
      if (len < 0) {
        // ENODEV: unmounted. Anything else is a broken connection.
        try { this.destroy(); } catch { /* ending anyway */ }
        if (this.opts.ring) this.dev.closeUring?.();
        this.onEnd(len === -19 ? undefined : `read /dev/fuse: errno ${-len}`);
        return;
      }
      this.receive(this.req, len);
    });
  }

  /** INIT is answered: serve the ring if the kernel took it, else let it go. */
  afterInit(): void {
    if (!this.opts.ring) return;
    const ring = this.opts.ring;
    if (!this.uringOn || !this.dev.startUring) {
      this.dev.closeUring?.();
      return;
    }
    this.dev.startUring((len, at) => {
      if (len >= 0) return this.receive(ring, len, at);
      this.uringOn = false;
      // ENOTCONN: unmounted. Otherwise the kernel refused the ring and went back to /dev/fuse.
      if (len !== -ERRNO.ENOTCONN) this.opts.log(`strata-fs: FUSE over io_uring ended (errno ${-len}); serving /dev/fuse reads`);
    });
    const [queues, depth] = native.uringInfo();
    this.opts.log(`strata-fs: FUSE over io_uring: ${queues} queues of ${depth} entries`);
  }

  /** One request: len bytes of req from `at`, a fuse_in_header and its opcode's body. It
   *  is answered (through the device) before this returns, and req and the reply buffer
   *  are reused for the next one: nothing that outlives a request may keep a view of
   *  either. Over io_uring the reply is written where the request's payload was: a
   *  handler reads nothing of its request once it has replied. */
  receive(req: Buffer, len: number, at = 0): void {
    this.req = req;
    this.reqAt = at;
    const opcode = req.readUInt32LE(at + InHeader.opcode);
    const nodeid = readU64(req, at + InHeader.nodeid);
    const c: Caller = { uid: req.readUInt32LE(at + InHeader.uid), gid: req.readUInt32LE(at + InHeader.gid), pid: req.readUInt32LE(at + InHeader.pid) };
    const extlen = req.readUInt16LE(at + InHeader.total_extlen) * 8;
    const body = req.subarray(at + InHeader.SIZE, at + len - extlen);
    const op = OPS[opcode] ?? UNKNOWN_OP;
    if (this.opts.debug) this.opts.log(`req ${req.readBigUInt64LE(at + InHeader.unique)} ${op.name} node ${nodeid} uid ${c.uid} len ${len}${at > 0 ? ' (io_uring)' : ''}`);
    try {
      op.handle(this, nodeid, c, body);
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

  /** The filesystem's end, once: at DESTROY, or when the device says unmounted. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.fs.destroy();
  }

  // ---- open files: cached or passthrough, per inode ----

  /** Replies with the fuse_open_out at `at` in out (a payload). */
  replyOpen(nodeid: number, opened: Opened, out: Buffer, at: number): void {
    // The kernel keeps an inode either in cached mode or backed by one real file; a
    // passthrough open may carry no other flag. Handles of one inode follow the mode of
    // those already open.
    let io = this.ioModes.get(nodeid);
    if (!io) this.ioModes.set(nodeid, (io = { cached: 0, backing: null, backingId: -1, passthrough: 0, ptWriters: 0 }));
    let openFlags = 0;
    let backingId = -1;
    const mayPass = this.passthroughOn && opened.fd !== undefined && opened.backingKey !== undefined && io.cached === 0 &&
      (io.backing === null || io.backing === opened.backingKey);
    if (io.passthrough > 0 && !mayPass && this.fs.renewNode) {
      // The inode is bound to another backing file (a lower file, copied up since while
      // readers hold it), and the kernel would refuse this file a cached open beside it:
      // ESTALE makes it look the name up again (LOOKUP_REVAL) and retry on a new inode.
      this.fs.release(opened.fh);
      this.fs.renewNode(nodeid);
      return this.replyError(ERRNO.ESTALE);
    }
    if (mayPass) {
      try {
        // one backing id per inode: the kernel opens each file's own backing file from its path
        if (io.backingId < 0) io.backingId = this.dev.backingOpen(opened.fd!);
        backingId = io.backingId;
        openFlags = FOPEN_PASSTHROUGH;
        io.backing = opened.backingKey!;
        io.passthrough++;
        this.ptFiles.set(opened.fh, nodeid);
        if (opened.writable) {
          io.ptWriters++;
          this.ptWritable.add(opened.fh);
        }
      } catch (e) {
        if (this.opts.debug) this.opts.log(`passthrough refused: ${(e as Error).message}`);
      }
    }
    if (backingId < 0) {
      openFlags = opened.keepCache ? FOPEN_KEEP_CACHE : 0;
      io.cached++;
      this.cachedFiles.set(opened.fh, nodeid);
      if (opened.fd !== undefined) this.dev.serveReads(opened.fh, opened.fd);
    }
    encodeOpenOut(out, at, opened.fh, openFlags, backingId);
    const firstWriter = backingId >= 0 && opened.writable && io.ptWriters === 1;
    // the entry before a CREATE's fuse_open_out: its attributes are not to be kept either
    if (firstWriter && at > 0) encodeAttrValid(out, 0, NO_CACHE);
    this.reply(out);
    // the kernel may keep the attributes it has for as long as it was told: ask it to
    // drop them, so that it asks (see attrValidFor)
    if (firstWriter && at === 0) this.invalidateAttrs(nodeid);
  }

  /** How long the kernel may keep an inode's attributes. Not at all while a passthrough
   *  file is open for writing: writes through its shared mappings go to the real file
   *  without a request, and move its mtime and ctime (on the first write after each
   *  sync) where the kernel's copy of them would not. */
  attrValidFor(nodeid: number): Timeout {
    const io = this.ioModes.get(nodeid);
    return io && io.ptWriters > 0 ? NO_CACHE : this.attrValid;
  }

  /** Before RELEASE of fh reaches the filesystem. */
  releaseIo(fh: number): void {
    const ptNode = this.ptFiles.get(fh);
    const nodeid = ptNode ?? this.cachedFiles.get(fh);
    if (nodeid === undefined) return;
    const io = this.ioModes.get(nodeid);
    if (ptNode !== undefined) {
      this.ptFiles.delete(fh);
      if (this.ptWritable.delete(fh) && io) io.ptWriters--;
      if (io && --io.passthrough === 0) {
        // An opener looks the id up after our reply, at a time we cannot see: close it
        // only when no handle of the inode is left.
        try { this.dev.backingClose(io.backingId); } catch { /* connection gone */ }
        io.backing = null;
        io.backingId = -1;
      }
    } else {
      this.dev.stopServingReads(fh);
      this.cachedFiles.delete(fh);
      if (io) io.cached--;
    }
    if (io && io.cached === 0 && io.passthrough === 0) this.ioModes.delete(nodeid);
  }

  /** Once an inode is known to have no xattrs at all, the native loop answers its
   *  GETXATTR/LISTXATTR itself (and forgets that on any xattr change or FORGET). */
  noteXattrFree(nodeid: number): void {
    try {
      if (this.fs.xattrFree?.(nodeid)) this.dev.markXattrFree(nodeid);
    } catch {
      // only a shortcut: without it the requests keep coming here
    }
  }

  // ---- replies ----

  /** GETXATTR/LISTXATTR: size 0 asks how many bytes the value needs (fuse_getxattr_out). */
  replyXattr(size: number, value: Buffer): void {
    if (size === 0) {
      const out = this.payload(GetxattrOut.SIZE);
      out.writeUInt32LE(value.length, GetxattrOut.size);
      return this.reply(out);
    }
    if (value.length > size) return this.replyError(ERRNO.ERANGE);
    this.reply(value);
  }

  replyEntry(e: Entry): void {
    const out = this.payload(EntryOut.SIZE);
    encodeEntryOut(out, 0, e, this.entryValid, this.attrValidFor(e.nodeid));
    this.reply(out);
  }

  replyNegativeEntry(): void {
    const out = this.payload(EntryOut.SIZE);
    encodeNegativeEntryOut(out, 0, this.negValid);
    this.reply(out);
  }

  replyAttr(a: Attr, nodeid: number): void {
    const out = this.payload(AttrOut.SIZE);
    encodeAttrOut(out, 0, a, this.attrValidFor(nodeid));
    this.reply(out);
  }

  replyEmpty(): void {
    this.reply(EMPTY);
  }

  /** A zeroed reply payload of `size` bytes, staged in the reply buffer after the header. */
  payload(size: number): Buffer {
    return this.out.fill(0, OutHeader.SIZE, OutHeader.SIZE + size).subarray(OutHeader.SIZE, OutHeader.SIZE + size);
  }

  reply(payload: Buffer): void {
    // a payload from payload() is in place already
    const staged = payload.buffer === this.out.buffer && payload.byteOffset === this.out.byteOffset + OutHeader.SIZE;
    if (!staged) payload.copy(this.out, OutHeader.SIZE);
    this.send(0, OutHeader.SIZE + payload.length);
  }

  replyError(errno: number): void {
    this.send(-errno, OutHeader.SIZE);
  }

  private send(error: number, len: number): void {
    const out = this.out;
    out.writeUInt32LE(len, OutHeader.len);
    out.writeInt32LE(error, OutHeader.error);
    this.req.copy(out, OutHeader.unique, this.reqAt + InHeader.unique, this.reqAt + InHeader.unique + 8);
    const r = this.dev.write(out, len);
    // ENOENT: the caller was interrupted and the kernel dropped the request
    if (r < 0 && r !== -ERRNO.ENOENT && this.opts.debug) this.opts.log(`reply write failed: errno ${-r}`);
  }
}

const EMPTY = Buffer.alloc(0);
