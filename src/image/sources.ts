// Reads docker-archive, oci-archive and OCI image layout into one description per
// image. Everything is checked that can be checked before any layer is extracted:
// media types, digest syntax, sizes, config digests, layer counts.
import * as fs from 'node:fs';
import { Bag, DirBag, TarBag } from './bag';
import { BlobSource } from './layer';
import { checkDigest, hex, sha256 } from './digest';
import { normalizeReference } from './reference';
import { checkSchema } from './schema';

export const MAX_LAYERS = 100;

export const MT = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  layerTar: 'application/vnd.oci.image.layer.v1.tar',
  layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  layerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
};

/** An OCI image manifest for a config blob and its layers, as strata writes them. */
export function ociManifest(config: { digest: string; size: number }, layers: ReadonlyArray<{ mediaType: string; digest: string; size: number }>): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      config: { mediaType: MT.ociConfig, digest: config.digest, size: config.size },
      layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
    }),
  );
}

const LAYER_TYPES = new Set([
  MT.layerTar,
  MT.layerGzip,
  MT.layerZstd,
  'application/vnd.oci.image.layer.nondistributable.v1.tar',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  'application/vnd.docker.image.rootfs.diff.tar',
  'application/vnd.docker.image.rootfs.diff.tar.gzip',
  'application/vnd.docker.image.rootfs.diff.tar.zstd',
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
]);

export interface SourceLayer {
  src: BlobSource;
  /** null for docker-archive layers, whose digest is only known once read */
  digest: string | null;
  mediaType: string | null;
  diffId: string;
}

export interface SourceImage {
  refs: string[];
  manifest: Buffer | null;
  manifestDigest: string | null;
  config: Buffer;
  configDigest: string;
  configJson: ImageConfig;
  layers: SourceLayer[];
}

export interface ImageConfig {
  created?: string;
  author?: string;
  architecture?: string;
  os?: string;
  config?: Record<string, unknown>;
  rootfs: { type: string; diff_ids: string[] };
  history?: Array<{ created?: string; created_by?: string; author?: string; comment?: string; empty_layer?: boolean }>;
  [k: string]: unknown;
}

export interface Descriptor {
  mediaType?: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { os?: string; architecture?: string; variant?: string };
  urls?: string[];
}

export function parseJson<T>(b: Buffer, what: string): T {
  try {
    return JSON.parse(b.toString('utf8')) as T;
  } catch (e) {
    throw new Error(`${what} is not valid JSON: ${(e as Error).message}`);
  }
}

export function parseConfig(b: Buffer, what: string): ImageConfig {
  const c = parseJson<ImageConfig>(b, what);
  if (!c || typeof c !== 'object' || !c.rootfs || !Array.isArray(c.rootfs.diff_ids)) throw new Error(`${what} has no rootfs.diff_ids`);
  if (c.rootfs.diff_ids.length > MAX_LAYERS) throw new Error(`image has ${c.rootfs.diff_ids.length} layers; strata supports at most ${MAX_LAYERS}`);
  c.rootfs.diff_ids.forEach((d, i) => checkDigest(d, `diff_id ${i}`));
  checkSchema('config', c, what);
  return c;
}

function blobName(digest: string): string {
  return `blobs/sha256/${hex(digest)}`;
}

function readVerified(bag: Bag, d: Descriptor, what: string): Buffer {
  checkDigest(d.digest, what);
  if (!bag.has(blobName(d.digest))) throw new Error(`missing blob ${d.digest} (${what}) in ${bag.describe}`);
  const b = bag.readSmall(blobName(d.digest));
  if (sha256(b) !== d.digest) throw new Error(`${what} digest mismatch: expected ${d.digest}, got ${sha256(b)}`);
  if (typeof d.size === 'number' && d.size !== b.length) throw new Error(`${what} size mismatch: descriptor says ${d.size}, blob has ${b.length}`);
  return b;
}

function refFromAnnotation(a: Record<string, string> | undefined): string | null {
  const n = a?.['org.opencontainers.image.ref.name'] ?? a?.['io.containerd.image.name'];
  if (!n) return null;
  try {
    return normalizeReference(n);
  } catch {
    return null;
  }
}

export interface ImageManifest {
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
}

/** An image manifest (OCI or Docker schema 2), checked as far as it can be on its own. */
export function parseImageManifest(bytes: Buffer, what: string, mediaType?: string): ImageManifest {
  const m = parseJson<{ schemaVersion?: number; mediaType?: string; config?: Descriptor; layers?: Descriptor[] }>(bytes, what);
  if (!m || typeof m !== 'object') throw new Error(`${what} is not a JSON object`);
  const mt = m.mediaType ?? mediaType ?? MT.ociManifest;
  if (mt !== MT.ociManifest && mt !== MT.dockerManifest) throw new Error(`unknown manifest media type ${JSON.stringify(mt)}`);
  if (!m.config || typeof m.config !== 'object' || !Array.isArray(m.layers)) throw new Error(`${what} lacks config or layers`);
  if (m.layers.length > MAX_LAYERS) throw new Error(`manifest names ${m.layers.length} layers; strata supports at most ${MAX_LAYERS}`);
  const cmt = m.config.mediaType;
  if (cmt !== MT.ociConfig && cmt !== MT.dockerConfig) throw new Error(`unknown config media type ${JSON.stringify(cmt)}`);
  checkDigest(m.config.digest, 'config');
  checkSize(m.config.size, 'config');
  m.layers.forEach((l, i) => {
    if (!l || typeof l !== 'object') throw new Error(`${what}: layer ${i} is not a descriptor`);
    checkDigest(l.digest, `layer ${i}`);
    if (!l.mediaType || !LAYER_TYPES.has(l.mediaType)) throw new Error(`unknown layer media type ${JSON.stringify(l.mediaType)}`);
    checkSize(l.size, `layer ${i}`);
  });
  checkSchema('manifest', m, what);
  return { mediaType: mt, config: m.config, layers: m.layers };
}

function checkSize(n: unknown, what: string): void {
  if (n !== undefined && (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0)) throw new Error(`invalid ${what} size ${JSON.stringify(n)}`);
}

/** An image index (OCI) or manifest list (Docker). */
export function parseIndex(bytes: Buffer, what: string): Descriptor[] {
  const idx = parseJson<{ manifests?: Descriptor[] }>(bytes, what);
  if (!idx || typeof idx !== 'object' || !Array.isArray(idx.manifests)) throw new Error(`${what} has no manifests list`);
  if (idx.manifests.length > 1000) throw new Error(`${what} lists ${idx.manifests.length} manifests; strata reads at most 1000`);
  idx.manifests.forEach((d, i) => {
    if (!d || typeof d !== 'object') throw new Error(`${what}: entry ${i} is not a descriptor`);
    checkDigest(d.digest, `${what} entry ${i}`);
    checkSize(d.size, `${what} entry ${i}`);
  });
  checkSchema('index', idx, what);
  return idx.manifests;
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/** This machine, in OCI's words (Go's GOARCH names). */
export function hostPlatform(): Platform {
  const a = process.arch;
  if (a === 'x64') return { os: 'linux', architecture: 'amd64' };
  if (a === 'arm64') return { os: 'linux', architecture: 'arm64', variant: 'v8' };
  if (a === 'arm') return { os: 'linux', architecture: 'arm', variant: 'v7' };
  if (a === 'ia32') return { os: 'linux', architecture: '386' };
  return { os: 'linux', architecture: a };
}

export function parsePlatform(s: string): Platform {
  const p = s.split('/');
  if (p.length < 2 || p.length > 3 || p.some((x) => !/^[a-z0-9._-]+$/.test(x))) throw new Error(`invalid platform ${JSON.stringify(s)} (OS/ARCH[/VARIANT], e.g. linux/arm64/v8)`);
  return { os: p[0], architecture: p[1], variant: p[2] };
}

export function formatPlatform(p: { os?: string; architecture?: string; variant?: string }): string {
  return [p.os ?? '?', p.architecture ?? '?', ...(p.variant ? [p.variant] : [])].join('/');
}

// arm64 without a variant is v8, as containerd's platform matcher counts it
const normVariant = (arch: string | undefined, v: string | undefined): string => (arch === 'arm64' && !v ? 'v8' : v ?? '');

/** The index entry for a platform; a clear error naming what the index has when none fits. */
export function choosePlatform(ms: Descriptor[], want: Platform, what: string, explicit = false): Descriptor {
  const same = ms.filter((d) => d.platform?.os === want.os && d.platform?.architecture === want.architecture);
  if (want.variant !== undefined) {
    const exact = same.find((d) => normVariant(d.platform?.architecture, d.platform?.variant) === normVariant(want.architecture, want.variant));
    if (exact) return exact;
    // a host's default variant is a preference, a --platform variant a requirement
    if (!explicit && same.length) return same[0];
  } else if (same.length) return same.find((d) => !d.platform?.variant) ?? same[0];
  if (!explicit && ms.length === 1 && !ms[0].platform) return ms[0];
  const have = ms.filter((d) => d.platform).map((d) => formatPlatform(d.platform!));
  throw new Error(`no image for ${formatPlatform(want)} in ${what}; it has ${have.length ? [...new Set(have)].join(', ') : 'no platform-specific images'}`);
}

function fromOciManifest(bag: Bag, d: Descriptor, refs: string[]): SourceImage {
  const manifest = readVerified(bag, d, 'manifest');
  const m = parseImageManifest(manifest, `manifest ${d.digest}`, d.mediaType);
  const config = readVerified(bag, m.config, 'config');
  const cj = parseConfig(config, `config ${m.config.digest}`);
  if (cj.rootfs.diff_ids.length !== m.layers.length) throw new Error(`manifest has ${m.layers.length} layers but config has ${cj.rootfs.diff_ids.length} diff_ids`);
  const layers: SourceLayer[] = m.layers.map((l, i) => {
    if (!bag.has(blobName(l.digest))) throw new Error(`missing blob ${l.digest} (layer ${i}) in ${bag.describe}`);
    const src = bag.blob(blobName(l.digest));
    if (typeof l.size === 'number' && l.size !== src.size) throw new Error(`layer ${i} size mismatch: descriptor says ${l.size}, blob has ${src.size}`);
    return { src, digest: l.digest, mediaType: l.mediaType!, diffId: cj.rootfs.diff_ids[i] };
  });
  return { refs, manifest, manifestDigest: d.digest, config, configDigest: m.config.digest, configJson: cj, layers };
}

function readOciLayout(bag: Bag): SourceImage[] {
  const index = parseJson<{ manifests?: Descriptor[] }>(bag.readSmall('index.json'), 'index.json');
  if (!index || typeof index !== 'object' || !Array.isArray(index.manifests)) throw new Error('index.json has no manifests');
  if (index.manifests.length > 1000) throw new Error(`index.json lists ${index.manifests.length} manifests; strata reads at most 1000`);
  checkSchema('index', index, 'index.json');
  const out: SourceImage[] = [];
  const walk = (d: Descriptor, refs: string[], depth: number) => {
    if (depth > 4) throw new Error('image indexes nested too deep');
    const mt = d.mediaType;
    if (mt === MT.ociIndex || mt === MT.dockerList) {
      const ms = parseIndex(readVerified(bag, d, 'image index'), `index ${d.digest}`);
      // a multi-platform index: take the one for this machine
      walk(choosePlatform(ms, hostPlatform(), `image index ${d.digest}`), refs, depth + 1);
      return;
    }
    if (mt !== undefined && mt !== MT.ociManifest && mt !== MT.dockerManifest) throw new Error(`unknown manifest media type ${JSON.stringify(mt)}`);
    out.push(fromOciManifest(bag, d, refs));
  };
  for (const d of index.manifests) {
    const ref = refFromAnnotation(d.annotations);
    walk(d, ref ? [ref] : [], 0);
  }
  // the same manifest listed under several names is one image with several tags
  const merged = new Map<string, SourceImage>();
  for (const img of out) {
    const prev = merged.get(img.configDigest);
    if (prev) prev.refs.push(...img.refs.filter((r) => !prev.refs.includes(r)));
    else merged.set(img.configDigest, img);
  }
  return [...merged.values()];
}

function readDockerArchive(bag: Bag): SourceImage[] {
  const list = parseJson<Array<{ Config: string; RepoTags?: string[] | null; Layers: string[] }>>(bag.readSmall('manifest.json'), 'manifest.json');
  if (!Array.isArray(list) || list.length === 0) throw new Error('manifest.json lists no images');
  return list.map((e, n) => {
    if (typeof e.Config !== 'string' || !Array.isArray(e.Layers)) throw new Error(`manifest.json entry ${n} lacks Config or Layers`);
    if (e.Layers.length > MAX_LAYERS) throw new Error(`manifest names ${e.Layers.length} layers; strata supports at most ${MAX_LAYERS}`);
    const config = bag.readSmall(e.Config);
    const configDigest = sha256(config);
    // docker names the config after its digest: a mismatch means a damaged archive
    const m = /([0-9a-f]{64})(?:\.json)?$/.exec(e.Config);
    if (m && m[1] !== hex(configDigest)) throw new Error(`config ${e.Config} digest mismatch: content is ${configDigest}`);
    const cj = parseConfig(config, e.Config);
    if (cj.rootfs.diff_ids.length !== e.Layers.length) throw new Error(`manifest.json entry ${n} has ${e.Layers.length} layers but its config has ${cj.rootfs.diff_ids.length} diff_ids`);
    const layers = e.Layers.map((l, i) => ({ src: bag.blob(l), digest: null, mediaType: null, diffId: cj.rootfs.diff_ids[i] }));
    const refs = (e.RepoTags ?? []).map((r) => normalizeReference(r));
    return { refs, manifest: null, manifestDigest: null, config, configDigest, configJson: cj, layers };
  });
}

export interface OpenedSource {
  kind: 'docker-archive' | 'oci-archive' | 'oci-layout';
  images: SourceImage[];
}

export async function openSource(p: string, onIndexBytes?: (n: number) => void, tmpDir?: string): Promise<OpenedSource> {
  let st: fs.Stats;
  try {
    st = fs.statSync(p);
  } catch {
    throw new Error(`${p}: no such file or directory`);
  }
  const bag: Bag = st.isDirectory() ? new DirBag(p) : await TarBag.open(p, onIndexBytes, tmpDir);
  if (bag.has('manifest.json')) return { kind: 'docker-archive', images: readDockerArchive(bag) };
  if (bag.has('index.json')) {
    if (!bag.has('oci-layout')) throw new Error(`${p}: index.json without oci-layout file`);
    return { kind: st.isDirectory() ? 'oci-layout' : 'oci-archive', images: readOciLayout(bag) };
  }
  throw new Error(`${p}: not a docker-archive, oci-archive or OCI layout (no manifest.json or index.json)`);
}
