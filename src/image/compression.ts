// Layer blobs are gzip, zstd or plain tar whatever their media type claims, so the
// format is read from the first bytes.
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import { Transform, TransformCallback, PassThrough } from 'node:stream';
import { Decompress } from 'fzstd';

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

class ZstdDecompress extends Transform {
  private readonly z: Decompress;
  private ended = false;
  constructor() {
    super();
    this.z = new Decompress((chunk, final) => {
      // fzstd may hand out views of its window; the consumer can hold chunks longer
      if (chunk.length) this.push(Buffer.from(chunk));
      if (final) this.ended = true;
    });
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.z.push(chunk, false);
      cb();
    } catch (e) {
      cb(new Error(`corrupt zstd data: ${(e as Error).message}`));
    }
  }
  override _flush(cb: TransformCallback): void {
    try {
      this.z.push(new Uint8Array(0), true);
      if (!this.ended) throw new Error('unexpected EOF');
      cb();
    } catch (e) {
      cb(new Error(`corrupt or truncated zstd data: ${(e as Error).message}`));
    }
  }
}

class GunzipChecked extends Transform {
  private readonly g = zlib.createGunzip({ chunkSize: 1 << 18 });
  private pending: TransformCallback | null = null;
  constructor() {
    super();
    this.g.on('data', (d: Buffer) => this.push(d));
    this.g.on('error', (e) => {
      const cb = this.pending;
      this.pending = null;
      const err = new Error(`corrupt or truncated gzip data: ${e.message}`);
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

export function decompressor(kind: Compression): Transform {
  switch (kind) {
    case 'gzip':
      return new GunzipChecked();
    case 'zstd':
      return new ZstdDecompress();
    default:
      return new PassThrough();
  }
}
