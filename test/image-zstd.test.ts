// The zstd decoders (zstd-napi, and Node's zlib where it has zstd) against the zstd
// tool: same bytes for the fixture layers, concatenated frames, any chunking; truncated
// and corrupt input are errors that say zstd.
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { FIXTURES } from './image-helpers';
import { decompressor, hasBuiltinZstd, zstdDecoder } from '../src/image/compression';

async function decode(input: Buffer | string, chunk = 1 << 16): Promise<{ sha: string; n: number }> {
  const h = createHash('sha256');
  let n = 0;
  const src = typeof input === 'string' ? fs.createReadStream(input) : Readable.from((function* () {
    for (let i = 0; i < input.length; i += chunk) yield input.subarray(i, i + chunk);
  })());
  await pipeline(src, decompressor('zstd'), new Writable({
    write(b: Buffer, _e, cb) {
      h.update(b);
      n += b.length;
      cb();
    },
  }));
  return { sha: h.digest('hex'), n };
}

const zstdTool = (args: string[], input?: Buffer): Buffer => execFileSync('zstd', args, { input, maxBuffer: 1 << 28 });
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

const blobs = fs.readdirSync(path.join(FIXTURES, 'oci-zstd', 'blobs', 'sha256')).map((f) => path.join(FIXTURES, 'oci-zstd', 'blobs', 'sha256', f)).filter((f) => fs.readFileSync(f).subarray(0, 4).readUInt32LE(0) === 0xfd2fb528);

test(`fixture layers decode to the zstd tool's bytes (${zstdDecoder()})`, async (t) => {
  t.true(blobs.length >= 3, 'the zstd fixture has its three layers');
  for (const b of blobs) {
    const want = zstdTool(['-dc', '--', b]);
    const got = await decode(b);
    t.is(got.n, want.length, b);
    t.is(got.sha, sha(want), b);
  }
});

test.serial('zstd-napi is the default wherever it is built; STRATA_ZSTD picks Node\'s own where there is one', (t) => {
  const prev = process.env.STRATA_ZSTD;
  t.teardown(() => {
    if (prev === undefined) delete process.env.STRATA_ZSTD;
    else process.env.STRATA_ZSTD = prev;
  });
  delete process.env.STRATA_ZSTD;
  t.is(zstdDecoder(), 'zstd-napi');
  process.env.STRATA_ZSTD = 'node:zlib';
  t.is(zstdDecoder(), hasBuiltinZstd() ? 'node:zlib' : 'zstd-napi');
  process.env.STRATA_ZSTD = 'zstd-napi';
  t.is(zstdDecoder(), 'zstd-napi');
});

// serial: the decoder is picked by an environment variable, which concurrent tests would share
const decoders: Array<'node:zlib' | 'zstd-napi'> = ['zstd-napi', ...(hasBuiltinZstd() ? (['node:zlib'] as const) : [])];

test.serial(`every decoder this Node has (${decoders.join(', ')}) gives the tool's bytes for a fixture layer`, async (t) => {
  const prev = process.env.STRATA_ZSTD;
  t.teardown(() => {
    if (prev === undefined) delete process.env.STRATA_ZSTD;
    else process.env.STRATA_ZSTD = prev;
  });
  const small = blobs.sort((a, b) => fs.statSync(a).size - fs.statSync(b).size)[1];
  for (const d of decoders) {
    process.env.STRATA_ZSTD = d;
    t.is(zstdDecoder(), d);
    t.is((await decode(small)).sha, sha(zstdTool(['-dc', '--', small])), d);
  }
});

for (const decoder of decoders) {
  test.serial(`${decoder}: concatenated frames, one-byte chunks, empty frames; truncated and corrupt input fail naming zstd`, async (t) => {
    process.env.STRATA_ZSTD = decoder;
    t.teardown(() => {
      delete process.env.STRATA_ZSTD;
    });
    const a = Buffer.concat([Buffer.from('first frame '.repeat(5000)), randomBytes(40_000)]);
    const b = Buffer.from('second '.repeat(3000));
    const za = zstdTool(['-c', '-q'], a);
    const zb = zstdTool(['-c', '-q'], b);
    const both = Buffer.concat([za, zb]);
    t.is((await decode(both)).sha, sha(Buffer.concat([a, b])));
    t.is((await decode(both, 1)).sha, sha(Buffer.concat([a, b])), 'fed a byte at a time');
    t.is((await decode(zstdTool(['-c', '-q'], Buffer.alloc(0)))).n, 0);
    await t.throwsAsync(decode(za.subarray(0, za.length - 5)), { message: /zstd/ });
    const bad = Buffer.from(za);
    bad.fill(0x55, 20, 4000);
    await t.throwsAsync(decode(bad), { message: /zstd/ });
  });
}

// the decoder reuses output slabs the extractor reports written: any slab reused too early
// would leave other bytes in some file than the gzip import of the same tar writes
test('a zstd layer extracts to the same tree as its gzip twin while slabs are reused', async (t) => {
  const { importLayer } = await import('../src/image/layer');
  const { TREE_MANIFEST } = await import('./image-helpers');
  const largest = (dir: string) => fs.readdirSync(dir).map((f) => path.join(dir, f)).sort((a, b) => fs.statSync(b).size - fs.statSync(a).size)[0];
  const z = largest(path.join(FIXTURES, 'oci-zstd', 'blobs', 'sha256'));
  const g = largest(path.join(FIXTURES, 'oci', 'blobs', 'sha256'));
  const tmp = fs.mkdtempSync('/tmp/strata-zstd-reuse-');
  t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const manifests: string[] = [];
  for (const [name, blob] of [['z', z], ['g', g]]) {
    const dest = path.join(tmp, name);
    fs.mkdirSync(dest);
    const r = await importLayer({ src: { file: blob }, dest, lowers: [] });
    t.true(r.entries > 1000, 'the base layer has its entries');
    manifests.push(execFileSync(TREE_MANIFEST, [dest], { maxBuffer: 1 << 28 }).toString());
  }
  t.is(manifests[0], manifests[1]);
});
