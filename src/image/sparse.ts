// GNU sparse files in a layer tar. Which encoding a header uses: an old GNU 'S' header
// (the map in the header block), PAX 0.1 (GNU.sparse.map), PAX 1.0 (the map as decimal
// lines leading the data); PAX 0.0 and old headers with extension blocks are refused.
// Then where each piece of the data goes in the file.
import { Readable } from 'node:stream';
import type { GnuSparseInfo } from './tarbytes';
import { LayerError } from './layer-error';

export interface SparseFile {
  /** [offset, length] of each piece of data, in order; null: the map leads the data (PAX 1.0) */
  map: Array<[number, number]> | null;
  /** the file's size, holes included */
  realSize: number;
}

/** The entry's real name and its sparse layout, or sparse null for an ordinary entry. */
export function sparseOf(name: string, pax: Record<string, string> | null, gnuSparse: GnuSparseInfo | undefined): { name: string; sparse: SparseFile | null } {
  let sparse: SparseFile | null = null;
  if (pax && pax['GNU.sparse.major'] === '1' && pax['GNU.sparse.minor'] === '0') {
    name = pax['GNU.sparse.name'] ?? name;
    sparse = { map: null, realSize: Number(pax['GNU.sparse.realsize']) };
  } else if (pax && pax['GNU.sparse.map'] !== undefined) {
    const nums = pax['GNU.sparse.map'].split(',').filter((x: string) => x !== '').map(Number);
    const map: Array<[number, number]> = [];
    for (let i = 0; i + 1 < nums.length; i += 2) map.push([nums[i], nums[i + 1]]);
    name = pax['GNU.sparse.name'] ?? name;
    sparse = { map, realSize: Number(pax['GNU.sparse.size'] ?? pax['GNU.sparse.realsize']) };
  } else if (pax && (pax['GNU.sparse.offset'] !== undefined || pax['GNU.sparse.numblocks'] !== undefined)) {
    throw new LayerError(`${JSON.stringify(name)}: GNU sparse format 0.0 is not supported`);
  } else if (gnuSparse) {
    if (gnuSparse.extended) throw new LayerError(`${JSON.stringify(name)}: old GNU sparse file with extension headers is not supported`);
    sparse = { map: gnuSparse.map, realSize: gnuSparse.realSize };
  }
  if (sparse && (!Number.isSafeInteger(sparse.realSize) || sparse.realSize < 0)) throw new LayerError(`${JSON.stringify(name)}: bad sparse size`);
  return { name, sparse };
}

/** Where file data goes: `pos` is the offset the next write lands at. */
export interface PositionedWriter {
  pos: number;
  write(chunk: Buffer): void;
}

/** Writes a sparse entry's data (its map first, for PAX 1.0) at the offsets of its map.
 *  `name` is the entry's name as the tar header gives it, for errors. */
export async function writeSparseData(stream: Readable, w: PositionedWriter, sparse: SparseFile, name: string): Promise<void> {
  const reader = new ChunkReader(stream);
  const map = sparse.map ?? (await readMap(reader, name));
  for (const [off, len] of map) {
    if (off + len > sparse.realSize) throw new LayerError(`${JSON.stringify(name)}: sparse map beyond file size`);
    w.pos = off;
    let left = len;
    while (left > 0) {
      const b = await reader.read(Math.min(left, 1 << 20));
      if (b.length === 0) throw new LayerError(`${JSON.stringify(name)}: truncated sparse data`);
      w.write(b);
      left -= b.length;
    }
  }
  await reader.drain();
}

/** PAX 1.0: the map is a decimal prologue in the data (a count, then offset and length
 *  lines), padded to 512 bytes. */
async function readMap(reader: ChunkReader, name: string): Promise<Array<[number, number]>> {
  let consumed = 0;
  const line = async (): Promise<number> => {
    let s = '';
    for (;;) {
      const b = await reader.read(1);
      if (b.length === 0) throw new LayerError(`${JSON.stringify(name)}: truncated sparse map`);
      consumed++;
      if (b[0] === 0x0a) break;
      s += String.fromCharCode(b[0]);
      if (s.length > 20) throw new LayerError(`${JSON.stringify(name)}: bad sparse map`);
    }
    const n = Number(s);
    if (!/^\d+$/.test(s) || !Number.isSafeInteger(n)) throw new LayerError(`${JSON.stringify(name)}: bad sparse map`);
    return n;
  };
  const nums: number[] = [];
  const count = await line();
  if (count > 1_000_000) throw new LayerError(`${JSON.stringify(name)}: sparse map too large`);
  for (let i = 0; i < count * 2; i++) nums.push(await line());
  const pad = (512 - (consumed % 512)) % 512;
  if (pad) await reader.read(pad);
  const map: Array<[number, number]> = [];
  for (let i = 0; i < nums.length; i += 2) map.push([nums[i], nums[i + 1]]);
  return map;
}

/** Pull-style reads of exact byte counts from a stream. */
class ChunkReader {
  private readonly it: AsyncIterator<Buffer>;
  private buf: Buffer = Buffer.alloc(0);
  private done = false;
  constructor(stream: Readable) {
    this.it = stream[Symbol.asyncIterator]();
  }
  async read(n: number): Promise<Buffer> {
    while (this.buf.length < n && !this.done) {
      const r = await this.it.next();
      if (r.done) this.done = true;
      else this.buf = this.buf.length ? Buffer.concat([this.buf, r.value]) : r.value;
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(out.length);
    return out;
  }
  async drain(): Promise<void> {
    while (!this.done) {
      const r = await this.it.next();
      if (r.done) this.done = true;
    }
  }
}
