import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { spawnSync } from 'node:child_process';
import { STRATA, makeTar, mkTmp, writeOciLayout, tarDir, makeDockerArchive, strata, snapshot, compress, ImageSpec, BuiltImage } from './image-helpers';

async function baseLayer(): Promise<Buffer> {
  return makeTar([{ name: 'etc/', type: 'directory' }, { name: 'etc/hostname', body: 'base\n' }, { name: 'bin/', type: 'directory' }, { name: 'bin/sh', body: '#!', mode: 0o755 }]);
}

test('load an OCI layout dir with gzip, zstd and plain layers; reuse layers on reload', async (t) => {
  const d = mkTmp(t);
  const root = path.join(d, 'store');
  const l1 = await baseLayer();
  const l2 = await makeTar([{ name: 'etc/', type: 'directory' }, { name: 'etc/zstd', body: 'z' }]);
  const l3 = await makeTar([{ name: 'etc/plain', body: 'p' }]);
  writeOciLayout(path.join(d, 'oci'), [{ ref: 'demo/app:1.0', layers: [{ tar: l1 }, { tar: l2, compression: 'zstd' }, { tar: l3, compression: 'none' }] }]);
  const r = strata(root, ['load', path.join(d, 'oci')]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, 'Loaded image: demo/app:1.0\n');
  t.is(r.stderr, '', 'quiet when stderr is not a TTY');
  t.is(fs.readdirSync(path.join(root, 'layers')).length, 3);
  const again = strata(root, ['load', '--json', path.join(d, 'oci')]);
  t.is(again.code, 0, again.stderr);
  const j = JSON.parse(again.stdout) as Array<{ newLayers: number; reusedLayers: number }>;
  t.is(j[0].newLayers, 0);
  t.is(j[0].reusedLayers, 3);
});

test('load -i a docker-archive with several images sharing a layer', async (t) => {
  const d = mkTmp(t);
  const root = path.join(d, 'store');
  const shared = await baseLayer();
  const a = await makeTar([{ name: 'a', body: 'a' }]);
  const b = await makeTar([{ name: 'b', body: 'b' }]);
  fs.writeFileSync(path.join(d, 'multi.tar'), await makeDockerArchive([{ tags: ['alpha:1', 'alpha:latest'], layers: [shared, a] }, { tags: ['docker.io/library/beta:2'], layers: [shared, b] }]));
  const r = strata(root, ['load', '-i', path.join(d, 'multi.tar')]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, 'Loaded image: alpha:1\nLoaded image: alpha:latest\nLoaded image: beta:2\n');
  t.is(fs.readdirSync(path.join(root, 'layers')).length, 3, 'the shared layer is stored once');
  const imgs = strata(root, ['images', '--json']);
  const rows = JSON.parse(imgs.stdout) as Array<{ repository: string; tag: string }>;
  t.deepEqual(rows.map((x) => `${x.repository}:${x.tag}`).sort(), ['alpha:1', 'alpha:latest', 'beta:2']);
});

test('load a gzip-compressed docker-archive (docker save | gzip)', async (t) => {
  const d = mkTmp(t);
  const root = path.join(d, 'store');
  fs.writeFileSync(path.join(d, 'img.tar.gz'), zlib.gzipSync(await makeDockerArchive([{ tags: ['gz:1'], layers: [await baseLayer()] }])));
  const r = strata(root, ['load', path.join(d, 'img.tar.gz')]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, 'Loaded image: gz:1\n');
  t.deepEqual(fs.readdirSync(path.join(root, 'tmp')), [], 'the unpacked archive is not kept');
});

test('load from stdin, like docker load < file', async (t) => {
  const d = mkTmp(t);
  const root = path.join(d, 'store');
  const arc = await makeDockerArchive([{ tags: ['piped:1'], layers: [await baseLayer()] }]);
  const r = spawnSync(process.execPath, [STRATA, '--root', root, 'load'], { input: arc, encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  t.is(r.stdout, 'Loaded image: piped:1\n');
  t.deepEqual(fs.readdirSync(path.join(root, 'tmp')), []);
});

test('load an oci-archive', async (t) => {
  const d = mkTmp(t);
  const root = path.join(d, 'store');
  writeOciLayout(path.join(d, 'oci'), [{ ref: 'arch:v1', layers: [{ tar: await baseLayer() }] }]);
  fs.writeFileSync(path.join(d, 'img.tar'), await tarDir(path.join(d, 'oci')));
  const r = strata(root, ['load', path.join(d, 'img.tar')]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, 'Loaded image: arch:v1\n');
});

// Every bad input: one line on stderr, non-zero exit, and the store exactly as before.
interface BadCase {
  what: string;
  re: RegExp;
  make(dir: string): Promise<string>;
}

async function layout(dir: string, spec: ImageSpec, tweak?: (img: BuiltImage) => void): Promise<BuiltImage> {
  return writeOciLayout(dir, [spec], tweak)[0];
}
const blobFile = (dir: string, digest: string) => path.join(dir, 'blobs', 'sha256', digest.slice(7));

const cases: BadCase[] = [
  {
    what: 'truncated gzip',
    re: /truncated gzip|unexpected end/,
    async make(dir) {
      const tarBuf = await makeTar([{ name: 'f', body: Buffer.alloc(200000, 7) }]);
      const gz = zlib.gzipSync(tarBuf);
      await layout(dir, { ref: 'bad:1', layers: [{ tar: tarBuf, blob: gz.subarray(0, gz.length - 30) }] });
      return dir;
    },
  },
  {
    what: 'corrupt gzip',
    re: /gzip/,
    async make(dir) {
      const tarBuf = await makeTar([{ name: 'f', body: 'hello'.repeat(1000) }]);
      const gz = Buffer.from(zlib.gzipSync(tarBuf));
      for (let i = 20; i < 60; i++) gz[i] ^= 0x5a;
      await layout(dir, { ref: 'bad:1', layers: [{ tar: tarBuf, blob: gz }] });
      return dir;
    },
  },
  {
    what: 'truncated zstd',
    re: /zstd/,
    async make(dir) {
      const tarBuf = await makeTar([{ name: 'f', body: Buffer.alloc(300000, 3) }]);
      const z = compress(tarBuf, 'zstd');
      await layout(dir, { ref: 'bad:1', layers: [{ tar: tarBuf, blob: z.subarray(0, z.length - 12), compression: 'zstd' }] });
      return dir;
    },
  },
  {
    what: 'corrupt zstd',
    re: /zstd|diff_id/,
    async make(dir) {
      const tarBuf = await makeTar([{ name: 'f', body: 'zz'.repeat(5000) }]);
      const z = Buffer.from(compress(tarBuf, 'zstd'));
      for (let i = 12; i < z.length - 8; i++) z[i] ^= 0xa5;
      await layout(dir, { ref: 'bad:1', layers: [{ tar: tarBuf, blob: z, compression: 'zstd' }] });
      return dir;
    },
  },
  {
    what: 'layer digest mismatch',
    re: /digest mismatch/,
    async make(dir) {
      const img = await layout(dir, { ref: 'bad:1', layers: [{ tar: await baseLayer(), compression: 'none' }] });
      const f = blobFile(dir, img.manifest.layers[0].digest);
      const b = fs.readFileSync(f);
      b[1024] ^= 1; // inside the data of etc/hostname: still a valid tar, another digest
      fs.writeFileSync(f, b);
      return dir;
    },
  },
  {
    what: 'diff_id mismatch',
    re: /diff_id mismatch/,
    async make(dir) {
      await layout(dir, { ref: 'bad:1', layers: [{ tar: await baseLayer() }] }, (img) => {
        (img.config.rootfs as { diff_ids: string[] }).diff_ids[0] = 'sha256:' + 'ab'.repeat(32);
      });
      return dir;
    },
  },
  {
    what: 'missing blob',
    re: /missing blob/,
    async make(dir) {
      const img = await layout(dir, { ref: 'bad:1', layers: [{ tar: await baseLayer() }] });
      fs.rmSync(blobFile(dir, img.manifest.layers[0].digest));
      return dir;
    },
  },
  {
    what: 'unknown media type',
    re: /unknown layer media type/,
    async make(dir) {
      await layout(dir, { ref: 'bad:1', layers: [{ tar: await baseLayer() }] }, (img) => {
        img.manifest.layers[0].mediaType = 'application/x-mystery';
      });
      return dir;
    },
  },
  {
    what: 'manifest naming 1000 layers',
    re: /1000 layers/,
    async make(dir) {
      await layout(dir, { ref: 'bad:1', layers: [{ tar: await baseLayer() }] }, (img) => {
        const l = img.manifest.layers[0];
        img.manifest.layers = Array.from({ length: 1000 }, () => ({ ...l }));
        const rf = img.config.rootfs as { diff_ids: string[] };
        rf.diff_ids = Array.from({ length: 1000 }, () => rf.diff_ids[0]);
      });
      return dir;
    },
  },
  {
    what: '../ name in a layer',
    re: /escapes the layer/,
    async make(dir) {
      await layout(dir, { ref: 'bad:1', layers: [{ tar: await makeTar([{ name: 'ok', body: '1' }, { name: '../../escaped', body: 'x' }]) }] });
      return dir;
    },
  },
  {
    what: 'absolute name in a layer',
    re: /absolute path/,
    async make(dir) {
      await layout(dir, { ref: 'bad:1', layers: [{ tar: await makeTar([{ name: '/escaped', body: 'x' }]) }] });
      return dir;
    },
  },
  {
    what: 'write through a symlink in the layer',
    re: /through a symlink/,
    async make(dir) {
      await layout(dir, { ref: 'bad:1', layers: [{ tar: await makeTar([{ name: 'l', type: 'symlink', linkname: '/' }, { name: 'l/escaped', body: 'x' }]) }] });
      return dir;
    },
  },
  {
    what: 'hard link pointing outside',
    re: /escapes the layer/,
    async make(dir) {
      await layout(dir, { ref: 'bad:1', layers: [{ tar: await makeTar([{ name: 'pw', type: 'link', linkname: '../../../../../etc/shadow' }]) }] });
      return dir;
    },
  },
  {
    what: 'not an image at all',
    re: /not a docker-archive|not a valid tar/,
    async make(dir) {
      fs.writeFileSync(path.join(dir, 'junk.tar'), Buffer.alloc(5000, 'j'));
      return path.join(dir, 'junk.tar');
    },
  },
];

for (const c of cases) {
  test(`bad input refused, store unchanged: ${c.what}`, async (t) => {
    const d = mkTmp(t);
    const root = path.join(d, 'store');
    writeOciLayout(path.join(d, 'good'), [{ ref: 'good:1', layers: [{ tar: await makeTar([{ name: 'keep', body: 'me' }]) }] }]);
    t.is(strata(root, ['load', path.join(d, 'good')]).code, 0);
    const before = snapshot(root);
    const src = path.join(d, 'bad');
    fs.mkdirSync(src);
    const r = strata(root, ['load', await c.make(src)]);
    t.not(r.code, 0);
    t.regex(r.stderr, c.re);
    t.is(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
    t.is(r.stdout, '');
    // the next command collects whatever tmp garbage there is; then the store must match
    t.is(strata(root, ['tag', 'good:1', 'good:1']).code, 0);
    t.deepEqual(snapshot(root), before);
    t.false(fs.existsSync(path.join(d, 'escaped')));
    t.false(fs.existsSync('/escaped'));
    const imgs = strata(root, ['images', '--json']);
    t.deepEqual((JSON.parse(imgs.stdout) as Array<{ repository: string }>).map((x) => x.repository), ['good']);
  });
}
