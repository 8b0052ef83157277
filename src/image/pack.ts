// Turns an overlay-format directory (a container's upper) into an OCI layer tar:
// whiteout devices become .wh.NAME, opaque dirs get a .wh..wh..opq entry, hard links
// inside the tree stay hard links, xattrs and ns mtimes go into PAX records.
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { bytePack } from './tarbytes';
import { HashingStream } from './digest';
import * as sys from '../native';
import { bytesPath } from './lower';
import { isOpaqueValue, isWhiteout, OverlayXattrs, TRUSTED_XATTRS, unescapeXattr } from '../union/format';

interface PackHeader {
  name: string;
  type: 'file' | 'link' | 'symlink' | 'directory' | 'character-device' | 'block-device' | 'fifo';
  mode: number;
  uid: number;
  gid: number;
  mtime: Date;
  size: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  pax?: Record<string, string>;
}

function nsString(ns: bigint): string {
  const neg = ns < 0n;
  const a = neg ? -ns : ns;
  const s = a / 1_000_000_000n;
  const f = a % 1_000_000_000n;
  return (neg ? '-' : '') + s.toString() + (f ? '.' + f.toString().padStart(9, '0').replace(/0+$/, '') : '');
}

const needsPax = (s: string) => /[^\x20-\x7e]/.test(s);

function header(rel: string, st: fs.BigIntStats, abs: Buffer, type: PackHeader['type'], x: OverlayXattrs): PackHeader {
  const h: PackHeader = {
    name: type === 'directory' ? rel + '/' : rel,
    type,
    mode: Number(st.mode) & 0o7777,
    uid: Number(st.uid),
    gid: Number(st.gid),
    mtime: new Date(Number(st.mtimeNs / 1_000_000n)),
    size: 0,
  };
  const pax: Record<string, string> = {};
  if (st.mtimeNs % 1_000_000_000n !== 0n) pax.mtime = nsString(st.mtimeNs);
  if (h.uid > 0o7777777) pax.uid = String(h.uid);
  if (h.gid > 0o7777777) pax.gid = String(h.gid);
  for (const name of sys.llistxattr(abs)) {
    // the tar names an xattr as users see it (see unescapeXattr); the union's own stay out
    const shown = unescapeXattr(name, x);
    if (shown === null) continue;
    const v = sys.lgetxattr(abs, name);
    // an empty PAX value reads as "unset", so an empty xattr cannot be carried
    if (v !== null && v.length > 0) pax['SCHILY.xattr.' + shown] = v.toString('latin1');
  }
  if (Object.keys(pax).length || needsPax(rel)) h.pax = pax;
  return h;
}

async function addEntry(pack: ReturnType<typeof bytePack>, h: PackHeader, file?: Buffer): Promise<void> {
  if (h.linkname !== undefined && needsPax(h.linkname) && !h.pax) h.pax = {};
  // tar-stream replaces a zero mode by 0644: keep a type bit it masks off anyway
  h.mode = h.mode | 0o100000;
  if (!file) {
    // a 'file' entry without data waits for end(): hand it an empty buffer
    const data = h.type === 'file' ? Buffer.alloc(0) : undefined;
    await new Promise<void>((res, rej) => {
      const cb = (e?: Error | null) => (e ? rej(e) : res());
      if (data) pack.entry(h as never, data, cb);
      else pack.entry(h as never, cb);
    });
    return;
  }
  const sink = pack.entry(h as never);
  const done = new Promise<void>((res, rej) => {
    sink.on('finish', () => res());
    sink.on('close', () => res());
    sink.on('error', rej);
  });
  await pipeline(fs.createReadStream(file, { highWaterMark: 1 << 20 }), sink as unknown as Writable);
  await done;
}

/** Walks dir (sorted, parents before children) and writes its OCI layer form into pack. */
async function walk(pack: ReturnType<typeof bytePack>, dir: string, x: OverlayXattrs): Promise<number> {
  const links = new Map<string, string>();
  let count = 0;
  const visit = async (rel: string): Promise<void> => {
    const abs = bytesPath(dir, rel);
    const names = (fs.readdirSync(abs, { encoding: 'buffer' }) as Buffer[]).map((b) => b.toString('latin1')).sort((a, b) => Buffer.compare(Buffer.from(a, 'latin1'), Buffer.from(b, 'latin1')));
    for (const n of names) {
      const r = rel ? rel + '/' + n : n;
      const p = bytesPath(dir, r);
      const st = fs.lstatSync(p, { bigint: true });
      count++;
      if (isWhiteout(st)) {
        const wh = (rel ? rel + '/' : '') + '.wh.' + n;
        await addEntry(pack, { name: wh, type: 'file', mode: 0, uid: 0, gid: 0, mtime: new Date(Number(st.mtimeNs / 1_000_000n)), size: 0, pax: needsPax(wh) ? {} : undefined });
        continue;
      }
      if (st.isDirectory()) {
        await addEntry(pack, header(r, st, p, 'directory', x));
        if (isOpaqueValue(sys.lgetxattr(p, x.opaque))) {
          const wh = r + '/.wh..wh..opq';
          await addEntry(pack, { name: wh, type: 'file', mode: 0, uid: 0, gid: 0, mtime: new Date(0), size: 0, pax: needsPax(wh) ? {} : undefined });
        }
        await visit(r);
        continue;
      }
      if (st.isFile() && st.nlink > 1n) {
        const key = `${st.dev}:${st.ino}`;
        const first = links.get(key);
        if (first !== undefined) {
          const h = header(r, st, p, 'link', x);
          h.linkname = first;
          await addEntry(pack, h);
          continue;
        }
        links.set(key, r);
      }
      if (st.isFile()) {
        const h = header(r, st, p, 'file', x);
        h.size = Number(st.size);
        await addEntry(pack, h, p);
      } else if (st.isSymbolicLink()) {
        const h = header(r, st, p, 'symlink', x);
        h.linkname = fs.readlinkSync(p, { encoding: 'buffer' }).toString('latin1');
        await addEntry(pack, h);
      } else if (st.isCharacterDevice() || st.isBlockDevice()) {
        const h = header(r, st, p, st.isCharacterDevice() ? 'character-device' : 'block-device', x);
        h.devmajor = sys.devMajor(Number(st.rdev));
        h.devminor = sys.devMinor(Number(st.rdev));
        await addEntry(pack, h);
      } else if (st.isFIFO()) {
        await addEntry(pack, header(r, st, p, 'fifo', x));
      }
      // sockets cannot live in a tar; docker skips them too
    }
  };
  await visit('');
  return count;
}

export interface PackedLayer {
  digest: string;
  diffId: string;
  size: number;
  diffSize: number;
  entries: number;
}

/** Writes dir as a gzip-compressed OCI layer to outFile; x: the union's marks in dir
 *  (user.overlay.* in a user's store). */
export async function packLayer(dir: string, outFile: string, x: OverlayXattrs = TRUSTED_XATTRS): Promise<PackedLayer> {
  const pack = bytePack();
  const hd = new HashingStream();
  const hc = new HashingStream();
  const out = fs.createWriteStream(outFile, { flags: 'wx' });
  const done = pipeline(pack as unknown as NodeJS.ReadableStream, hd, zlib.createGzip({ level: 6 }), hc, out);
  let entries = 0;
  try {
    entries = await walk(pack, dir, x);
    pack.finalize();
  } catch (e) {
    pack.destroy(e as Error);
    await done.catch(() => undefined);
    throw e;
  }
  await done;
  return { digest: hc.digest(), diffId: hd.digest(), size: hc.bytes, diffSize: hd.bytes, entries };
}
