// Builders for test images: tars from tar-stream (and raw headers where tar-stream
// cannot write the format), OCI layouts, docker-archives, and a CLI runner.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { spawnSync, execFileSync } from 'node:child_process';
import * as tar from 'tar-stream';
import '../src/image/tarbytes';
import { sha256 } from '../src/image/digest';

export const REPO = path.resolve(__dirname, '..', '..');
export const SHARED = path.resolve(REPO, '..', 'shared');
export const FIXTURES = path.join(SHARED, 'fixtures');
export const TREE_MANIFEST = path.join(SHARED, 'tools', 'tree-manifest');
export const STRATA = path.join(REPO, 'bin', 'strata');
/** Mount driver for tests; the lead switches this to strata-fs once it is ready. */
export const DRIVER = process.env.STRATA_TEST_DRIVER ?? 'strata-fs';

export interface E {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'block-device' | 'fifo';
  body?: string | Buffer;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: Date;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  pax?: Record<string, string>;
}

/** A tar made by tar-stream. Names and PAX values are byte strings (latin1). */
export async function makeTar(entries: E[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => {
    chunks.push(c as Buffer);
  });
  const ended = new Promise<void>((res, rej) => {
    pack.on('end', () => res());
    pack.on('error', rej);
  });
  for (const e of entries) {
    const type = e.type ?? 'file';
    const body = typeof e.body === 'string' ? Buffer.from(e.body) : (e.body ?? Buffer.alloc(0));
    const h = {
      name: e.name,
      type,
      mode: (e.mode ?? (type === 'directory' ? 0o755 : 0o644)) | 0o100000,
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      mtime: e.mtime ?? new Date('2020-01-01T00:00:00Z'),
      linkname: e.linkname,
      devmajor: e.devmajor,
      devminor: e.devminor,
      pax: e.pax,
    };
    await new Promise<void>((res, rej) => {
      const cb = (err?: Error | null) => (err ? rej(err) : res());
      if (type === 'file') pack.entry(h as never, body, cb);
      else pack.entry(h as never, cb);
    });
  }
  pack.finalize();
  await ended;
  return Buffer.concat(chunks);
}

function octal(n: number, len: number): string {
  return n.toString(8).padStart(len - 1, '0') + '\0';
}

/** One raw GNU-format header block (for typeflags tar-stream cannot write). */
export function rawHeader(o: { name: string; typeflag: string; size: number; mode?: number; linkname?: string; extra?: (b: Buffer) => void }): Buffer {
  const b = Buffer.alloc(512);
  b.write(o.name, 0, 100, 'latin1');
  b.write(octal(o.mode ?? 0o644, 8), 100, 'latin1');
  b.write(octal(0, 8), 108, 'latin1');
  b.write(octal(0, 8), 116, 'latin1');
  b.write(octal(o.size, 12), 124, 'latin1');
  b.write(octal(1577836800, 12), 136, 'latin1');
  b.write(o.typeflag, 156, 'latin1');
  if (o.linkname) b.write(o.linkname, 157, 100, 'latin1');
  b.write('ustar  \0', 257, 'latin1');
  if (o.extra) o.extra(b);
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const x of b) sum += x;
  b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  return b;
}

export function pad512(data: Buffer): Buffer {
  const n = (512 - (data.length % 512)) % 512;
  return Buffer.concat([data, Buffer.alloc(n)]);
}

export const END = Buffer.alloc(1024);

export function mkTmp(t: { teardown(fn: () => void): void }, prefix = 'strata-t-'): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.teardown(() => {
    // never leave a mount behind, even when an assertion failed
    const mi = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n');
    const mine = mi.map((l) => l.split(' ')[4]).filter((m) => m && (m === d || m.startsWith(d + '/')));
    for (const m of mine.sort().reverse()) spawnSync('umount', ['-l', m]);
    fs.rmSync(d, { recursive: true, force: true });
  });
  return d;
}

export interface LayerSpec {
  tar: Buffer;
  compression?: 'gzip' | 'zstd' | 'none';
  /** the blob as stored, instead of compressing tar (for damaged blobs) */
  blob?: Buffer;
}

export interface ImageSpec {
  ref?: string;
  layers: LayerSpec[];
  history?: string[];
}

export function compress(data: Buffer, c: 'gzip' | 'zstd' | 'none'): Buffer {
  if (c === 'gzip') return zlib.gzipSync(data);
  if (c === 'zstd') return execFileSync('zstd', ['-q', '-c'], { input: data, maxBuffer: 1 << 30 });
  return data;
}

const LAYER_MT = { gzip: 'application/vnd.oci.image.layer.v1.tar+gzip', zstd: 'application/vnd.oci.image.layer.v1.tar+zstd', none: 'application/vnd.oci.image.layer.v1.tar' };

export interface BuiltImage {
  manifest: Record<string, unknown> & { layers: Array<{ mediaType: string; digest: string; size: number }> };
  config: Record<string, unknown>;
  manifestDigest: string;
  configDigest: string;
}

/** Writes an OCI image layout with the given images into dir. */
export function writeOciLayout(dir: string, images: ImageSpec[], tweak?: (img: BuiltImage, i: number) => void): BuiltImage[] {
  const blobs = path.join(dir, 'blobs', 'sha256');
  fs.mkdirSync(blobs, { recursive: true });
  const put = (b: Buffer) => {
    const d = sha256(b);
    fs.writeFileSync(path.join(blobs, d.slice(7)), b);
    return d;
  };
  const out: BuiltImage[] = [];
  const index: { schemaVersion: number; manifests: unknown[] } = { schemaVersion: 2, manifests: [] };
  images.forEach((img, i) => {
    const layers = img.layers.map((l) => {
      const c = l.compression ?? 'gzip';
      const blob = l.blob ?? compress(l.tar, c);
      return { mediaType: LAYER_MT[c], digest: put(blob), size: blob.length, diffId: sha256(l.tar) };
    });
    const config: Record<string, unknown> = {
      created: '2024-01-01T00:00:00Z',
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
      history: layers.map((_, k) => ({ created: '2024-01-01T00:00:00Z', created_by: img.history?.[k] ?? `layer ${k + 1}` })),
    };
    const manifest = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: '', size: 0 },
      layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
    };
    const built: BuiltImage = { manifest, config, manifestDigest: '', configDigest: '' };
    if (tweak) tweak(built, i);
    const cb = Buffer.from(JSON.stringify(built.config));
    built.configDigest = put(cb);
    if (!built.manifest.config || (built.manifest.config as { digest: string }).digest === '') built.manifest.config = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: built.configDigest, size: cb.length };
    const mb = Buffer.from(JSON.stringify(built.manifest));
    built.manifestDigest = put(mb);
    index.manifests.push({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: built.manifestDigest, size: mb.length, ...(img.ref ? { annotations: { 'org.opencontainers.image.ref.name': img.ref } } : {}) });
    out.push(built);
  });
  fs.writeFileSync(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  fs.writeFileSync(path.join(dir, 'index.json'), JSON.stringify(index));
  return out;
}

/** A tar of a directory's files (for oci-archive / docker-archive), made with tar-stream. */
export async function tarDir(dir: string): Promise<Buffer> {
  const entries: E[] = [];
  const walk = (rel: string) => {
    for (const n of fs.readdirSync(path.join(dir, rel)).sort()) {
      const r = rel ? `${rel}/${n}` : n;
      const st = fs.lstatSync(path.join(dir, r));
      if (st.isDirectory()) {
        entries.push({ name: r + '/', type: 'directory' });
        walk(r);
      } else if (st.isSymbolicLink()) entries.push({ name: r, type: 'symlink', linkname: fs.readlinkSync(path.join(dir, r)) });
      else entries.push({ name: r, body: fs.readFileSync(path.join(dir, r)) });
    }
  };
  walk('');
  return makeTar(entries);
}

/** A docker-archive (docker save format) with several images. */
export async function makeDockerArchive(images: Array<{ tags: string[]; layers: Buffer[] }>): Promise<Buffer> {
  const entries: E[] = [];
  const manifest: unknown[] = [];
  const seen = new Set<string>();
  for (const img of images) {
    const diffIds = img.layers.map((l) => sha256(l));
    const config = Buffer.from(JSON.stringify({ created: '2024-01-01T00:00:00Z', architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIds }, history: diffIds.map((_, i) => ({ created_by: `docker layer ${i + 1}` })) }));
    const ch = sha256(config).slice(7);
    entries.push({ name: `${ch}.json`, body: config });
    const names: string[] = [];
    img.layers.forEach((l, i) => {
      const h = diffIds[i].slice(7);
      if (!seen.has(h)) {
        seen.add(h);
        entries.push({ name: `${h}/layer.tar`, body: l });
      }
      names.push(`${h}/layer.tar`);
    });
    manifest.push({ Config: `${ch}.json`, RepoTags: img.tags, Layers: names });
  }
  entries.push({ name: 'manifest.json', body: JSON.stringify(manifest) });
  return makeTar(entries);
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function strata(root: string, args: string[], env: Record<string, string> = {}): RunResult {
  const r = spawnSync(process.execPath, [STRATA, '--root', root, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 240_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Every file under root with size and mode: what "the store is unchanged" compares. */
export function snapshot(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    let names: string[];
    try {
      names = fs.readdirSync(path.join(root, rel));
    } catch {
      return;
    }
    for (const n of names.sort()) {
      const r = rel ? `${rel}/${n}` : n;
      if (r === 'lock') continue;
      const st = fs.lstatSync(path.join(root, r));
      out.push(`${r} ${st.mode.toString(8)} ${st.isFile() ? st.size : ''}`);
      if (st.isDirectory()) walk(r);
    }
  };
  walk('');
  return out;
}

export function treeManifest(dir: string, extra: string[] = []): string {
  return execFileSync(TREE_MANIFEST, ['--mtime', ...extra, dir], { encoding: 'utf8', maxBuffer: 1 << 28 });
}
