// A FUSE session without /dev/fuse: requests built from fuse.h's layouts (fuse-structs.ts)
// go into FuseSession.receive, replies come out of a recording device, and the filesystem
// is a fake that records its calls. The thing under test is the wire, not a filesystem.
import { FuseSession, type FuseDevice, type SessionOptions } from '../../src/fuse/session';
import type { Attr, Entry, FileSystem } from '../../src/fuse/types';
import { OPCODES, pack, unpack, type Decoded, type Values } from './fuse-structs';

export class RecordingDevice implements FuseDevice {
  readonly writes: Buffer[] = [];
  readonly servedReads = new Map<number, number>();
  readonly xattrFree: number[] = [];
  readonly backingOpened: number[] = [];
  readonly backingClosed: number[] = [];
  private nextBackingId = 7;

  write(data: Buffer, length: number): number {
    this.writes.push(Buffer.from(data.subarray(0, length))); // the session reuses its buffer
    return length;
  }
  serveReads(fh: number, fd: number): void { this.servedReads.set(fh, fd); }
  stopServingReads(fh: number): void { this.servedReads.delete(fh); }
  markXattrFree(nodeid: number): void { this.xattrFree.push(nodeid); }
  backingOpen(fd: number): number { this.backingOpened.push(fd); return this.nextBackingId++; }
  backingClose(id: number): void { this.backingClosed.push(id); }
}

export interface Call {
  op: string;
  args: unknown[];
}

export function errnoError(code: string): Error {
  return Object.assign(new Error(code), { code });
}

/** A FileSystem whose methods are `impl`'s (the rest throw ENOSYS), each call recorded
 *  with copies of its Buffer arguments (the session's are views of its request buffer). */
export function fakeFs(impl: Partial<FileSystem>, calls: Call[]): FileSystem {
  const own: Record<string | symbol, unknown> = {};
  return new Proxy(own, {
    get(_t, prop) {
      if (prop in own) return own[prop];
      if (typeof prop !== 'string') return undefined;
      const f = (impl as Record<string, unknown>)[prop] as ((...a: unknown[]) => unknown) | undefined;
      if (prop === 'xattrFree' && !f) return undefined; // optional
      return (...args: unknown[]) => {
        calls.push({ op: prop, args: args.map((a) => (Buffer.isBuffer(a) ? Buffer.from(a) : a)) });
        if (!f) throw errnoError('ENOSYS');
        return f(...args);
      };
    },
    set(_t, prop, v) {
      own[prop] = v;
      return true;
    },
  }) as unknown as FileSystem;
}

/** Every field distinct and the 64-bit ones past 2^32, so a field written at another
 *  field's offset, or a high word lost, shows. */
export function sampleAttr(over: Partial<Attr> = {}): Attr {
  return {
    ino: 0x1_0000_0002, size: 0x2_0000_0003, blocks: 0x3_0000_0004, atime: 1_700_000_001, atimeNs: 111,
    mtime: 1_700_000_002, mtimeNs: 222, ctime: 1_700_000_003, ctimeNs: 333, mode: 0o100644, nlink: 3,
    uid: 1000, gid: 1001, rdev: 0x0801, ...over,
  };
}

export function sampleEntry(nodeid = 0x4_0000_0005, over: Partial<Attr> = {}): Entry {
  return { nodeid, attr: sampleAttr(over) };
}

/** A NUL-terminated name, as the kernel sends names. */
export function cname(s: string | Buffer): Buffer {
  return Buffer.concat([Buffer.from(s), Buffer.alloc(1)]);
}

export interface RequestHeader {
  unique?: number;
  nodeid?: number;
  uid?: number;
  gid?: number;
  pid?: number;
  /** bytes of extensions after the body (a multiple of 8) */
  ext?: Buffer;
}

/** fuse_in_header + body (+ extensions), with len and total_extlen filled in. */
export function request(opcode: keyof typeof OPCODES | number, body: Buffer[] = [], h: RequestHeader = {}): Buffer {
  const ext = h.ext ?? Buffer.alloc(0);
  if (ext.length % 8 !== 0) throw new Error('extensions come in 8-byte units');
  const payload = Buffer.concat([...body, ext]);
  const header = pack('fuse_in_header', {
    len: 40 + payload.length,
    opcode: typeof opcode === 'number' ? opcode : OPCODES[opcode]!,
    unique: h.unique ?? 0x5_0000_0006,
    nodeid: h.nodeid ?? 1,
    uid: h.uid ?? 1000,
    gid: h.gid ?? 1001,
    pid: h.pid ?? 4242,
    total_extlen: ext.length / 8,
  });
  return Buffer.concat([header, payload]);
}

export interface Reply {
  header: Decoded;
  payload: Buffer;
}

export function parseReply(b: Buffer): Reply {
  return { header: unpack('fuse_out_header', b), payload: b.subarray(16) };
}

export interface Harness {
  session: FuseSession;
  dev: RecordingDevice;
  fs: FileSystem;
  calls: Call[];
  log: string[];
  /** Feeds one request; returns the replies written while handling it. */
  send(req: Buffer): Reply[];
  /** Feeds one request that must get exactly one reply. */
  one(req: Buffer): Reply;
}

export const DEFAULT_OPTS: SessionOptions = {
  entryTimeout: 86400.25, attrTimeout: 1.5, negativeTimeout: 2.125, passthrough: true, cacheDirs: true,
  debug: false, log: () => {},
};

export function harness(impl: Partial<FileSystem> = {}, opts: Partial<SessionOptions> = {}): Harness {
  const calls: Call[] = [];
  const log: string[] = [];
  const dev = new RecordingDevice();
  const fs = fakeFs(impl, calls);
  const session = new FuseSession(-1, fs, { ...DEFAULT_OPTS, log: (m) => log.push(m), ...opts }, dev);
  const send = (req: Buffer): Reply[] => {
    const before = dev.writes.length;
    session.receive(req, req.length);
    return dev.writes.slice(before).map(parseReply);
  };
  const one = (req: Buffer): Reply => {
    const r = send(req);
    if (r.length !== 1) throw new Error(`expected one reply, got ${r.length}`);
    return r[0]!;
  };
  return { session, dev, fs, calls, log, send, one };
}

export { pack, unpack, type Values };
