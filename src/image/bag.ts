// A "bag" is where an image's files live: a directory (OCI layout) or an uncompressed
// tar archive (docker-archive, oci-archive). Archives are indexed once with tar-stream
// and their members are then read in place by offset, never copied out.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { availableBytes } from './extract';
import { byteExtract } from './tarbytes';
import { BlobSource } from './layer';
import { pipeline } from 'node:stream/promises';
import { decompressor, detectCompression, readMagic } from './compression';

/** Metadata files (manifests, configs, index.json) are small; refuse anything huge. */
export const MAX_JSON = 8 << 20;

export interface Bag {
  describe: string;
  has(name: string): boolean;
  blob(name: string): BlobSource;
  readSmall(name: string): Buffer;
}

function cleanMember(name: string): string {
  const parts: string[] = [];
  for (const c of name.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (parts.length === 0) throw new Error(`archive member escapes the archive: ${JSON.stringify(name)}`);
      parts.pop();
      continue;
    }
    parts.push(c);
  }
  return parts.join('/');
}

function readRange(src: BlobSource, max: number, what: string): Buffer {
  const size = src.size ?? fs.statSync(src.file).size;
  if (size > max) throw new Error(`${what} is too large (${size} bytes)`);
  const fd = fs.openSync(src.file, 'r');
  try {
    const b = Buffer.alloc(size);
    let off = 0;
    while (off < size) {
      const n = fs.readSync(fd, b, off, size - off, (src.start ?? 0) + off);
      if (n === 0) throw new Error(`${what} is truncated`);
      off += n;
    }
    return b;
  } finally {
    fs.closeSync(fd);
  }
}

export class DirBag implements Bag {
  readonly describe: string;
  private readonly real: string;
  constructor(readonly dir: string) {
    this.describe = dir;
    this.real = fs.realpathSync(dir);
  }
  private resolve(name: string): string {
    const p = path.join(this.real, cleanMember(name));
    let real: string;
    try {
      real = fs.realpathSync(p);
    } catch {
      throw new Error(`missing file ${JSON.stringify(name)} in ${this.describe}`);
    }
    if (real !== this.real && !real.startsWith(this.real + '/')) throw new Error(`${JSON.stringify(name)} points outside ${this.describe}`);
    return real;
  }
  has(name: string): boolean {
    try {
      return fs.statSync(this.resolve(name)).isFile();
    } catch {
      return false;
    }
  }
  blob(name: string): BlobSource {
    const file = this.resolve(name);
    const st = fs.statSync(file);
    if (!st.isFile()) throw new Error(`${JSON.stringify(name)} in ${this.describe} is not a file`);
    return { file, start: 0, size: st.size };
  }
  readSmall(name: string): Buffer {
    return readRange(this.blob(name), MAX_JSON, name);
  }
}

interface Member {
  offset: number;
  size: number;
  link: string | null; // symlink target, resolved relative to the member's dir
  hard: string | null;
}

export class TarBag implements Bag {
  readonly describe: string;
  private constructor(
    readonly file: string,
    private readonly members: Map<string, Member>,
  ) {
    this.describe = file;
  }

  static async open(file: string, onBytes?: (n: number) => void, tmpDir?: string): Promise<TarBag> {
    const c = detectCompression(readMagic(file));
    if (c !== 'none') {
      // members are read by offset, so a compressed archive is unpacked to a plain tar first
      if (!tmpDir) throw new Error(`${file} is a ${c}-compressed archive; decompress it first`);
      const plain = path.join(tmpDir, 'archive.tar');
      // a small compressed archive can expand without bound: stop before the disk fills
      const room = availableBytes(tmpDir);
      let n = 0;
      const cap = new Transform({
        transform(chunk: Buffer, _e, cb) {
          n += chunk.length;
          if (n > room) cb(new Error(`expands to more than the ${room} bytes free for the store`));
          else cb(null, chunk);
        },
      });
      try {
        await pipeline(fs.createReadStream(file), decompressor(c), cap, fs.createWriteStream(plain, { flags: 'wx' }));
      } catch (e) {
        throw new Error(`${file}: ${(e as Error).message}`);
      }
      return TarBag.open(plain, onBytes);
    }
    const members = new Map<string, Member>();
    const ex = byteExtract();
    const input = fs.createReadStream(file, { highWaterMark: 1 << 20 });
    if (onBytes) input.on('data', (d) => onBytes((d as Buffer).length));
    let inputErr: Error | null = null;
    input.on('error', (e) => {
      inputErr = e;
      ex.destroy(e);
    });
    input.pipe(ex);
    try {
      for await (const entry of ex as unknown as AsyncIterable<Readable & { header: { name: string; type: string; size: number; linkname: string | null; byteOffset: number } }>) {
        const h = entry.header;
        const name = cleanMember(Buffer.from(h.name, 'latin1').toString('utf8'));
        if (h.type === 'file' || h.type === 'contiguous-file') members.set(name, { offset: h.byteOffset, size: h.size, link: null, hard: null });
        else if (h.type === 'symlink') {
          const target = Buffer.from(h.linkname ?? '', 'latin1').toString('utf8');
          const dir = path.posix.dirname(name);
          members.set(name, { offset: 0, size: 0, link: target.startsWith('/') ? target : path.posix.join(dir === '.' ? '' : dir, target), hard: null });
        } else if (h.type === 'link') {
          members.set(name, { offset: 0, size: 0, link: null, hard: Buffer.from(h.linkname ?? '', 'latin1').toString('utf8') });
        }
        for await (const _ of entry) {
          /* skip the data; members are read later by offset */
        }
      }
    } catch (e) {
      input.destroy();
      throw new Error(`${file}: not a valid tar archive: ${(inputErr ?? (e as Error)).message}`);
    }
    if (inputErr) throw inputErr;
    return new TarBag(file, members);
  }

  private find(name: string, depth = 0): Member {
    if (depth > 16) throw new Error(`too many symlinks at ${JSON.stringify(name)} in ${this.describe}`);
    let m: Member | undefined;
    try {
      m = this.members.get(cleanMember(name));
    } catch (e) {
      throw new Error(`${(e as Error).message} in ${this.describe}`);
    }
    if (!m) throw new Error(`missing file ${JSON.stringify(name)} in ${this.describe}`);
    if (m.link !== null) {
      if (m.link.startsWith('/')) throw new Error(`${JSON.stringify(name)} in ${this.describe} is an absolute symlink`);
      return this.find(m.link, depth + 1);
    }
    if (m.hard !== null) return this.find(m.hard, depth + 1);
    return m;
  }
  has(name: string): boolean {
    try {
      this.find(name);
      return true;
    } catch {
      return false;
    }
  }
  blob(name: string): BlobSource {
    const m = this.find(name);
    return { file: this.file, start: m.offset, size: m.size };
  }
  readSmall(name: string): Buffer {
    return readRange(this.blob(name), MAX_JSON, name);
  }
}
