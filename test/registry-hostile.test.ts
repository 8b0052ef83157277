// Hostile registries, played by a small HTTP server here: each bad answer gives one line
// on stderr and a non-zero exit, and leaves the store as it was (`strata check` clean).
// Also a flaky one (503s, a connection cut mid-blob) that a pull gets through.
// Serial: the servers here live in this process, and another test's spawnSync would
// freeze them mid-answer.
import test from 'ava';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { makeTar, mkTmp, snapshot, strata, writeOciLayout, DRIVER } from './image-helpers';
import { strataAsync, Teardown } from './helpers/registry';
import { sha256 } from '../src/image/digest';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const arch = process.arch === 'x64' ? 'amd64' : process.arch;
const TIMEOUT_S = 5;

interface Img {
  manifest: Buffer;
  config: Buffer;
  blobs: Map<string, Buffer>;
}

function image(layers: Buffer[], o: { mediaType?: string; diffIds?: string[]; gzip?: boolean } = {}): Img {
  const blobs = new Map<string, Buffer>();
  const descs = layers.map((tar) => {
    const blob = o.gzip === false ? tar : zlib.gzipSync(tar);
    blobs.set(sha256(blob), blob);
    return { mediaType: o.gzip === false ? 'application/vnd.oci.image.layer.v1.tar' : 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(blob), size: blob.length };
  });
  const config = Buffer.from(JSON.stringify({ architecture: arch, os: 'linux', rootfs: { type: 'layers', diff_ids: o.diffIds ?? layers.map((l) => sha256(l)) } }));
  blobs.set(sha256(config), config);
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: o.mediaType ?? OCI_MANIFEST, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length }, layers: descs }));
  return { manifest, config, blobs };
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, parts: { repo: string; kind: 'manifests' | 'blobs'; ref: string }) => void;

async function serve(t: Teardown, routes: Record<string, Handler>, root?: (req: http.IncomingMessage, res: http.ServerResponse) => void): Promise<{ host: string; seen: string[] }> {
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url} ${req.headers.range ?? ''}`.trim());
    if (req.url === '/v2/' || req.url === '/v2') {
      if (root) return root(req, res);
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end('{}');
    }
    const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/?]+)$/.exec(req.url ?? '');
    const h = m ? routes[m[1]] : undefined;
    if (!m || !h) {
      res.writeHead(404, { 'content-type': 'application/json' });
      return res.end('{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}');
    }
    h(req, res, { repo: m[1], kind: m[2] as 'manifests' | 'blobs', ref: m[3] });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return { host: `127.0.0.1:${(server.address() as net.AddressInfo).port}`, seen };
}

/** A well-behaved repository serving img, with optional overrides. */
function honest(img: Img, o: { blob?: (d: string, req: http.IncomingMessage, res: http.ServerResponse) => boolean } = {}): Handler {
  return (req, res, p) => {
    if (p.kind === 'manifests') {
      res.writeHead(200, { 'content-type': OCI_MANIFEST, 'docker-content-digest': sha256(img.manifest), 'content-length': img.manifest.length });
      return res.end(req.method === 'HEAD' ? undefined : img.manifest);
    }
    if (o.blob && o.blob(p.ref, req, res)) return;
    const b = img.blobs.get(p.ref);
    if (!b) {
      res.writeHead(404);
      return res.end();
    }
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (range) {
      const start = Number(range[1]);
      res.writeHead(206, { 'content-type': 'application/octet-stream', 'content-range': `bytes ${start}-${b.length - 1}/${b.length}`, 'content-length': b.length - start });
      return res.end(b.subarray(start));
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': b.length });
    res.end(b);
  };
}

async function storeWithImage(d: string): Promise<string> {
  const root = path.join(d, 'store');
  writeOciLayout(path.join(d, 'oci'), [{ ref: 'keep:1', layers: [{ tar: await makeTar([{ name: 'etc/', type: 'directory' }, { name: 'etc/keep', body: 'keep\n' }]) }] }]);
  const r = strata(root, ['load', path.join(d, 'oci')]);
  if (r.code !== 0) throw new Error(r.stderr);
  return root;
}

/** snapshot without the partial downloads a pull may keep for resuming */
const stored = (root: string) => snapshot(root).filter((l) => !l.startsWith('tmp/downloads'));

async function refused(t: { is(a: unknown, b: unknown, m?: string): void; regex(a: string, r: RegExp, m?: string): void; deepEqual(a: unknown, b: unknown, m?: string): void }, root: string, ref: string, re: RegExp, env: Record<string, string> = {}): Promise<void> {
  const before = stored(root);
  // short, but not so short that a busy machine trips it before the bad answer comes
  const r = await strataAsync(root, ['pull', ref], { env: { STRATA_REGISTRY_TIMEOUT: String(TIMEOUT_S), ...env } });
  t.is(r.code, 1, `${ref}: ${r.stdout}${r.stderr}`);
  t.is(r.stderr.split('\n').length, 2, `${ref}: one line: ${r.stderr}`);
  t.regex(r.stderr, re, ref);
  const ck = strata(root, ['check']);
  t.is(ck.code, 0, `${ref}: strata check: ${ck.stdout}`);
  t.deepEqual(stored(root), before, `${ref}: store unchanged`);
}

test.serial('hostile registries: each bad answer is one line, exit 1, and the store unchanged', async (t) => {
  const d = mkTmp(t);
  const root = await storeWithImage(d);
  const tarA = await makeTar([{ name: 'etc/', type: 'directory' }, { name: 'etc/data', body: 'A'.repeat(3000) }]);
  const tarB = await makeTar([{ name: 'etc/', type: 'directory' }, { name: 'etc/data', body: 'B'.repeat(3000) }]);
  const good = image([tarA]);
  const plain = image([tarA], { gzip: false });
  const bigLayer = image([await makeTar([{ name: 'big', body: Buffer.alloc(4 << 20, 7) }])], { gzip: false });
  const thousand = image([tarA], { diffIds: Array.from({ length: 1000 }, (_, i) => sha256(String(i))) });
  const huge = Buffer.from(JSON.stringify({ ...JSON.parse(good.manifest.toString()), annotations: { pad: 'x'.repeat(5 << 20) } }));
  const fakeChild = sha256('not the index');
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_INDEX, digest: fakeChild, size: 300, platform: { os: 'linux', architecture: arch } }] }));
  const sendManifest = (body: Buffer, type: string, withLength = true): Handler => (req, res, p) => {
    if (p.kind !== 'manifests') return honest(good)(req, res, p);
    res.writeHead(200, { 'content-type': type, ...(withLength ? { 'content-length': body.length } : {}) });
    if (withLength) return res.end(body);
    for (let i = 0; i < body.length; i += 1 << 16) res.write(body.subarray(i, i + (1 << 16)));
    res.end();
  };
  const { host } = await serve(t, {
    // bytes that are a fine tar, but not the blob the manifest names
    baddigest: honest(plain, { blob: (dg, _q, res) => (dg === sha256(tarA) ? (res.writeHead(200, { 'content-length': tarB.length }), res.end(tarB), true) : false) }),
    hugemanifest: sendManifest(huge, OCI_MANIFEST),
    hugechunked: sendManifest(huge, OCI_MANIFEST, false),
    thousandlayers: honest(thousand),
    redirectloop: honest(good, {
      blob: (dg, req, res) => {
        if (dg === sha256(good.config)) return false;
        res.writeHead(302, { location: req.url });
        res.end();
        return true;
      },
    }),
    stall: honest(bigLayer, {
      blob: (dg, _q, res) => {
        const b = bigLayer.blobs.get(dg)!;
        if (dg === sha256(bigLayer.config)) return false;
        res.writeHead(200, { 'content-length': b.length });
        res.write(b.subarray(0, b.length >> 1)); // and then nothing, ever
        return true;
      },
    }),
    wrongtype: sendManifest(good.manifest, 'text/html'),
    selfindex: sendManifest(index, OCI_INDEX),
    schema1: sendManifest(Buffer.from(JSON.stringify({ schemaVersion: 1, name: 'schema1', tag: 'latest', fsLayers: [] })), 'application/vnd.docker.distribution.manifest.v1+prettyjws'),
    oversize: honest(plain, { blob: (dg, _q, res) => (dg === sha256(tarA) ? (res.writeHead(200), res.end(Buffer.concat([tarA, Buffer.alloc(1 << 20)])), true) : false) }),
  });
  await refused(t, root, `${host}/baddigest`, /^strata: blob digest mismatch: expected sha256:[0-9a-f]{64}, got sha256:[0-9a-f]{64}\n$/);
  await refused(t, root, `${host}/hugemanifest`, /^strata: manifest for .*hugemanifest:latest: the manifest is larger than 4 MiB, the most strata \(like containerd\) accepts\n$/);
  await refused(t, root, `${host}/hugechunked`, /^strata: manifest for .*hugechunked:latest: the manifest is larger than 4 MiB/);
  await refused(t, root, `${host}/thousandlayers`, /^strata: image has 1000 layers; strata supports at most 100\n$/);
  await refused(t, root, `${host}/redirectloop`, /^strata: blob [0-9a-f]{12}: more than 10 redirects \(a redirect loop\?\)\n$/);
  await refused(t, root, `${host}/stall`, new RegExp(`^strata: blob [0-9a-f]{12}: the server stalled \\(no data for ${TIMEOUT_S} s\\) \\(4 attempts, resuming each time\\)\n$`));
  await refused(t, root, `${host}/wrongtype`, /^strata: manifest for .*wrongtype:latest came with Content-Type "text\/html", which is not a manifest type\n$/);
  await refused(t, root, `${host}/selfindex`, /^strata: .*selfindex:latest: image index sha256:[0-9a-f]{64} points at itself \(asked for [0-9a-f]{12}, the registry answered with the index again\)\n$/);
  await refused(t, root, `${host}/schema1`, /^strata: manifest for .*schema1:latest is a Docker schema 1 manifest: that format is deprecated/);
  await refused(t, root, `${host}/oversize`, /^strata: blob [0-9a-f]{12} is larger than the \d+ bytes its descriptor says\n$/);
  await refused(t, root, `${host}/nosuchrepo`, /^strata: manifest for .*nosuchrepo:latest: name unknown: repository name not known to registry\n$/);
});

test.serial('a token service that never answers: a timeout and one line', async (t) => {
  const d = mkTmp(t);
  const root = await storeWithImage(d);
  const silent = net.createServer(() => {
    /* accept, and say nothing */
  });
  const conns: net.Socket[] = [];
  silent.on('connection', (s) => conns.push(s));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => {
    for (const c of conns) c.destroy();
    silent.close();
  });
  const realm = `http://127.0.0.1:${(silent.address() as net.AddressInfo).port}/token`;
  const { host } = await serve(t, {}, (_req, res) => {
    res.writeHead(401, { 'www-authenticate': `Bearer realm="${realm}",service="hostile"`, 'content-type': 'application/json' });
    res.end('{"errors":[{"code":"UNAUTHORIZED"}]}');
  });
  await refused(t, root, `${host}/app`, new RegExp(`^strata: token service ${realm.replace(/[.]/g, '\\.')}: no answer within ${TIMEOUT_S} s\\n$`));
});

test.serial('a flaky registry: 503s and a connection cut mid-blob are retried and resumed', async (t) => {
  const d = mkTmp(t);
  const root = path.join(d, 'store');
  const content = Buffer.alloc(2 << 20);
  for (let i = 0; i < content.length; i += 4) content.writeUInt32LE(i, i);
  const img = image([await makeTar([{ name: 'etc/', type: 'directory' }, { name: 'etc/blocks', body: content }])], { gzip: false });
  const layer = [...img.blobs.keys()].find((k) => k !== sha256(img.config))!;
  let manifest503 = 1;
  let blob503 = 2;
  let cut = 1;
  const inner = honest(img);
  const { host, seen } = await serve(t, {
    flaky: (req, res, p) => {
      if (p.kind === 'manifests' && manifest503-- > 0) return (res.writeHead(503), res.end());
      if (p.kind === 'blobs' && p.ref === layer) {
        if (blob503-- > 0) return (res.writeHead(503), res.end());
        if (cut-- > 0) {
          const b = img.blobs.get(layer)!;
          res.writeHead(200, { 'content-length': b.length });
          res.write(b.subarray(0, 1 << 20), () => res.socket?.destroy());
          return;
        }
      }
      inner(req, res, p);
    },
  });
  const r = await strataAsync(root, ['pull', `${host}/flaky`]);
  t.is(r.code, 0, r.stderr);
  t.true(seen.some((s) => s.endsWith(`/blobs/${layer} bytes=${1 << 20}-`) || /bytes=\d+-$/.test(s)), `resumed with a Range request: ${seen.join(', ')}`);
  t.is(strata(root, ['create', '--name', 'c', `${host}/flaky`]).code, 0);
  const mnt = path.join(d, 'mnt');
  t.is(strata(root, ['mount', '--driver', DRIVER, 'c', mnt]).code, 0);
  t.true(fs.readFileSync(path.join(mnt, 'etc/blocks')).equals(content));
  t.is(strata(root, ['rm', '-f', 'c']).code, 0);
  t.is(strata(root, ['check']).code, 0);
});
