// Digests are computed on the fly so that a blob is read exactly once.
import { createHash, Hash } from 'node:crypto';
import * as fs from 'node:fs';
import { Transform, TransformCallback } from 'node:stream';

export class HashingStream extends Transform {
  private readonly h: Hash = createHash('sha256');
  bytes = 0;
  constructor(private readonly onBytes?: (n: number) => void) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.h.update(chunk);
    this.bytes += chunk.length;
    if (this.onBytes) this.onBytes(chunk.length);
    cb(null, chunk);
  }
  digest(): string {
    return 'sha256:' + this.h.digest('hex');
  }
}

/** Hex sha256 of a file's contents, read in 1 MiB pieces. */
export function sha256File(file: string): string {
  const h = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

export function sha256(data: string | Buffer): string {
  return 'sha256:' + createHash('sha256').update(data).digest('hex');
}

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;
export function checkDigest(d: unknown, what: string): string {
  if (typeof d !== 'string' || !DIGEST_RE.test(d)) throw new Error(`invalid ${what} digest: ${JSON.stringify(d)}`);
  return d;
}

/** OCI chain id: identifies a layer together with everything below it. */
export function chainIds(diffIds: string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) out.push(out.length === 0 ? d : sha256(out[out.length - 1] + ' ' + d));
  return out;
}

export const hex = (d: string): string => d.replace(/^sha256:/, '');
