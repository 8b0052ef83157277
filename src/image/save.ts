// strata save: docker-archive (docker save's format, uncompressed layers) or
// oci-archive (an OCI image layout in a tar, blobs as stored).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { bytePack } from './tarbytes';
import { hex, sha256 } from './digest';
import { uncompressedStream, BlobSource } from './layer';
import { MT } from './sources';

export interface SaveImage {
  refs: string[];
  configDigest: string;
  manifestDigest: string;
  layers: Array<{ digest: string; diffId: string; diffSize: number; size: number }>;
}

export interface BlobReader {
  path(digest: string): string;
}

type Pack = ReturnType<typeof bytePack>;
const EPOCH = new Date(0);

function addBuffer(pack: Pack, name: string, data: Buffer): Promise<void> {
  return new Promise((res, rej) => pack.entry({ name, size: data.length, mode: 0o644, mtime: EPOCH, type: 'file' }, data, (e?: Error | null) => (e ? rej(e) : res())));
}

async function addStream(pack: Pack, name: string, size: number, src: NodeJS.ReadableStream): Promise<void> {
  const sink = pack.entry({ name, size, mode: 0o644, mtime: EPOCH, type: 'file' });
  await pipeline(src, sink as unknown as Writable);
}

/** Where an archive goes: a file (written aside and renamed into place) or a stream such as stdout. */
export type ArchiveTarget = string | NodeJS.WritableStream;

async function writeArchive(out: ArchiveTarget, fill: (pack: Pack) => Promise<void>): Promise<void> {
  if (typeof out !== 'string') {
    // a stream cannot be taken back: an error leaves a truncated archive and a failed command
    const pack = bytePack();
    const done = pipeline(pack as unknown as NodeJS.ReadableStream, out);
    try {
      await fill(pack);
      pack.finalize();
    } catch (e) {
      pack.destroy(e as Error);
      await done.catch(() => undefined);
      throw e;
    }
    await done;
    return;
  }
  const tmp = path.join(path.dirname(path.resolve(out)), `.${path.basename(out)}.strata-tmp-${process.pid}`);
  const pack = bytePack();
  const done = pipeline(pack as unknown as NodeJS.ReadableStream, fs.createWriteStream(tmp));
  try {
    await fill(pack);
    pack.finalize();
    await done;
    fs.renameSync(tmp, out);
  } catch (e) {
    pack.destroy(e as Error);
    await done.catch(() => undefined);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

export async function saveDockerArchive(out: ArchiveTarget, images: SaveImage[], blobs: BlobReader): Promise<void> {
  await writeArchive(out, async (pack) => {
    const written = new Set<string>();
    const manifest: Array<{ Config: string; RepoTags: string[]; Layers: string[] }> = [];
    const repositories: Record<string, Record<string, string>> = {};
    for (const img of images) {
      const cfgName = `blobs/sha256/${hex(img.configDigest)}`;
      if (!written.has(cfgName)) {
        await addBuffer(pack, cfgName, fs.readFileSync(blobs.path(img.configDigest)));
        written.add(cfgName);
      }
      const layerNames: string[] = [];
      for (const l of img.layers) {
        // docker-archive layers are uncompressed tars named after their diff_id
        const name = `blobs/sha256/${hex(l.diffId)}`;
        if (!written.has(name)) {
          const src: BlobSource = { file: blobs.path(l.digest) };
          await addStream(pack, name, l.diffSize, uncompressedStream(src));
          written.add(name);
        }
        layerNames.push(name);
      }
      manifest.push({ Config: cfgName, RepoTags: img.refs, Layers: layerNames });
      const top = img.layers.length ? hex(sha256(img.layers.map((l) => l.diffId).join(' '))) : '';
      for (const r of img.refs) {
        const i = r.lastIndexOf(':');
        (repositories[r.slice(0, i)] ??= {})[r.slice(i + 1)] = top;
      }
    }
    await addBuffer(pack, 'manifest.json', Buffer.from(JSON.stringify(manifest)));
    await addBuffer(pack, 'repositories', Buffer.from(JSON.stringify(repositories)));
  });
}

export async function saveOciArchive(out: ArchiveTarget, images: SaveImage[], blobs: BlobReader): Promise<void> {
  await writeArchive(out, async (pack) => {
    const written = new Set<string>();
    const addBlob = async (digest: string) => {
      if (written.has(digest)) return;
      written.add(digest);
      const file = blobs.path(digest);
      await addStream(pack, `blobs/sha256/${hex(digest)}`, fs.statSync(file).size, fs.createReadStream(file));
    };
    await addBuffer(pack, 'oci-layout', Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })));
    const index: { schemaVersion: number; mediaType: string; manifests: unknown[] } = { schemaVersion: 2, mediaType: MT.ociIndex, manifests: [] };
    for (const img of images) {
      for (const l of img.layers) await addBlob(l.digest);
      await addBlob(img.configDigest);
      await addBlob(img.manifestDigest);
      const mf = fs.readFileSync(blobs.path(img.manifestDigest));
      const mt = (JSON.parse(mf.toString('utf8')) as { mediaType?: string }).mediaType ?? MT.ociManifest;
      const desc = { mediaType: mt, digest: img.manifestDigest, size: mf.length };
      if (img.refs.length === 0) index.manifests.push(desc);
      for (const r of img.refs) index.manifests.push({ ...desc, annotations: { 'org.opencontainers.image.ref.name': r } });
    }
    await addBuffer(pack, 'index.json', Buffer.from(JSON.stringify(index)));
  });
}
