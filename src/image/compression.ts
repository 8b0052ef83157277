// Layer blobs are gzip, zstd or plain tar whatever their media type claims, so the
// format is read from the first bytes.
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import { Transform, TransformCallback, PassThrough } from 'node:stream';
import type { DCtx } from 'zstd-napi/binding';

export type Compression = 'gzip' | 'zstd' | 'none';

export function detectCompression(magic: Buffer): Compression {
  if (magic.length >= 2 && magic[0] === 0x1f && magic[1] === 0x8b) return 'gzip';
  if (magic.length >= 4 && magic.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  if (magic.length >= 3 && magic[0] === 0x42 && magic[1] === 0x5a && magic[2] === 0x68) throw new Error('bzip2 layers are not supported');
  if (magic.length >= 6 && magic.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) throw new Error('xz layers are not supported');
  return 'none';
}

export function readMagic(file: string, start = 0): Buffer {
  const fd = fs.openSync(file, 'r');
  try {
    const b = Buffer.alloc(8);
    const n = fs.readSync(fd, b, 0, 8, start);
    return b.subarray(0, n);
  } finally {
    fs.closeSync(fd);
  }
}

/** Node's own zstd (zlib.createZstdDecompress, Node >= 22.15 / 23.8), when this Node has it. */
const builtinZstd = (zlib as unknown as { createZstdDecompress?: (o?: zlib.ZlibOptions) => Transform }).createZstdDecompress;

type NapiBinding = typeof import('zstd-napi/binding');
let napi: NapiBinding | null | undefined;
function napiBinding(): NapiBinding | null {
  if (napi === undefined) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      napi = require('zstd-napi/binding') as NapiBinding;
    } catch {
      napi = null;
    }
  }
  return napi;
}

/** zstd-napi: the reference C library, built from source by node-gyp at install. */
class ZstdNapi extends Transform {
  private readonly dctx: DCtx;
  private inFrame = false;
  constructor() {
    super();
    const binding = napiBinding();
    if (!binding) throw new Error('zstd-napi is not built (npm rebuild zstd-napi), and this Node has no zstd of its own');
    this.dctx = new binding.DCtx();
  }
  // Output goes into slabs, handed out as views (as node:zlib does): a fresh buffer per
  // call costs more in page faults and GC than the decoding itself. Slabs the consumer
  // says it is done with (consumed()) are decoded into again, which spares a one-shot
  // process the first-touch faults of new memory; without that word a slab is never reused.
  private slab: Buffer = Buffer.allocUnsafe(0);
  private slabOff = 0;
  /** slabs handed out since the oldest one the consumer may still hold, oldest first; the last is `slab` */
  private readonly out: Buffer[] = [];
  private readonly spare: Buffer[] = [];
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      let src = chunk;
      for (;;) {
        if (this.slab.length - this.slabOff < ZSTD_MIN_OUT) {
          this.slab = this.spare.pop() ?? Buffer.allocUnsafe(ZSTD_SLAB);
          this.slabOff = 0;
          this.out.push(this.slab);
        }
        const dst = this.slab.subarray(this.slabOff);
        const [ret, produced, consumed] = this.dctx.decompressStream(dst, src);
        if (produced > 0) this.push(this.slab.subarray(this.slabOff, this.slabOff + produced));
        this.slabOff += produced;
        src = src.subarray(consumed);
        if (src.length === 0 && (produced < dst.length || ret === 0)) {
          this.inFrame = ret !== 0;
          break;
        }
      }
      cb();
    } catch (e) {
      cb(new Error(`corrupt zstd data: ${(e as Error).message}`));
    }
  }
  /**
   * The consumer is done with `chunk`, a piece of this stream's output, and with all the
   * output before it, and keeps no reference to any of it: the slabs wholly before it may
   * be overwritten. A chunk that is not a view of a slab (a copy) is ignored.
   */
  consumed(chunk: Buffer): void {
    const i = this.out.findIndex((s) => s.buffer === chunk.buffer);
    if (i <= 0) return;
    for (const s of this.out.splice(0, i)) if (this.spare.length < ZSTD_SPARE) this.spare.push(s);
  }
  override _flush(cb: TransformCallback): void {
    if (this.inFrame) cb(new Error('corrupt or truncated zstd data: unexpected EOF'));
    else cb();
  }
}

const ZSTD_OUT = 1 << 18;
const ZSTD_SLAB = 1 << 20;
const ZSTD_MIN_OUT = 1 << 16;
/** free slabs kept: more than the stream's backpressure lets be in flight */
const ZSTD_SPARE = 16;

/** A zlib stream whose errors (corrupt, truncated) name the format, and surface through this stream. */
class ZlibChecked extends Transform {
  private readonly g: Transform;
  private pending: TransformCallback | null = null;
  constructor(make: () => Transform, format: string) {
    super();
    this.g = make();
    this.g.on('data', (d: Buffer) => this.push(d));
    this.g.on('error', (e) => {
      const cb = this.pending;
      this.pending = null;
      const err = new Error(`corrupt or truncated ${format} data: ${e.message}`);
      if (cb) cb(err);
      else this.destroy(err);
    });
    this.g.on('end', () => {
      const cb = this.pending;
      this.pending = null;
      if (cb) cb();
    });
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.g.write(chunk)) cb();
    else this.g.once('drain', () => cb());
  }
  override _flush(cb: TransformCallback): void {
    this.pending = cb;
    this.g.end();
  }
}

/**
 * Which zstd decoder decompressor('zstd') uses here: zstd-napi wherever it is built, since
 * it decodes into reused slabs (Node 24's zlib zstd allocates fresh output and took 1.8x
 * the zstd tool's CPU for the base fixture layer, zstd-napi 1.2x); Node's own where it is
 * not. STRATA_ZSTD=node:zlib or zstd-napi picks one.
 */
export function zstdDecoder(): 'node:zlib' | 'zstd-napi' {
  const want = process.env.STRATA_ZSTD;
  if (want === 'node:zlib' && builtinZstd) return 'node:zlib';
  if (want === 'zstd-napi') return 'zstd-napi';
  return napiBinding() || !builtinZstd ? 'zstd-napi' : 'node:zlib';
}

/** Whether this Node has a zstd of its own (node:zlib, 22.15 / 23.8 and later). */
export const hasBuiltinZstd = (): boolean => builtinZstd !== undefined;

/**
 * A decompressor's output recycler: call it with each output chunk once it and everything
 * before it are consumed and unreferenced (written out synchronously, say), and the
 * decompressor may reuse their memory. A no-op for decoders that do not reuse.
 */
export function consumedBy(d: Transform): (chunk: Buffer) => void {
  return d instanceof ZstdNapi ? (c) => d.consumed(c) : () => undefined;
}

export function decompressor(kind: Compression): Transform {
  switch (kind) {
    case 'gzip':
      return new ZlibChecked(() => zlib.createGunzip({ chunkSize: 1 << 18 }), 'gzip');
    case 'zstd':
      return zstdDecoder() === 'node:zlib' ? new ZlibChecked(() => builtinZstd!({ chunkSize: ZSTD_OUT }), 'zstd') : new ZstdNapi();
    default:
      return new PassThrough();
  }
}
