// Manifests, indexes and configs are checked against the OCI image-spec's JSON schemas
// (src/image/oci-schema/): each bad document gives one line naming the field; the
// fixture images and what strata writes itself pass.
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FIXTURES, makeTar, mkTmp, snapshot, strata, writeOciLayout } from './image-helpers';
import { MT, parseConfig, parseImageManifest, parseIndex } from '../src/image/sources';
import { checkSchema } from '../src/image/schema';

const D = (c: string) => 'sha256:' + c.repeat(64);
const manifest = (over: Record<string, unknown> = {}) => ({
  schemaVersion: 2,
  mediaType: MT.ociManifest,
  config: { mediaType: MT.ociConfig, digest: D('a'), size: 100 },
  layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: D('b'), size: 200 }],
  ...over,
});
const index = (over: Record<string, unknown> = {}) => ({
  schemaVersion: 2,
  mediaType: MT.ociIndex,
  manifests: [{ mediaType: MT.ociManifest, digest: D('c'), size: 300, platform: { os: 'linux', architecture: 'amd64' } }],
  ...over,
});
const config = (over: Record<string, unknown> = {}) => ({
  architecture: 'amd64',
  os: 'linux',
  created: '2024-05-01T10:00:00.123456789Z',
  config: { Env: ['PATH=/bin'], Cmd: ['sh'], Entrypoint: null, Labels: null },
  rootfs: { type: 'layers', diff_ids: [D('d')] },
  history: [{ created_by: 'x', empty_layer: false }],
  ...over,
});
const buf = (v: unknown) => Buffer.from(JSON.stringify(v));

test('well-formed documents pass', (t) => {
  t.notThrows(() => parseImageManifest(buf(manifest()), 'manifest'));
  t.notThrows(() => parseImageManifest(buf(manifest({ mediaType: MT.dockerManifest, config: { mediaType: MT.dockerConfig, digest: D('a'), size: 1 }, layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: D('b'), size: 2 }] })), 'manifest'));
  t.notThrows(() => parseIndex(buf(index()), 'index'));
  t.notThrows(() => parseConfig(buf(config()), 'config'));
});

const bad: Array<[string, () => unknown, RegExp]> = [
  ['manifest schemaVersion 1', () => parseImageManifest(buf(manifest({ schemaVersion: 1 })), 'manifest m1'), /^manifest m1 does not follow the OCI image spec: schemaVersion must be >= 2 \(1\)$/],
  ['manifest schemaVersion 3', () => parseImageManifest(buf(manifest({ schemaVersion: 3 })), 'manifest m1'), /schemaVersion must be <= 2 \(3\)$/],
  ['manifest without schemaVersion', () => parseImageManifest(buf(manifest({ schemaVersion: undefined })), 'manifest m1'), /: schemaVersion is missing$/],
  ['manifest schemaVersion as a string', () => parseImageManifest(buf(manifest({ schemaVersion: '2' })), 'manifest m1'), /schemaVersion must be integer \("2"\)$/],
  ['layer without size', () => parseImageManifest(buf(manifest({ layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: D('b') }] })), 'manifest m1'), /: layers\[0\]\.size is missing$/],
  ['no layers', () => parseImageManifest(buf(manifest({ layers: [] })), 'manifest m1'), /: layers must NOT have fewer than 1 items/],
  ['annotation not a string', () => parseImageManifest(buf(manifest({ annotations: { 'org.example': 5 } })), 'manifest m1'), /: annotations\.org\.example must be string \(5\)$/],
  ['config descriptor without size', () => parseImageManifest(buf(manifest({ config: { mediaType: MT.ociConfig, digest: D('a') } })), 'manifest m1'), /: config\.size is missing$/],
  ['index schemaVersion 1', () => parseIndex(buf(index({ schemaVersion: 1 })), 'index i1'), /^index i1 does not follow the OCI image spec: schemaVersion must be >= 2 \(1\)$/],
  ['index without schemaVersion', () => parseIndex(buf(index({ schemaVersion: undefined })), 'index i1'), /: schemaVersion is missing$/],
  ['index entry without mediaType', () => parseIndex(buf(index({ manifests: [{ digest: D('c'), size: 3 }] })), 'index i1'), /: manifests\[0\]\.mediaType is missing$/],
  ['index platform without os', () => parseIndex(buf(index({ manifests: [{ mediaType: MT.ociManifest, digest: D('c'), size: 3, platform: { architecture: 'arm64' } }] })), 'index i1'), /: manifests\[0\]\.platform\.os is missing$/],
  ['config without os', () => parseConfig(buf(config({ os: undefined })), 'config c1'), /^config c1 does not follow the OCI image spec: os is missing$/],
  ['config rootfs type', () => parseConfig(buf(config({ rootfs: { type: 'tarball', diff_ids: [] } })), 'config c1'), /: rootfs\.type must be one of \["layers"\] \("tarball"\)$/],
  ['config created not a time', () => parseConfig(buf(config({ created: 'yesterday' })), 'config c1'), /: created is not a valid date-time \("yesterday"\)$/],
  ['config Env not a list', () => parseConfig(buf(config({ config: { Env: 'PATH=/bin' } })), 'config c1'), /: config\.Env must be array \("PATH=\/bin"\)$/],
  ['config Cmd a string', () => parseConfig(buf(config({ config: { Cmd: 'sh' } })), 'config c1'), /: config\.Cmd has the wrong type$/],
  ['config history entry', () => parseConfig(buf(config({ history: [{ empty_layer: 'no' }] })), 'config c1'), /: history\[0\]\.empty_layer must be boolean \("no"\)$/],
];
for (const [what, f, re] of bad) {
  test(`refused with one line: ${what}`, (t) => {
    const e = t.throws(f as () => void);
    t.false(e!.message.includes('\n'));
    t.regex(e!.message, re);
  });
}

test('the vendored schemas are the spec\'s: schemaVersion is pinned to 2 in both', (t) => {
  for (const f of ['image-manifest-schema.json', 'image-index-schema.json']) {
    const s = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'src', 'image', 'oci-schema', f), 'utf8')) as { properties: { schemaVersion: { minimum: number; maximum: number } } };
    t.deepEqual([s.properties.schemaVersion.minimum, s.properties.schemaVersion.maximum], [2, 2], f);
  }
  t.throws(() => checkSchema('manifest', [], 'x'), { message: /x does not follow the OCI image spec: the document must be object/ });
});

test('every fixture image loads; a layout whose manifest breaks the schema is refused with one line, store unchanged', async (t) => {
  const d = mkTmp(t);
  const root = path.join(d, 'store');
  for (const f of ['oci', 'oci-zstd', path.join('docker-archive', 'base.docker.tar')]) {
    const r = strata(root, ['load', path.join(FIXTURES, f)]);
    t.is(r.code, 0, `${f}: ${r.stderr}`);
  }
  const tar = await makeTar([{ name: 'a', body: 'a' }]);
  const oci = path.join(d, 'oci');
  writeOciLayout(oci, [{ ref: 'bad:1', layers: [{ tar }] }]);
  // make its manifest schemaVersion 1 (and fix the digests that name it)
  const idx = JSON.parse(fs.readFileSync(path.join(oci, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string; size: number }> };
  const old = idx.manifests[0].digest;
  const m = JSON.parse(fs.readFileSync(path.join(oci, 'blobs', 'sha256', old.slice(7)), 'utf8')) as Record<string, unknown>;
  m.schemaVersion = 1;
  const body = Buffer.from(JSON.stringify(m));
  const { sha256 } = await import('../src/image/digest');
  const nd = sha256(body);
  fs.writeFileSync(path.join(oci, 'blobs', 'sha256', nd.slice(7)), body);
  idx.manifests[0] = { ...idx.manifests[0], digest: nd, size: body.length };
  fs.writeFileSync(path.join(oci, 'index.json'), JSON.stringify(idx));
  const before = snapshot(root);
  const r = strata(root, ['load', oci]);
  t.is(r.code, 1);
  t.regex(r.stderr, /^strata: .*manifest .*does not follow the OCI image spec: schemaVersion must be >= 2 \(1\)\n$/);
  t.deepEqual(snapshot(root), before);
});
