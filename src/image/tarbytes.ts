// tar-stream decodes PAX records and names as UTF-8, which mangles binary xattr values
// (security.capability) and non-UTF-8 file names. Strata handles every tar name and
// PAX value as a "byte string" (latin1: one char per byte) instead, so nothing is lost;
// this module switches tar-stream's PAX codec to that convention and must be imported
// before any tar is read or written.
import * as path from 'node:path';
import * as tar from 'tar-stream';

interface HeadersModule {
  decode(buf: Buffer, enc: string, allowUnknown: boolean): Record<string, unknown> | null;
  decodePax(buf: Buffer): Record<string, string>;
  encodePax(opts: { name?: string; linkname?: string | null; pax?: Record<string, string> | null }): Buffer;
}

// tar-stream's package exports hide headers.js; its absolute path is the same module
// instance that extract.js and pack.js use. Written against tar-stream 3.2.2, which
// package.json pins exactly; test/image-tarbytes-upstream.test.ts fails when the installed
// version, or the functions and call sites patched here, change.
const headers = require(path.join(path.dirname(require.resolve('tar-stream')), 'headers.js')) as HeadersModule;

function decodePaxBytes(buf: Buffer): Record<string, string> {
  const result: Record<string, string> = {};
  let off = 0;
  while (off < buf.length) {
    let sp = off;
    while (sp < buf.length && buf[sp] !== 0x20) sp++;
    const len = parseInt(buf.subarray(off, sp).toString('latin1'), 10);
    if (!len || len < 0 || off + len > buf.length) break;
    const rec = buf.subarray(sp + 1, off + len - 1); // drop the trailing newline
    const eq = rec.indexOf(0x3d);
    if (eq === -1) break;
    // keys are UTF-8 by spec but in practice ASCII; values stay raw bytes
    result[rec.subarray(0, eq).toString('latin1')] = rec.subarray(eq + 1).toString('latin1');
    off += len;
  }
  return result;
}

function paxRecord(key: string, value: string): Buffer {
  const body = Buffer.from(' ' + key + '=' + value + '\n', 'latin1');
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len), 'latin1'), body]);
}

function encodePaxBytes(opts: { name?: string; linkname?: string | null; pax?: Record<string, string> | null }): Buffer {
  const parts: Buffer[] = [];
  if (opts.name) parts.push(paxRecord('path', opts.name));
  if (opts.linkname) parts.push(paxRecord('linkpath', opts.linkname));
  if (opts.pax) for (const [k, v] of Object.entries(opts.pax)) parts.push(paxRecord(k, v));
  return Buffer.concat(parts);
}

headers.decodePax = decodePaxBytes;

export interface GnuSparseInfo {
  map: Array<[number, number]>;
  realSize: number;
  extended: boolean;
}

function octal(buf: Buffer, off: number, len: number): number {
  const s = buf.subarray(off, off + len).toString('latin1').replace(/[\0 ].*$/s, '').trim();
  return s ? parseInt(s, 8) : 0;
}

// tar-stream maps typeflags it does not know to null; keep the raw flag (and the old
// GNU sparse map, which lives in the header block) so the extractor can decide.
const origDecode = headers.decode;
headers.decode = (buf: Buffer, enc: string, allowUnknown: boolean) => {
  const h = origDecode(buf, enc, allowUnknown);
  if (h) {
    h.typeflagRaw = buf[156];
    if (buf[156] === 0x53) {
      const map: Array<[number, number]> = [];
      for (let i = 0; i < 4; i++) {
        const o = 386 + i * 24;
        if (buf[o] === 0) break;
        map.push([octal(buf, o, 12), octal(buf, o + 12, 12)]);
      }
      const info: GnuSparseInfo = { map, realSize: octal(buf, 483, 12), extended: buf[482] !== 0 };
      h.gnuSparse = info;
    }
  }
  return h;
};
headers.encodePax = encodePaxBytes;

/** A tar-stream extractor whose names and PAX values are byte strings (latin1). */
export function byteExtract(): tar.Extract {
  return tar.extract({ filenameEncoding: 'latin1' } as unknown as Parameters<typeof tar.extract>[0]);
}

export function bytePack(): tar.Pack {
  return tar.pack();
}

