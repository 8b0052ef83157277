// Imports one layer blob: one read of the blob computes its digest, the diff_id of the
// uncompressed tar, optionally keeps a copy of the blob, and extracts it.
import * as fs from 'node:fs';
import { pipeline, PassThrough, Readable } from 'node:stream';
import { Compression, consumedBy, decompressor, detectCompression, readMagic } from './compression';
import { HashingStream } from './digest';
import { extractLayer, ExtractStats, LayerError } from './extract';
import { followFile, GrowingFile } from './growing';

export interface BlobSource {
  file: string;
  /** byte range inside file (for blobs inside an uncompressed archive) */
  start?: number;
  size?: number;
  /** the file is still being written (a download): read it as it grows */
  growing?: GrowingFile;
  /** stops a growing read (another part of the operation failed) */
  signal?: AbortSignal;
}

export interface ImportLayerOptions {
  src: BlobSource;
  dest: string;
  lowers: string[];
  expectDigest?: string;
  expectDiffId?: string;
  /** write a verbatim copy of the blob here */
  copyBlobTo?: string;
  onBytes?: (n: number) => void;
  /** only compute and check digests (the layer is already extracted) */
  verifyOnly?: boolean;
  /** how the uncompressed tar is unpacked into dest (default: extractLayer here) */
  extract?: (tar: Readable, dest: string, lowers: string[]) => Promise<ExtractStats>;
}

export interface ImportedLayer {
  digest: string;
  diffId: string;
  size: number;
  diffSize: number;
  compression: Compression;
  entries: number;
}

export function openBlob(src: BlobSource): NodeJS.ReadableStream {
  if (src.growing) return followFile(src.growing, src.signal);
  const start = src.start ?? 0;
  const opts: { start: number; end?: number; highWaterMark: number } = { start, highWaterMark: 1 << 20 };
  if (src.size !== undefined) {
    if (src.size === 0) opts.end = start - 1;
    else opts.end = start + src.size - 1;
  }
  return fs.createReadStream(src.file, opts);
}

export async function importLayer(o: ImportLayerOptions): Promise<ImportedLayer> {
  // the format is read from the first bytes, which a download may not have written yet
  if (o.src.growing) await o.src.growing.waitFor(8);
  const magic = readMagic(o.src.file, o.src.start ?? 0);
  const compression = detectCompression(magic);
  const hc = new HashingStream(o.onBytes);
  const hd = new HashingStream();
  let copyErr: Error | null = null;
  const copy = o.copyBlobTo ? fs.createWriteStream(o.copyBlobTo, { flags: 'wx' }) : null;
  copy?.on('error', (e) => (copyErr = e));
  const tee = new PassThrough();
  if (copy) tee.on('data', (d: Buffer) => {
    if (!copy.write(d)) {
      tee.pause();
      copy.once('drain', () => tee.resume());
    }
  });
  const dec = decompressor(compression);
  const out = pipeline(openBlob(o.src), hc, tee, dec, hd, () => {
    /* errors surface on the last stream */
  });
  // hd hashes each chunk as it passes and keeps none, so the extractor's word holds for dec
  // (an extract of the caller's, into a user namespace, writes to a pipe: it gets no such word)
  let stats: { entries: number };
  try {
    stats = o.verifyOnly ? await consume(out) : o.extract ? await o.extract(out as Readable, o.dest, o.lowers) : await extractLayer(out as Readable, o.dest, { lowers: o.lowers, consumed: consumedBy(dec) });
  } catch (e) {
    // the blob's copy is opened asynchronously: until it is closed it may still create its
    // file, and the caller's removal of the directory would then fail with ENOTEMPTY
    if (copy) await new Promise<void>((res) => (copy.closed ? res() : (copy.once('close', () => res()), copy.destroy())));
    throw e;
  }
  if (copy) await new Promise<void>((res, rej) => copy.end((e?: Error | null) => (e ? rej(e) : res())));
  if (copyErr) throw copyErr;
  const digest = hc.digest();
  const diffId = hd.digest();
  if (o.src.size !== undefined && hc.bytes !== o.src.size) throw new LayerError(`blob ${o.expectDigest ?? ''} is truncated: ${hc.bytes} of ${o.src.size} bytes`);
  if (o.expectDigest && digest !== o.expectDigest) throw new LayerError(`blob digest mismatch: expected ${o.expectDigest}, got ${digest}`);
  if (o.expectDiffId && diffId !== o.expectDiffId) throw new LayerError(`layer diff_id mismatch: config says ${o.expectDiffId}, content is ${diffId}`);
  return { digest, diffId, size: hc.bytes, diffSize: hd.bytes, compression, entries: stats.entries };
}

async function consume(s: NodeJS.ReadableStream): Promise<{ entries: number }> {
  for await (const _ of s) {
    /* hashing happens upstream */
  }
  return { entries: 0 };
}

/** Streams a blob's uncompressed tar into a writable (for save). */
export function uncompressedStream(src: BlobSource): NodeJS.ReadableStream {
  const compression = detectCompression(readMagic(src.file, src.start ?? 0));
  return pipeline(openBlob(src), decompressor(compression), () => undefined);
}
