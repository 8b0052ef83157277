// Hand-made hostile layer tars (issue 6). Cases already covered elsewhere are not
// repeated: image-extract.test.ts has ../ and nested ../ names, absolute names, writes
// through absolute and relative symlinks, hard links outside / absolute / through a
// symlink / to nothing, and a truncated body; cli-load.test.ts has corrupt and
// truncated gzip/zstd, digest and diff_id mismatches, missing blobs, unknown media
// types and 1000-layer manifests. That is 10 tar cases there + the 51 here.
// Each case: refused with a one-line error, or a documented safe outcome; nothing is
// written outside the layer dir; through `strata load` the store stays unchanged.
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { Readable } from 'node:stream';
import { spawnSync } from 'node:child_process';
import { extractLayer } from '../src/image/extract';
import { lgetxattr } from '../src/native';
import { Store } from '../src/store/store';
import { loadImages } from '../src/store/importer';
import { makeTar, mkTmp, rawHeader, pad512, END, E, writeOciLayout, strata, snapshot } from './image-helpers';

interface Case {
  what: string;
  tar(): Promise<Buffer>;
  /** refused with an error matching this */
  refuse?: RegExp;
  /** accepted: the documented safe outcome, checked on the extracted layer dir */
  outcome?: (l: string) => void;
}

const bigName = (n: number) => Array.from({ length: Math.ceil(n / 100) }, (_, i) => `d${i}`.padEnd(99, 'x')).join('/');

function withPax(pax: string, entry: Buffer[]): Buffer {
  const body = Buffer.from(pax, 'latin1');
  return Buffer.concat([rawHeader({ name: 'PaxHeader', typeflag: 'x', size: body.length }), pad512(body), ...entry]);
}
function paxRec(k: string, v: string): string {
  const body = ` ${k}=${v}\n`;
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return `${len}${body}`;
}
const fileEntry = (name: string, body = 'x'): Buffer[] => [rawHeader({ name, typeflag: '0', size: body.length }), pad512(Buffer.from(body))];
const st = (p: string) => fs.lstatSync(p);
/** A file entry after PAX records (GNU sparse ones here); for sparse 1.0 the map leads `data`. */
const paxFile = (recs: Record<string, string>, data: string, name = 'GNUSparseFile.0/s'): Buffer =>
  Buffer.concat([withPax(Object.entries(recs).map(([k, v]) => paxRec(k, v)).join(''), fileEntry(name, data)), END]);
const sparse10 = (realsize: string, name = 's') => ({ 'GNU.sparse.major': '1', 'GNU.sparse.minor': '0', 'GNU.sparse.realsize': realsize, 'GNU.sparse.name': name });

const cases: Case[] = [
  // --- links ---
  { what: 'hard link to a later entry', tar: () => makeTar([{ name: 'early', type: 'link', linkname: 'late' }, { name: 'late', body: 'x' }]), refuse: /not in the layer or below/ },
  { what: 'hard link to itself', tar: () => makeTar([{ name: 'me', type: 'link', linkname: 'me' }]), refuse: /not in the layer or below/ },
  { what: 'hard link to a directory', tar: () => makeTar([{ name: 'd/', type: 'directory' }, { name: 'h', type: 'link', linkname: 'd' }]), refuse: /is not a file/ },
  { what: 'hard link to a whiteout', tar: () => makeTar([{ name: '.wh.gone', body: '' }, { name: 'h', type: 'link', linkname: 'gone' }]), refuse: /not in the layer|not a file/ },
  {
    what: 'hard link to a symlink pointing outside (link(2) does not follow it)',
    tar: () => makeTar([{ name: 's', type: 'symlink', linkname: '/etc/passwd' }, { name: 'h', type: 'link', linkname: 's' }]),
    outcome: (l) => {
      if (!st(path.join(l, 'h')).isSymbolicLink() || fs.readlinkSync(path.join(l, 'h')) !== '/etc/passwd') throw new Error('h should be the symlink itself');
    },
  },
  { what: 'symlink dir then hard link through it to a file below', tar: () => makeTar([{ name: 'real/', type: 'directory' }, { name: 'real/f', body: 'f' }, { name: 'via', type: 'symlink', linkname: 'real' }, { name: 'h', type: 'link', linkname: 'via/f' }]), refuse: /non-directory/ },
  { what: 'GNU long link (K) naming a hard link target outside', tar: async () => Buffer.concat([rawHeader({ name: '././@LongLink', typeflag: 'K', size: 30 }), pad512(Buffer.from('../../../../../../../etc/shadow')), rawHeader({ name: 'h', typeflag: '1', size: 0 }), END]), refuse: /escapes the layer/ },
  // --- devices ---
  {
    what: 'device nodes (kept as nodes: the store root is 0700 and containers need /dev entries)',
    tar: () => makeTar([{ name: 'mem', type: 'character-device', devmajor: 1, devminor: 1, mode: 0o666 }, { name: 'sda', type: 'block-device', devmajor: 8, devminor: 0, mode: 0o666 }]),
    outcome: (l) => {
      if (!st(path.join(l, 'mem')).isCharacterDevice() || !st(path.join(l, 'sda')).isBlockDevice()) throw new Error('device nodes expected');
    },
  },
  // --- duplicate names, different types: the later entry wins, as in tar ---
  {
    what: 'file then directory of the same name',
    tar: () => makeTar([{ name: 'x', body: 'file' }, { name: 'x/', type: 'directory' }, { name: 'x/in', body: 'in' }]),
    outcome: (l) => {
      if (!st(path.join(l, 'x')).isDirectory() || fs.readFileSync(path.join(l, 'x/in'), 'utf8') !== 'in') throw new Error('x should be a dir');
    },
  },
  {
    what: 'directory with content then file of the same name',
    tar: () => makeTar([{ name: 'x/', type: 'directory' }, { name: 'x/in', body: 'in' }, { name: 'x', body: 'file' }]),
    outcome: (l) => {
      if (!st(path.join(l, 'x')).isFile() || fs.readFileSync(path.join(l, 'x'), 'utf8') !== 'file') throw new Error('x should be a file');
    },
  },
  {
    what: 'symlink to outside then directory of the same name, then a file in it',
    tar: (): Promise<Buffer> => makeTar([{ name: 'x', type: 'symlink', linkname: '/tmp' }, { name: 'x/', type: 'directory' }, { name: 'x/evil', body: 'e' }]),
    outcome: (l) => {
      if (!st(path.join(l, 'x')).isDirectory() || !st(path.join(l, 'x/evil')).isFile()) throw new Error('x should be a real dir');
    },
  },
  { what: 'directory then symlink of the same name, then a file through it', tar: () => makeTar([{ name: 'x/', type: 'directory' }, { name: 'x', type: 'symlink', linkname: '/tmp' }, { name: 'x/evil', body: 'e' }]), refuse: /through a symlink/ },
  {
    what: 'file then symlink of the same name',
    tar: () => makeTar([{ name: 'x', body: 'f' }, { name: 'x', type: 'symlink', linkname: '/etc/shadow' }]),
    outcome: (l) => {
      if (!st(path.join(l, 'x')).isSymbolicLink()) throw new Error('x should be a symlink');
    },
  },
  // --- sizes and structure ---
  { what: 'header claiming 1 GiB with a short body', tar: async () => Buffer.concat([rawHeader({ name: 'big', typeflag: '0', size: 1 << 30 }), Buffer.alloc(4096, 7)]), refuse: /end of data|Unexpected end|truncated/i },
  { what: 'truncated header block', tar: async () => Buffer.concat([...fileEntry('ok'), rawHeader({ name: 'cut', typeflag: '0', size: 3 }).subarray(0, 300)]), refuse: /end of data|Unexpected end|truncated|Invalid/i },
  {
    what: 'bad header checksum',
    tar: async () => {
      const h = rawHeader({ name: 'f', typeflag: '0', size: 1 });
      h[0] ^= 0x20; // name changed after the checksum was computed
      return Buffer.concat([h, pad512(Buffer.from('x')), END]);
    },
    refuse: /Invalid tar header|checksum|corrupt/i,
  },
  { what: 'PAX header with a huge length', tar: async () => Buffer.concat([rawHeader({ name: 'PaxHeader', typeflag: 'x', size: 1 << 30 }), Buffer.alloc(8192, 0x31)]), refuse: /Header exceeds max size|end of data/i },
  {
    what: 'PAX record whose length field overruns the header (ignored, header name used)',
    tar: async () => Buffer.concat([withPax('99999999 path=../../evil\n', fileEntry('plain')), END]),
    outcome: (l) => {
      if (!st(path.join(l, 'plain')).isFile()) throw new Error('plain expected');
    },
  },
  { what: 'PAX path with a NUL byte', tar: async () => Buffer.concat([withPax(paxRec('path', 'a\0/../../evil'), fileEntry('x')), END]), refuse: /NUL in path|escapes/ },
  { what: 'PAX path with ..', tar: async () => Buffer.concat([withPax(paxRec('path', 'ok/../../../evil'), fileEntry('x')), END]), refuse: /escapes the layer/ },
  { what: 'PAX linkpath with .. on a hard link', tar: async () => Buffer.concat([withPax(paxRec('linkpath', '../../etc/passwd'), [rawHeader({ name: 'h', typeflag: '1', size: 0 })]), END]), refuse: /escapes the layer/ },
  { what: 'PAX size of a regular file far beyond free space', tar: async () => Buffer.concat([withPax(paxRec('size', String(2 ** 52)), [rawHeader({ name: 'huge', typeflag: '0', size: 0 })]), END]), refuse: /bytes free for the store/ },
  { what: 'GNU long name (L) pointing outside', tar: async () => Buffer.concat([rawHeader({ name: '././@LongLink', typeflag: 'L', size: 20 }), pad512(Buffer.from('../../../../tmp/evil\0')), ...fileEntry('short'), END]), refuse: /escapes the layer/ },
  {
    what: 'directory header claiming 8 GiB of data (stalled the importer before; found by fuzz-tar)',
    tar: async () => Buffer.concat([rawHeader({ name: 'd/', typeflag: '5', size: 8 ** 11 - 1, mode: 0o755 }), ...fileEntry('d/f', 'after'), END]),
    outcome: (l) => {
      if (fs.readFileSync(path.join(l, 'd/f'), 'utf8') !== 'after') throw new Error('d/f expected');
    },
  },
  { what: 'unknown entry type', tar: async () => Buffer.concat([rawHeader({ name: 'odd', typeflag: 'Z', size: 0 }), END]), refuse: /unsupported tar entry type/ },
  // --- whiteouts ---
  { what: 'whiteout .wh... (of "..")', tar: () => makeTar([{ name: 'd/', type: 'directory' }, { name: 'd/.wh...', body: '' }]), refuse: /invalid whiteout/ },
  { what: 'whiteout .wh.. (of ".")', tar: () => makeTar([{ name: '.wh..', body: '' }]), refuse: /invalid whiteout/ },
  { what: 'opaque marker used as a directory', tar: () => makeTar([{ name: 'd/.wh..wh..opq/', type: 'directory' }, { name: 'd/.wh..wh..opq/evil', body: 'e' }]), refuse: /not an empty file|used as a directory/ },
  { what: 'whiteout that is a symlink', tar: () => makeTar([{ name: '.wh.etc', type: 'symlink', linkname: '/etc' }]), refuse: /not an empty file/ },
  { what: 'whiteout name as a parent directory', tar: () => makeTar([{ name: '.wh.d/f', body: 'x' }]), refuse: /used as a directory/ },
  {
    what: 'opaque marker at the layer root (documented: the root dir becomes opaque)',
    tar: () => makeTar([{ name: '.wh..wh..opq', body: '' }, { name: 'f', body: 'x' }]),
    outcome: (l) => {
      if (lgetxattr(l, 'trusted.overlay.opaque')?.toString() !== 'y') throw new Error('root should be opaque');
    },
  },
  // --- GNU sparse files (real ones: image-extract.test.ts) ---
  { what: 'GNU sparse 0.0 (PAX GNU.sparse.offset/numblocks)', tar: async () => paxFile({ 'GNU.sparse.numblocks': '1', 'GNU.sparse.offset': '0', 'GNU.sparse.numbytes': '1', 'GNU.sparse.size': '1' }, 'x'), refuse: /GNU sparse format 0\.0 is not supported/ },
  { what: 'GNU sparse 0.1 map beyond the file size', tar: async () => paxFile({ 'GNU.sparse.map': '0,10', 'GNU.sparse.size': '5', 'GNU.sparse.name': 's' }, '0123456789'), refuse: /sparse map beyond file size/ },
  { what: 'GNU sparse 0.1 data shorter than its map', tar: async () => paxFile({ 'GNU.sparse.map': '0,100', 'GNU.sparse.size': '100', 'GNU.sparse.name': 's' }, '0123456789'), refuse: /truncated sparse data/ },
  { what: 'GNU sparse 1.0 with a negative size', tar: async () => paxFile(sparse10('-1'), '0\n'), refuse: /bad sparse size/ },
  { what: 'GNU sparse 1.0 map cut short', tar: async () => paxFile(sparse10('100'), '2\n0\n10\n'), refuse: /truncated sparse map/ },
  { what: 'GNU sparse 1.0 map with a non-number', tar: async () => paxFile(sparse10('100'), '1\nzero\n5\n'), refuse: /bad sparse map/ },
  { what: 'GNU sparse 1.0 map with a 21-digit number', tar: async () => paxFile(sparse10('100'), `1\n${'1'.repeat(21)}\n5\n`), refuse: /bad sparse map/ },
  { what: 'GNU sparse 1.0 map of 2,000,000 pieces', tar: async () => paxFile(sparse10('100'), '2000000\n'), refuse: /sparse map too large/ },
  { what: 'GNU sparse 1.0 real name with ..', tar: async () => paxFile(sparse10('1', '../../evil'), '0\n'), refuse: /escapes the layer/ },
  {
    what: 'old GNU sparse header (S) with extension headers',
    tar: async () => Buffer.concat([rawHeader({ name: 's', typeflag: 'S', size: 0, extra: (b) => { b[482] = 1; b.write('00000000012\0', 483, 'latin1'); } }), END]),
    refuse: /old GNU sparse file with extension headers is not supported/,
  },
  // --- names ---
  {
    what: 'names with control bytes (kept as bytes; errors print them escaped)',
    tar: () => makeTar([{ name: 'bell\x07\x1b[31m\nnl', body: 'c' }]),
    outcome: (l) => {
      if (!st(path.join(l, 'bell\x07\x1b[31m\nnl')).isFile()) throw new Error('control-byte name expected');
    },
  },
  { what: 'refused name with a newline stays one line', tar: () => makeTar([{ name: 'a\n/../../evil\n', body: 'x' }]), refuse: /escapes the layer/ },
  { what: 'path of 4096+ bytes', tar: () => makeTar([{ name: bigName(4200), body: 'x' }]), refuse: /path longer than/ },
  { what: 'one name component over 255 bytes', tar: () => makeTar([{ name: 'n'.repeat(300), body: 'x' }]), refuse: /name longer than 255/ },
  // --- metadata ---
  {
    what: 'mode bits outside 07777 (masked)',
    tar: async () => Buffer.concat([rawHeader({ name: 'm', typeflag: '0', size: 0, mode: 0o7777777 }), END]),
    outcome: (l) => {
      if ((st(path.join(l, 'm')).mode & 0o7777) !== 0o7777 || !st(path.join(l, 'm')).isFile()) throw new Error('mode should be masked to 07777 on a regular file');
    },
  },
  { what: 'negative uid (PAX)', tar: () => makeTar([{ name: 'u', body: 'x', pax: { uid: '-1' } }]), refuse: /uid "-1" is out of range/ },
  { what: 'huge gid (PAX)', tar: () => makeTar([{ name: 'g', body: 'x', pax: { gid: '99999999999' } }]), refuse: /gid "99999999999" is out of range/ },
  { what: 'mtime far in the future (PAX)', tar: () => makeTar([{ name: 't', body: 'x', pax: { mtime: '99999999999999' } }]), refuse: /timestamp .* out of range/ },
  { what: 'mtime far in the past (PAX)', tar: () => makeTar([{ name: 't', body: 'x', pax: { mtime: '-99999999999999.5' } }]), refuse: /timestamp .* out of range/ },
  {
    what: 'mtime before 1970 within range (kept)',
    tar: () => makeTar([{ name: 't', body: 'x', pax: { mtime: '-86400' } }]),
    outcome: (l) => {
      if (st(path.join(l, 't')).mtimeMs !== -86400000) throw new Error('mtime -86400 s expected');
    },
  },
];

/** Everything under dir except the layer dir itself: must stay as it was. */
function around(dir: string, layer: string): string[] {
  const out: string[] = [];
  const walk = (p: string) => {
    for (const n of fs.readdirSync(p)) {
      const q = path.join(p, n);
      if (q === layer) continue;
      out.push(q);
      if (fs.lstatSync(q).isDirectory()) walk(q);
    }
  };
  walk(dir);
  return out.sort();
}

test('at least 30 hand-made hostile tars here', (t) => {
  t.true(cases.length >= 30, String(cases.length));
});

for (const c of cases) {
  test(`hostile tar: ${c.what}`, async (t) => {
    const d = mkTmp(t);
    fs.mkdirSync(path.join(d, 'outside'));
    fs.writeFileSync(path.join(d, 'outside', 'keep'), 'k');
    const layer = path.join(d, 'a', 'b', 'layer');
    fs.mkdirSync(layer, { recursive: true });
    const before = around(d, layer);
    const tmpBefore = fs.readdirSync('/tmp').filter((n) => n.startsWith('evil'));
    const p = extractLayer(Readable.from([await c.tar()]), layer, { lowers: [] });
    if (c.refuse) {
      const err = await t.throwsAsync(p);
      t.regex(err!.message, c.refuse);
      t.false(err!.message.includes('\n'), 'one line');
    } else {
      await p;
      t.notThrows(() => c.outcome!(layer));
    }
    t.deepEqual(around(d, layer), before, 'nothing written outside the layer');
    t.deepEqual(fs.readdirSync('/tmp').filter((n) => n.startsWith('evil')), tmpBefore);
  });
}

test('loading every refused case into a store leaves it unchanged; the CLI says one line', async (t) => {
  const d = mkTmp(t);
  const root = path.join(d, 'store');
  writeOciLayout(path.join(d, 'good'), [{ ref: 'good:1', layers: [{ tar: await makeTar([{ name: 'keep', body: 'me' }]) }] }]);
  t.is(strata(root, ['load', path.join(d, 'good')]).code, 0);
  const before = snapshot(root);
  const store = Store.open(root);
  const refused = cases.filter((c) => c.refuse);
  for (const [i, c] of refused.entries()) {
    const src = path.join(d, `bad${i}`);
    writeOciLayout(src, [{ ref: `bad:${i}`, layers: [{ tar: await c.tar(), compression: 'none' }] }]);
    // in-process (node start-up per case would dominate); through the CLI for every 6th
    if (i % 6 === 0) {
      const r = strata(root, ['load', src]);
      t.not(r.code, 0, c.what);
      t.regex(r.stderr, /^strata: [^\n]+\n$/, `${c.what}: ${r.stderr}`);
      t.regex(r.stderr, c.refuse!, c.what);
      t.is(r.stdout, '', c.what);
    } else {
      const err = await t.throwsAsync(store.withLock(() => loadImages(store, src)), undefined, c.what);
      t.regex(err!.message, c.refuse!, c.what);
    }
    t.deepEqual(snapshot(root), before, c.what);
  }
  const chk = strata(root, ['check']);
  t.is(chk.code, 0, chk.stdout);
});

test('100,000 entries in one directory: extracted with bounded memory', async (t) => {
  const d = mkTmp(t);
  const n = 100_000;
  const parts: Buffer[] = [rawHeader({ name: 'big/', typeflag: '5', size: 0, mode: 0o755 })];
  for (let i = 0; i < n; i++) parts.push(rawHeader({ name: `big/f${i}`, typeflag: '0', size: 0 }));
  parts.push(END);
  const tarBuf = Buffer.concat(parts);
  const layer = path.join(d, 'l');
  fs.mkdirSync(layer);
  // in a child so that its peak RSS is the importer's alone
  const script = `
    const fs = require('fs'); const { Readable } = require('stream');
    const { extractLayer } = require(${JSON.stringify(path.resolve(__dirname, '../src/image/extract.js'))});
    const buf = fs.readFileSync(process.argv[1]);
    const chunks = []; for (let i = 0; i < buf.length; i += 65536) chunks.push(buf.subarray(i, i + 65536));
    extractLayer(Readable.from(chunks), process.argv[2], { lowers: [] }).then((s) => {
      const hwm = /VmHWM:\\s+(\\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1];
      console.log(JSON.stringify({ entries: s.entries, hwmKb: Number(hwm) }));
    }, (e) => { console.error(e.message); process.exit(1); });`;
  fs.writeFileSync(path.join(d, 'x.tar'), tarBuf);
  const r = spawnSync(process.execPath, ['-e', script, path.join(d, 'x.tar'), layer], { encoding: 'utf8', timeout: 240_000 });
  t.is(r.status, 0, r.stderr);
  const res = JSON.parse(r.stdout) as { entries: number; hwmKb: number };
  t.is(res.entries, n + 1);
  t.is(fs.readdirSync(path.join(layer, 'big')).length, n);
  // the tar itself is 51 MB and read into memory by the child; the importer adds little
  t.true(res.hwmKb < 400 * 1024, `peak RSS ${res.hwmKb} KiB`);
  t.log(`100k entries: peak RSS ${Math.round(res.hwmKb / 1024)} MiB`);
});

test('decompression bomb of zero blocks after the archive is cut off', async (t) => {
  const d = mkTmp(t);
  const tarBuf = Buffer.concat([await makeTar([{ name: 'f', body: 'x' }]), Buffer.alloc(200 << 20)]);
  const gz = zlib.gzipSync(tarBuf, { level: 1 });
  t.true(gz.length < 2 << 20, `bomb is small (${gz.length})`);
  const layer = path.join(d, 'l');
  fs.mkdirSync(layer);
  const err = await t.throwsAsync(extractLayer(Readable.from([tarBuf]), layer, { lowers: [] }));
  t.regex(err!.message, /belong to no entry/);
});

test('gzip bomb through strata load on a small filesystem: refused before the disk fills', async (t) => {
  const d = mkTmp(t);
  const fsDir = path.join(d, 'small');
  fs.mkdirSync(fsDir);
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=48m', 'tmpfs', fsDir]);
  t.is(m.status, 0, String(m.stderr));
  t.teardown(() => spawnSync('umount', ['-l', fsDir]));
  const root = path.join(fsDir, 'store');
  writeOciLayout(path.join(d, 'good'), [{ ref: 'good:1', layers: [{ tar: await makeTar([{ name: 'keep', body: 'me' }]) }] }]);
  t.is(strata(root, ['load', path.join(d, 'good')]).code, 0);
  const before = snapshot(root);
  // 256 MiB of one byte (not zeros: those would become holes) in 256 KiB of gzip
  const tarBuf = await makeTar([{ name: 'bomb', body: Buffer.alloc(256 << 20, 0x41) } as E]);
  writeOciLayout(path.join(d, 'bomb'), [{ ref: 'bomb:1', layers: [{ tar: tarBuf, compression: 'gzip' }] }]);
  const r = strata(root, ['load', path.join(d, 'bomb')]);
  t.not(r.code, 0);
  t.regex(r.stderr, /^strata: layer declares \d+ bytes of file data .* free for the store\n$/);
  t.deepEqual(snapshot(root), before);
  const df = fs.statfsSync(fsDir);
  t.true((df.blocks - df.bfree) * df.bsize < 8 << 20, 'nothing big was written');
  // a compressed archive that expands beyond the free space is cut off too
  fs.writeFileSync(path.join(d, 'bomb.tar.gz'), zlib.gzipSync(Buffer.concat([tarBuf, Buffer.alloc(0)]), { level: 1 }));
  const r2 = strata(root, ['load', path.join(d, 'bomb.tar.gz')]);
  t.not(r2.code, 0);
  t.regex(r2.stderr, /expands to more than the \d+ bytes free/);
  t.deepEqual(snapshot(root), before);
});
