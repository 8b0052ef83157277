// strata load: verifies every image of a source completely under tmp/, then moves
// layers, blobs, image records and finally tags into place.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Store, ImageRecord, LayerRecord } from './store';
import { openSource, SourceImage, MT, ociManifest } from '../image/sources';
import { importLayer } from '../image/layer';
import { chainIds, hex, sha256 } from '../image/digest';
import { Compression } from '../image/compression';
import { treeDigest } from './treedigest';

export interface Progress {
  start(label: string, total: number): void;
  advance(n: number): void;
  done(): void;
}

export const quietProgress: Progress = { start() {}, advance() {}, done() {} };

export interface LoadResult {
  images: Array<{ id: string; refs: string[]; newLayers: number; reusedLayers: number }>;
}

export function layerMediaType(c: Compression): string {
  return c === 'gzip' ? MT.layerGzip : c === 'zstd' ? MT.layerZstd : MT.layerTar;
}

interface Built {
  root: string; // tmp layer root (diff/ + layer.json)
  rec: LayerRecord;
}

export async function loadImages(store: Store, source: string, progress: Progress = quietProgress): Promise<LoadResult> {
  const srcSize = fs.statSync(source).isFile() ? fs.statSync(source).size : 0;
  if (srcSize) progress.start('reading archive', srcSize);
  const op = store.makeTmp('load');
  try {
    const opened = await openSource(source, (n) => progress.advance(n), op);
    if (srcSize) progress.done();
    const built = new Map<string, Built>();
    const blobs = new Map<string, string>(); // digest -> tmp file
    const records: Array<{ img: SourceImage; rec: ImageRecord; manifest: Buffer }> = [];

    const dirOf = (chain: string): string => (built.has(chain) ? path.join(built.get(chain)!.root, 'diff') : store.layerDir(chain));

    for (const img of opened.images) {
      const chains = chainIds(img.configJson.rootfs.diff_ids);
      const layers: ImageRecord['layers'] = [];
      for (let i = 0; i < img.layers.length; i++) {
        const l = img.layers[i];
        const chain = chains[i];
        const have = built.get(chain)?.rec ?? (store.hasLayer(chain) ? store.layer(chain) : null);
        const needBlob = l.digest === null || (!store.hasBlob(l.digest) && !blobs.has(l.digest));
        if (have && !needBlob) {
          layers.push({ chainId: chain, diffId: l.diffId, digest: l.digest!, mediaType: l.mediaType!, size: l.src.size ?? 0 });
          continue;
        }
        if (have && l.digest !== null && have.digest === l.digest) {
          layers.push({ chainId: chain, diffId: l.diffId, digest: l.digest, mediaType: l.mediaType ?? have.mediaType, size: have.size });
          continue;
        }
        // extract (or, for a layer we already have under another blob, extract to verify and keep the blob)
        const root = path.join(op, `layer-${hex(chain)}-${i}-${records.length}`);
        fs.mkdirSync(path.join(root, 'diff'), { recursive: true });
        const blobTmp = path.join(op, `blob-${records.length}-${i}`);
        const lowers = chains.slice(0, i).map(dirOf).reverse();
        progress.start(`layer ${i + 1}/${img.layers.length} ${(l.digest ?? l.diffId).slice(7, 19)}`, l.src.size ?? 0);
        const r = await importLayer({
          src: l.src,
          dest: path.join(root, 'diff'),
          lowers,
          expectDigest: l.digest ?? undefined,
          expectDiffId: l.diffId,
          copyBlobTo: blobTmp,
          verifyOnly: have !== null,
          onBytes: (n) => progress.advance(n),
        });
        progress.done();
        const mediaType = l.mediaType ?? layerMediaType(r.compression);
        blobs.set(r.digest, blobTmp);
        const rec: LayerRecord = { chainId: chain, diffId: r.diffId, digest: r.digest, mediaType, size: r.size, diffSize: r.diffSize, parent: i === 0 ? null : chains[i - 1] };
        if (!have) rec.tree = treeDigest(path.join(root, 'diff'));
        if (have) fs.rmSync(root, { recursive: true, force: true });
        else {
          fs.writeFileSync(path.join(root, 'layer.json'), JSON.stringify(rec, null, 2) + '\n');
          built.set(chain, { root, rec });
        }
        layers.push({ chainId: chain, diffId: r.diffId, digest: r.digest, mediaType, size: r.size });
      }
      let manifest = img.manifest;
      let manifestDigest = img.manifestDigest;
      if (!manifest) {
        // docker-archive has no manifest: write the OCI one that save and push would use
        manifest = ociManifest({ digest: img.configDigest, size: img.config.length }, layers);
        manifestDigest = sha256(manifest);
      }
      const rec: ImageRecord = {
        id: img.configDigest,
        manifestDigest: manifestDigest!,
        configDigest: img.configDigest,
        layers,
        created: typeof img.configJson.created === 'string' ? img.configJson.created : null,
        loaded: new Date().toISOString(),
      };
      records.push({ img, rec, manifest });
    }

    // everything verified: commit. Layers first (bottom up), then images, then tags.
    for (const [digest, file] of blobs) store.adoptBlob(digest, file);
    const order = [...built.keys()];
    for (const chain of order) store.adoptLayer(chain, built.get(chain)!.root);
    const recs: ImageRecord[] = [];
    for (const { img, rec, manifest } of records) {
      store.writeBlob(rec.configDigest, img.config);
      store.writeBlob(rec.manifestDigest, manifest);
      const prev = store.image(rec.id);
      recs.push(prev ? { ...rec, loaded: prev.loaded } : rec);
    }
    const newTags: Record<string, string> = {};
    for (const { img, rec } of records) for (const r of img.refs) newTags[r] = rec.id;
    store.commitImages(recs, newTags);
    return {
      images: records.map(({ img, rec }) => ({
        id: rec.id,
        refs: img.refs,
        newLayers: rec.layers.filter((l) => order.includes(l.chainId)).length,
        reusedLayers: rec.layers.filter((l) => !order.includes(l.chainId)).length,
      })),
    };
  } finally {
    fs.rmSync(op, { recursive: true, force: true });
  }
}
