// Fuzzes the layer importer with mutations of real layers (../shared/fixtures/oci):
// windows of a few entries cut from each layer, then bit flips, truncations, header
// field edits, PAX and GNU long-name headers with hostile values, and gzip damage.
// Every case is imported into a fresh dir inside a sandbox; every 10th one also goes
// through `strata load` (as an OCI layout) into a store. Violations:
//  - an uncaught exception, a programming error (TypeError, RangeError...) or a
//    multi-line error message;
//  - anything created, removed or changed outside the target dir (the sandbox around
//    it, and the top of /);
//  - a failed `strata load` that changes the store, exits 0 without loading, or prints
//    more than one line; a successful one after which `strata check` is not clean;
//  - a case taking over 60 s (a hang).
// Usage: node dist/scripts/fuzz-tar.js [--seconds N] [--seed S] [--cli-every K]
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { spawnSync } from 'node:child_process';
import '../src/image/tarbytes';
import { importLayer } from '../src/image/layer';
import { Rng } from '../test/helpers/rng';
import { sha256 } from '../src/image/digest';

const REPO = path.resolve(__dirname, '..', '..');
const FIXTURES = path.resolve(REPO, '..', 'shared', 'fixtures', 'oci');
const STRATA = path.join(REPO, 'bin', 'strata');

function rng(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next();
}

/** Uncompressed layer tars of the fixture images. */
function fixtureLayers(): Buffer[] {
  const index = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
  const seen = new Set<string>();
  const out: Buffer[] = [];
  for (const m of index.manifests) {
    const man = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'blobs', 'sha256', m.digest.slice(7)), 'utf8')) as { layers: Array<{ digest: string }> };
    for (const l of man.layers) {
      if (seen.has(l.digest)) continue;
      seen.add(l.digest);
      out.push(zlib.gunzipSync(fs.readFileSync(path.join(FIXTURES, 'blobs', 'sha256', l.digest.slice(7)))));
    }
  }
  return out;
}

/** Offsets of the header blocks of a tar (plain walk: size field, data rounded up). */
function headerOffsets(tar: Buffer): number[] {
  const out: number[] = [];
  let off = 0;
  while (off + 512 <= tar.length) {
    const h = tar.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    out.push(off);
    const size = parseInt(h.subarray(124, 136).toString('latin1').replace(/\0.*$/s, '').trim() || '0', 8);
    off += 512 + Math.ceil((Number.isFinite(size) ? size : 0) / 512) * 512;
  }
  return out;
}

const END = Buffer.alloc(1024);

function entryEnd(tar: Buffer, off: number): number {
  const size = parseInt(tar.subarray(off + 124, off + 136).toString('latin1').replace(/\0.*$/s, '').trim() || '0', 8);
  return off + 512 + Math.ceil((Number.isFinite(size) ? size : 0) / 512) * 512;
}

const offsetCache = new Map<Buffer, number[]>();
function offsetsOf(tar: Buffer): number[] {
  let o = offsetCache.get(tar);
  if (!o) offsetCache.set(tar, (o = headerOffsets(tar)));
  return o;
}

function checksum(h: Buffer): void {
  h.fill(0x20, 148, 156);
  let s = 0;
  for (const x of h) s += x;
  h.write(s.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
}

function paxBlock(recs: Array<[string, string]>): Buffer {
  const body = Buffer.concat(
    recs.map(([k, v]) => {
      const b = Buffer.from(` ${k}=${v}\n`, 'latin1');
      let len = b.length + 1;
      while (String(len).length + b.length !== len) len = String(len).length + b.length;
      return Buffer.concat([Buffer.from(String(len)), b]);
    }),
  );
  const h = Buffer.alloc(512);
  h.write('PaxHeaders/x', 0, 'latin1');
  h.write('0000644\0', 100, 'latin1');
  h.write(body.length.toString(8).padStart(11, '0') + '\0', 124, 'latin1');
  h.write('00000000000\0', 136, 'latin1');
  h.write('x', 156, 'latin1');
  h.write('ustar\x0000', 257, 'latin1');
  checksum(h);
  return Buffer.concat([h, body, Buffer.alloc((512 - (body.length % 512)) % 512)]);
}

const HOSTILE_NAMES = ['../escape', '../../../../tmp/fuzz-escape', '/abs-escape', 'a/../../escape', '.wh...', '.wh..wh..opq', 'x/.wh..wh..opq/y', '.', './', '', 'n'.repeat(300), 'dir\nname', 'bin', 'etc', 'usr/bin/../../..'];
const HOSTILE_VALUES = ['-1', '99999999999999999999', '1e400', 'NaN', '', '0', '4294967295', '-99999999999.5', '18446744073709551616'];

interface Case {
  tar: Buffer;
  gzip: boolean;
  what: string[];
}

function mutate(layers: Buffer[], r: () => number): Case {
  const pick = <T>(a: T[]): T => a[Math.floor(r() * a.length)];
  // a window of whole entries (at most ~1 MiB) from a real layer
  let tar = Buffer.alloc(0);
  let entries = 0;
  for (let attempt = 0; attempt < 20; attempt++) {
    const src = pick(layers);
    const offs = offsetsOf(src);
    const start = Math.floor(r() * offs.length);
    const want = 4096 + Math.floor(r() * (512 << 10));
    let endIdx = start + 1;
    while (endIdx < offs.length && offs[endIdx] - offs[start] < want) endIdx++;
    const endOff = endIdx < offs.length ? offs[endIdx] : entryEnd(src, offs[offs.length - 1]);
    if (endOff - offs[start] > 1 << 20) continue;
    tar = Buffer.from(Buffer.concat([src.subarray(offs[start], endOff), END]));
    entries = endIdx - start;
    break;
  }
  const what: string[] = [`window ${entries} entries`];
  const nMut = 1 + Math.floor(r() * 4);
  for (let i = 0; i < nMut; i++) {
    const heads = headerOffsets(tar).filter((o) => o + 512 <= tar.length);
    // header edits need a whole header block; a truncated remnant gets bit flips
    const k = heads.length ? Math.floor(r() * 9) : Math.floor(r() * 2);
    const h = heads.length ? pick(heads) : 0;
    switch (k) {
      case 0: {
        const n = 1 + Math.floor(r() * 16);
        for (let j = 0; j < n; j++) tar[Math.floor(r() * tar.length)] ^= 1 << Math.floor(r() * 8);
        what.push(`${n} bit flips`);
        break;
      }
      case 1:
        tar = tar.subarray(0, Math.floor(r() * tar.length));
        what.push(`truncated to ${tar.length}`);
        break;
      case 2: {
        const name = pick(HOSTILE_NAMES);
        tar.fill(0, h, h + 100);
        tar.write(name.slice(0, 100), h, 'latin1');
        if (r() < 0.8) checksum(tar.subarray(h, h + 512));
        what.push(`name ${JSON.stringify(name.slice(0, 30))}`);
        break;
      }
      case 3: {
        const size = pick([0, 1, 511, 513, 1 << 30, 8 ** 11 - 1, Math.floor(r() * 100000)]);
        tar.write(size.toString(8).padStart(11, '0').slice(-11) + '\0', h + 124, 'latin1');
        if (r() < 0.8) checksum(tar.subarray(h, h + 512));
        what.push(`size ${size}`);
        break;
      }
      case 4: {
        const t = pick(['0', '1', '2', '3', '4', '5', '6', '7', 'x', 'g', 'L', 'K', 'S', 'Z', '\0']);
        tar[h + 156] = t.charCodeAt(0);
        if (r() < 0.5) tar.write(pick(HOSTILE_NAMES).slice(0, 99), h + 157, 'latin1');
        checksum(tar.subarray(h, h + 512));
        what.push(`type ${JSON.stringify(t)}`);
        break;
      }
      case 5: {
        const field = pick([[100, 8], [108, 8], [116, 8], [136, 12]] as Array<[number, number]>);
        const v = pick(['7777777', '\x80\xff\xff\xff\xff\xff\xff\x7f', '-000001', '99999999', 'zzzzzzz', '\xff'.repeat(field[1])]);
        tar.fill(0, h + field[0], h + field[0] + field[1]);
        tar.write(v.slice(0, field[1]), h + field[0], 'latin1');
        checksum(tar.subarray(h, h + 512));
        what.push(`field@${field[0]}=${JSON.stringify(v.slice(0, 8))}`);
        break;
      }
      case 6: {
        const recs: Array<[string, string]> = [];
        const keys = ['path', 'linkpath', 'size', 'uid', 'gid', 'mtime', 'atime', 'SCHILY.xattr.user.x', 'SCHILY.xattr.trusted.overlay.opaque', 'GNU.sparse.map', 'GNU.sparse.size', 'GNU.sparse.major'];
        for (let j = 0; j < 1 + Math.floor(r() * 3); j++) {
          const key = pick(keys);
          recs.push([key, key.endsWith('path') ? pick(HOSTILE_NAMES) : pick(HOSTILE_VALUES)]);
        }
        tar = Buffer.concat([tar.subarray(0, h), paxBlock(recs), tar.subarray(h)]);
        what.push(`pax ${recs.map(([k, v]) => `${k}=${JSON.stringify(v.slice(0, 20))}`).join(',')}`);
        break;
      }
      case 7: {
        const name = Buffer.from(pick(HOSTILE_NAMES) + '\0', 'latin1');
        const lh = Buffer.alloc(512);
        lh.write('././@LongLink', 0, 'latin1');
        lh.write(name.length.toString(8).padStart(11, '0') + '\0', 124, 'latin1');
        lh.write(r() < 0.5 ? 'L' : 'K', 156, 'latin1');
        lh.write('ustar  \0', 257, 'latin1');
        checksum(lh);
        tar = Buffer.concat([tar.subarray(0, h), lh, name, Buffer.alloc((512 - (name.length % 512)) % 512), tar.subarray(h)]);
        what.push('gnu long name/link');
        break;
      }
      case 8: {
        // an entry again, later (duplicate names, maybe of another type)
        const again = heads.length ? pick(heads) : 0;
        const nxt = headerOffsets(tar).find((o) => o > again) ?? again + 512;
        tar = Buffer.concat([tar.subarray(0, Math.max(0, tar.length - 1024)), tar.subarray(again, nxt), END]);
        what.push('duplicate entry');
        break;
      }
    }
  }
  const gzip = r() < 0.3;
  if (gzip) {
    let gz = zlib.gzipSync(tar, { level: 1 });
    if (r() < 0.5) {
      gz = Buffer.from(gz);
      const n = 1 + Math.floor(r() * 4);
      for (let j = 0; j < n; j++) gz[10 + Math.floor(r() * Math.max(1, gz.length - 10))] ^= 1 << Math.floor(r() * 8);
      what.push('gzip damaged');
    }
    return { tar: gz, gzip, what };
  }
  return { tar, gzip, what };
}

function listTree(dir: string, skip: string): string[] {
  const out: string[] = [];
  const walk = (p: string) => {
    let names: string[];
    try {
      names = fs.readdirSync(p);
    } catch {
      return;
    }
    for (const n of names) {
      const q = path.join(p, n);
      if (q === skip) continue;
      const st = fs.lstatSync(q);
      out.push(`${q} ${st.mode} ${st.size} ${st.mtimeMs}`);
      if (st.isDirectory()) walk(q);
    }
  };
  walk(dir);
  return out.sort();
}

/** Names, modes and file sizes (not mtimes: tmp/ itself changes while a load runs). */
function storeSnapshot(root: string): string {
  return listTree(root, path.join(root, 'lock'))
    .map((l) => l.split(' ').slice(0, -1).join(' '))
    .join('\n');
}

function writeLayout(dir: string, blob: Buffer, diffId: string, ref: string): void {
  const blobs = path.join(dir, 'blobs', 'sha256');
  fs.mkdirSync(blobs, { recursive: true });
  const put = (b: Buffer) => {
    const d = sha256(b);
    fs.writeFileSync(path.join(blobs, d.slice(7)), b);
    return { digest: d, size: b.length };
  };
  const layer = put(blob);
  const config = put(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [diffId] } })));
  const manifest = put(
    Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config }, layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }] })),
  );
  fs.writeFileSync(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  fs.writeFileSync(path.join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': ref } }] }));
}

function strata(root: string, args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [STRATA, '--root', root, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const BUG = /^(TypeError|RangeError|ReferenceError|SyntaxError|AssertionError)/;

export interface FuzzReport {
  cases: number;
  refused: number;
  accepted: number;
  cliCases: number;
  peakRssMb: number;
  violations: string[];
  errors: Map<string, number>;
}

export async function fuzz(o: { seconds: number; seed: number; cliEvery: number; onCase?: (n: number, v: number) => void }): Promise<FuzzReport> {
  const r = rng(o.seed);
  const layers = fixtureLayers();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-fuzz-'));
  const sandbox = path.join(work, 'sandbox');
  const store = path.join(work, 'store');
  const rep: FuzzReport = { cases: 0, refused: 0, accepted: 0, cliCases: 0, peakRssMb: 0, violations: [], errors: new Map() };
  const uncaught: Error[] = [];
  const onUncaught = (e: Error) => uncaught.push(e);
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);
  const rootTop = () => fs.readdirSync('/').sort().join(',');
  const tmpTop = () => fs.readdirSync(os.tmpdir()).filter((n) => /escape|fuzz-escape/.test(n)).join(',');
  try {
    fs.mkdirSync(path.join(sandbox, 'a', 'b'), { recursive: true });
    fs.writeFileSync(path.join(sandbox, 'sentinel'), 's');
    const top0 = rootTop();
    const tmp0 = tmpTop();
    const deadline = Date.now() + o.seconds * 1000;
    while (Date.now() < deadline) {
      const n = ++rep.cases;
      const c = mutate(layers, r);
      const label = `case ${n} (seed ${o.seed}: ${c.what.join('; ')})`;
      const blobFile = path.join(work, 'blob');
      fs.writeFileSync(blobFile, c.tar);
      const target = path.join(sandbox, 'a', 'b', 'target');
      fs.mkdirSync(target);
      const around0 = listTree(sandbox, target);
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          importLayer({ src: { file: blobFile }, dest: target, lowers: [] }),
          new Promise((_, rej) => (timer = setTimeout(() => rej(new Error('HANG: over 60 s')), 60_000))),
        ]);
        rep.accepted++;
      } catch (e) {
        const err = e as Error;
        rep.refused++;
        const msg = String(err?.message ?? err);
        const key = msg.replace(/"[^"]*"|'[^']*'|\d+|sha256:[0-9a-f]+/g, '_').slice(0, 70);
        rep.errors.set(key, (rep.errors.get(key) ?? 0) + 1);
        if (msg.startsWith('HANG')) {
          const keep = path.join(os.tmpdir(), `fuzz-tar-hang-${o.seed}-${n}.bin`);
          fs.copyFileSync(blobFile, keep);
          rep.violations.push(`${label}: ${msg} (input kept in ${keep})`);
        }
        if (BUG.test(String(err?.name)) || BUG.test(msg)) rep.violations.push(`${label}: programming error: ${err.name}: ${msg}`);
        if (msg.includes('\n')) rep.violations.push(`${label}: multi-line error: ${JSON.stringify(msg.slice(0, 200))}`);
      } finally {
        clearTimeout(timer);
      }
      if (uncaught.length) rep.violations.push(`${label}: uncaught: ${uncaught.splice(0).map((e) => String(e?.stack ?? e)).join(' | ')}`);
      const around1 = listTree(sandbox, target);
      if (around1.join('\n') !== around0.join('\n')) {
        rep.violations.push(`${label}: wrote outside the target: ${around1.filter((x) => !around0.includes(x)).concat(around0.filter((x) => !around1.includes(x))).slice(0, 3).join(', ')}`);
        fs.rmSync(sandbox, { recursive: true, force: true });
        fs.mkdirSync(path.join(sandbox, 'a', 'b'), { recursive: true });
        fs.writeFileSync(path.join(sandbox, 'sentinel'), 's');
      }
      if (rootTop() !== top0 || tmpTop() !== tmp0) rep.violations.push(`${label}: changed / or ${os.tmpdir()}`);
      fs.rmSync(target, { recursive: true, force: true });

      if (o.cliEvery > 0 && n % o.cliEvery === 0 && !c.gzip) {
        rep.cliCases++;
        const src = path.join(work, 'oci');
        fs.rmSync(src, { recursive: true, force: true });
        writeLayout(src, c.tar, sha256(c.tar), 'fuzz:1');
        const before = storeSnapshot(store);
        const res = strata(store, ['load', src]);
        if (res.code === 0) {
          const chk = strata(store, ['check']);
          if (chk.code !== 0) rep.violations.push(`${label}: check after a successful load: ${chk.stdout.trim().split('\n')[0]}`);
          strata(store, ['rmi', 'fuzz:1']);
        } else {
          if (res.stderr.trim().split('\n').length !== 1 || !res.stderr.startsWith('strata: ')) rep.violations.push(`${label}: load failed without a one-line error: ${JSON.stringify(res.stderr.slice(0, 300))}`);
          if (res.stdout !== '') rep.violations.push(`${label}: failed load printed ${JSON.stringify(res.stdout.slice(0, 100))}`);
          const after = storeSnapshot(store);
          if (after !== before && before !== '') rep.violations.push(`${label}: failed load changed the store`);
        }
      }
      rep.peakRssMb = Math.max(rep.peakRssMb, Math.round(process.memoryUsage().rss / 1048576));
      o.onCase?.(n, rep.violations.length);
    }
  } finally {
    process.removeListener('uncaughtException', onUncaught);
    process.removeListener('unhandledRejection', onUncaught);
    fs.rmSync(work, { recursive: true, force: true });
  }
  return rep;
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  let seconds = 60;
  let seed = Date.now() % 1_000_000;
  let cliEvery = 10;
  for (let i = 0; i < args.length; i++) {
    const v = args[i + 1] ?? '';
    if (args[i] === '--seconds' && /^\d+$/.test(v) && Number(v) > 0) seconds = Number(args[++i]);
    else if (args[i] === '--seed' && /^\d+$/.test(v)) seed = Number(args[++i]);
    else if (args[i] === '--cli-every' && /^\d+$/.test(v)) cliEvery = Number(args[++i]);
    else {
      process.stderr.write(`fuzz-tar: bad argument ${JSON.stringify(args[i])}; usage: fuzz-tar [--seconds N] [--seed S] [--cli-every K (0: never)]\n`);
      return 2;
    }
  }
  const tty = process.stderr.isTTY;
  const rep = await fuzz({ seconds, seed, cliEvery, onCase: (n, v) => tty && n % 10 === 0 && process.stderr.write(`\r${n} cases, ${v} violation(s)`) });
  if (tty) process.stderr.write('\n');
  for (const v of rep.violations.slice(0, 50)) process.stdout.write(`VIOLATION ${v}\n`);
  const top = [...rep.errors.entries()].sort((a, b) => b[1] - a[1]).slice(0, 12);
  process.stdout.write(`errors seen (most frequent):\n${top.map(([k, n]) => `  ${String(n).padStart(6)}  ${k}`).join('\n')}\n`);
  process.stdout.write(`fuzz-tar: ${rep.cases} cases in ${seconds} s (seed ${seed}): ${rep.accepted} accepted, ${rep.refused} refused, ${rep.cliCases} through strata load, peak RSS ${rep.peakRssMb} MiB, ${rep.violations.length} violations\n`);
  return rep.violations.length ? 1 : 0;
}

if (require.main === module) void main().then((c) => (process.exitCode = c));
