// src/image/tarbytes.ts patches tar-stream's private headers.js (decodePax, encodePax,
// decode). That only works for the exact tar-stream it was written against: this test
// fails when the installed version or the shape it relies on changes.
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REPO } from './image-helpers';
import { byteExtract, bytePack, GnuSparseInfo } from '../src/image/tarbytes';

const dir = path.dirname(require.resolve('tar-stream'));
const src = (f: string) => fs.readFileSync(path.join(dir, f), 'utf8');

test('package.json pins the exact tar-stream that is installed', (t) => {
  const want = (JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies['tar-stream'];
  t.regex(want, /^\d+\.\d+\.\d+$/, 'an exact version, no range');
  const lock = JSON.parse(fs.readFileSync(path.join(REPO, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string; dependencies?: Record<string, string> }> };
  t.is(lock.packages[''].dependencies?.['tar-stream'], want);
  t.is(lock.packages['node_modules/tar-stream'].version, want);
  t.is((JSON.parse(src('package.json')) as { version: string }).version, want);
});

test('headers.js has the functions tarbytes replaces or wraps, with the signatures it assumes', (t) => {
  const h = src('headers.js');
  t.regex(h, /^exports\.decodePax = function decodePax \(buf\) \{/m);
  t.regex(h, /^exports\.encodePax = function encodePax \(opts\) \{/m);
  t.regex(h, /^exports\.decode = function decode \(buf, filenameEncoding, allowUnknownFormat\) \{/m);
  // the fields encodePax is given, as tarbytes' replacement reads them
  t.regex(h, /opts\.name/);
  t.regex(h, /opts\.linkname/);
  t.regex(h, /opts\.pax/);
  // the patched module is the one tar-stream's own files use, looked up at call time
  const headers = require(path.join(dir, 'headers.js')) as Record<string, (...a: unknown[]) => unknown>;
  t.is(headers.decodePax.name, 'decodePaxBytes');
  t.is(headers.encodePax.name, 'encodePaxBytes');
  t.not(headers.decode.name, 'decode', 'decode is wrapped');
  const ex = src('extract.js');
  const pk = src('pack.js');
  t.regex(ex, /const headers = require\('\.\/headers'\)/);
  t.regex(pk, /const headers = require\('\.\/headers'\)/);
  t.regex(ex, /headers\.decode\(this\._buffer\.shift\(512\), this\._filenameEncoding, this\._allowUnknownFormat\)/);
  t.regex(ex, /headers\.decodePax\(buf\)/);
  t.regex(pk, /headers\.encodePax\(\{/);
});

async function roundTrip(entries: Array<{ header: Record<string, unknown>; body?: Buffer }>): Promise<Array<Record<string, unknown>>> {
  const pack = bytePack();
  const ex = byteExtract();
  const got: Array<Record<string, unknown>> = [];
  ex.on('entry', (h, stream, next) => {
    got.push(h as unknown as Record<string, unknown>);
    stream.on('end', next);
    stream.resume();
  });
  const done = new Promise<void>((res, rej) => {
    ex.on('finish', res);
    ex.on('error', rej);
  });
  pack.pipe(ex);
  for (const e of entries) pack.entry(e.header as never, e.body ?? Buffer.alloc(0));
  pack.finalize();
  await done;
  return got;
}

test('behaves as tarbytes assumes: PAX values and long names are byte strings both ways', async (t) => {
  const cap = Buffer.from([0x01, 0x00, 0x00, 0x02, 0xff, 0xfe, 0x80, 0x00, 0xc3, 0x28]).toString('latin1');
  const longName = 'd/' + 'x'.repeat(120) + '\xe9\xff.bin'; // not UTF-8, too long for ustar: goes as PAX path
  const [h] = await roundTrip([{ header: { name: longName, size: 3, pax: { 'SCHILY.xattr.security.capability': cap } }, body: Buffer.from('abc') }]);
  t.is(h.name, longName);
  t.is((h.pax as Record<string, string>)['SCHILY.xattr.security.capability'], cap);
  t.is(h.typeflagRaw, 0x30, 'decode is wrapped: the raw typeflag is kept');
});

test('an unknown typeflag and an old GNU sparse header come through decode as tarbytes needs', async (t) => {
  // a hand-made old GNU sparse entry ('S'): tar-stream knows no such type
  const block = Buffer.alloc(512);
  block.write('sparse-file', 0, 'latin1');
  block.write('0000644\0', 100, 'latin1');
  block.write('0000000\0', 108, 'latin1');
  block.write('0000000\0', 116, 'latin1');
  block.write('00000000004\0', 124, 'latin1');
  block.write('00000000000\0', 136, 'latin1');
  block[156] = 0x53;
  block.write('ustar  \0', 257, 'latin1');
  block.write('00000000000\0', 386, 'latin1'); // offset 0
  block.write('00000000004\0', 398, 'latin1'); // 4 bytes
  block.write('00000010000\0', 483, 'latin1'); // real size 4096
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of block) sum += b;
  block.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  const data = Buffer.alloc(512);
  data.write('data');
  const ex = byteExtract();
  const got = new Promise<Record<string, unknown>>((res, rej) => {
    ex.on('entry', (h, s, next) => {
      res(h as unknown as Record<string, unknown>);
      s.on('end', next);
      s.resume();
    });
    ex.on('error', rej);
  });
  ex.end(Buffer.concat([block, data, Buffer.alloc(1024)]));
  const h = await got;
  t.is(h.type, null, 'upstream maps an unknown typeflag to null');
  t.is(h.typeflagRaw, 0x53);
  t.deepEqual(h.gnuSparse as GnuSparseInfo, { map: [[0, 4]], realSize: 4096, extended: false });
});
