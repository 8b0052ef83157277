// strata import: a root filesystem tar (plain, gzip or zstd) becomes a one-layer image,
// through the ordinary loader: the tar is laid out as an OCI image layout and loaded, so
// the layer is verified and extracted like any other.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Store } from './store';
import { loadImages, layerMediaType, Progress } from './importer';
import { detectCompression, readMagic } from '../image/compression';
import { HashingStream, sha256, sha256File } from '../image/digest';
import { uncompressedStream } from '../image/layer';
import { MT } from '../image/sources';

export interface ImportOptions {
  /** the image's runtime config (commit --change style) */
  config?: Record<string, unknown>;
  message?: string;
  /** normalized name:tag, or null for an untagged image */
  ref: string | null;
}

const ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };

/** Loads tarFile (under the lock) and returns the new image's id. */
export async function importRootfs(store: Store, tarFile: string, o: ImportOptions, progress?: Progress): Promise<string> {
  const compression = detectCompression(readMagic(tarFile));
  const diff = new HashingStream();
  try {
    await pipeline(uncompressedStream({ file: tarFile }), diff, async function* (src) {
      for await (const _ of src) yield* [];
    });
  } catch (e) {
    throw new Error(`import: ${tarFile} is not a readable tar archive: ${(e as Error).message}`);
  }
  const diffId = diff.digest();
  const op = store.makeTmp('import');
  try {
    const blobs = path.join(op, 'layout', 'blobs', 'sha256');
    fs.mkdirSync(blobs, { recursive: true });
    const layerDigest = 'sha256:' + sha256File(tarFile);
    fs.copyFileSync(tarFile, path.join(blobs, layerDigest.slice(7)));
    const now = new Date().toISOString();
    const cfg = Buffer.from(
      JSON.stringify({
        created: now,
        architecture: ARCH[process.arch] ?? process.arch,
        os: 'linux',
        config: o.config ?? {},
        rootfs: { type: 'layers', diff_ids: [diffId] },
        history: [{ created: now, created_by: `strata import ${path.basename(tarFile)}`, ...(o.message ? { comment: o.message } : {}) }],
      }),
    );
    const cfgDigest = sha256(cfg);
    fs.writeFileSync(path.join(blobs, cfgDigest.slice(7)), cfg);
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.ociManifest, config: { mediaType: MT.ociConfig, digest: cfgDigest, size: cfg.length }, layers: [{ mediaType: layerMediaType(compression), digest: layerDigest, size: fs.statSync(tarFile).size }] }));
    const mDigest = sha256(manifest);
    fs.writeFileSync(path.join(blobs, mDigest.slice(7)), manifest);
    const desc = { mediaType: MT.ociManifest, digest: mDigest, size: manifest.length, ...(o.ref ? { annotations: { 'org.opencontainers.image.ref.name': o.ref } } : {}) };
    fs.writeFileSync(path.join(op, 'layout', 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [desc] }));
    fs.writeFileSync(path.join(op, 'layout', 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    const r = await loadImages(store, path.join(op, 'layout'), progress);
    return r.images[0].id;
  } finally {
    fs.rmSync(op, { recursive: true, force: true });
  }
}
