// Bringing images into the store, for strata load and strata pull alike: every layer is
// extracted and verified under tmp/, then layers, blobs, image records and finally tags
// are moved into place (ImageImport.commit); a failure anywhere leaves the store as it was.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Store, ImageRecord, LayerRecord } from './store';
import { openSource, SourceImage, MT, ociManifest } from '../image/sources';
import { BlobSource, importLayer } from '../image/layer';
import { chainIds, hex, sha256 } from '../image/digest';
import { Compression } from '../image/compression';
import { treeDigest, TreeDigest } from './treedigest';
import { extractInUserNamespace } from './userns-extract';
import { removeTree } from '../userns';

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

export type ImageLayer = ImageRecord['layers'][number];

interface Built {
  root: string; // tmp layer root (diff/ + layer.json)
  rec: LayerRecord;
}

export interface LayerInput {
  /** position in the image, bottom first */
  index: number;
  /** chain ids of the whole image, bottom first */
  chains: string[];
  src: BlobSource;
  /** null when only known once read (docker-archive) */
  digest: string | null;
  mediaType: string | null;
  diffId: string;
  /** the source file is the blob itself, complete once read (a download): keep it instead of a copy */
  adoptSource?: boolean;
  onBytes?: (n: number) => void;
}

/**
 * One import operation: its tmp dir, the layers built so far (later images of the same
 * import stack on them) and the blobs to keep, and the image records to commit.
 */
export class ImageImport {
  readonly op: string;
  private readonly built = new Map<string, Built>();
  private readonly blobs = new Map<string, string>(); // digest -> file to adopt
  private readonly records: Array<{ rec: ImageRecord; config: Buffer; manifest: Buffer; refs: string[] }> = [];
  private n = 0;

  constructor(
    readonly store: Store,
    prefix: string,
  ) {
    this.op = store.makeTmp(prefix);
  }

  private dirOf(chain: string): string {
    return this.built.has(chain) ? path.join(this.built.get(chain)!.root, 'diff') : this.store.layerDir(chain);
  }

  private haveLayer(chain: string): LayerRecord | null {
    return this.built.get(chain)?.rec ?? (this.store.hasLayer(chain) ? this.store.layer(chain) : null);
  }

  private haveBlob(digest: string): boolean {
    return this.store.hasBlob(digest) || this.blobs.has(digest);
  }

  /**
   * What a layer needs: nothing (it and its blob are here), the blob only (the layer is
   * here under another blob: read it to verify), or everything.
   */
  need(chain: string, digest: string): 'nothing' | 'blob' | 'layer' {
    const have = this.haveLayer(chain);
    if (have && (this.haveBlob(digest) || have.digest === digest)) return 'nothing';
    return have ? 'blob' : 'layer';
  }

  /** The record entry of a layer need() said is here. */
  existing(chain: string, l: { digest: string; diffId: string; mediaType: string; size: number }): ImageLayer {
    const have = this.haveLayer(chain)!;
    if (!this.haveBlob(l.digest) && have.digest === l.digest) return { chainId: chain, diffId: l.diffId, digest: l.digest, mediaType: l.mediaType ?? have.mediaType, size: have.size };
    return { chainId: chain, diffId: l.diffId, digest: l.digest, mediaType: l.mediaType, size: l.size };
  }

  /** Extracts (or, for a layer that is here under another blob, verifies) one layer. */
  async layer(l: LayerInput): Promise<ImageLayer> {
    const chain = l.chains[l.index];
    const have = this.haveLayer(chain);
    const k = this.n++;
    const root = path.join(this.op, `layer-${hex(chain)}-${k}`);
    fs.mkdirSync(path.join(root, 'diff'), { recursive: true });
    const blobTmp = l.adoptSource ? null : path.join(this.op, `blob-${k}`);
    const lowers = l.chains.slice(0, l.index).map((c) => this.dirOf(c)).reverse();
    let tree: TreeDigest | null = null;
    const r = await importLayer({
      extract: this.store.rootless
        ? async (tar, dest, lw) => {
            const x = await extractInUserNamespace(tar, dest, lw);
            tree = x.tree;
            return x;
          }
        : undefined,
      src: l.src,
      dest: path.join(root, 'diff'),
      lowers,
      expectDigest: l.digest ?? undefined,
      expectDiffId: l.diffId,
      copyBlobTo: blobTmp ?? undefined,
      verifyOnly: have !== null,
      onBytes: l.onBytes,
    });
    const mediaType = l.mediaType ?? layerMediaType(r.compression);
    this.blobs.set(r.digest, blobTmp ?? l.src.file);
    const rec: LayerRecord = { chainId: chain, diffId: r.diffId, digest: r.digest, mediaType, size: r.size, diffSize: r.diffSize, parent: l.index === 0 ? null : l.chains[l.index - 1] };
    if (have) removeTree(root);
    else {
      rec.tree = tree ?? treeDigest(path.join(root, 'diff'));
      fs.writeFileSync(path.join(root, 'layer.json'), JSON.stringify(rec, null, 2) + '\n');
      this.built.set(chain, { root, rec });
    }
    return { chainId: chain, diffId: r.diffId, digest: r.digest, mediaType, size: r.size };
  }

  /** The layers this import extracted (not found in the store). */
  isNew(chain: string): boolean {
    return this.built.has(chain);
  }

  addImage(rec: ImageRecord, config: Buffer, manifest: Buffer, refs: string[]): void {
    this.records.push({ rec, config, manifest, refs });
  }

  /** Everything verified: layers first (bottom up), then blobs, images, and tags last. */
  commit(): ImageRecord[] {
    for (const [digest, file] of this.blobs) this.store.adoptBlob(digest, file);
    for (const [chain, b] of this.built) this.store.adoptLayer(chain, b.root);
    const recs: ImageRecord[] = [];
    const newTags: Record<string, string> = {};
    for (const { rec, config, manifest, refs } of this.records) {
      this.store.writeBlob(rec.configDigest, config);
      this.store.writeBlob(rec.manifestDigest, manifest);
      const prev = recs.find((r) => r.id === rec.id) ?? this.store.image(rec.id);
      const merged: ImageRecord = prev ? { ...rec, loaded: prev.loaded } : rec;
      const digests = [...(prev?.repoDigests ?? []), ...(rec.repoDigests ?? [])];
      if (digests.length) merged.repoDigests = [...new Set(digests)];
      const i = recs.findIndex((r) => r.id === rec.id);
      if (i >= 0) recs[i] = merged;
      else recs.push(merged);
      for (const r of refs) newTags[r] = rec.id;
    }
    const before: string[] = [];
    for (const r of recs) {
      const prev = this.store.image(r.id);
      if (prev) before.push(prev.manifestDigest, ...prev.layers.map((l) => l.digest));
    }
    this.store.commitImages(recs, newTags);
    // an image that came again under another manifest (the registry's, with other
    // compression) keeps only the blobs it now names
    const used = new Set<string>();
    for (const i of this.store.images()) for (const d of [i.manifestDigest, i.configDigest, ...i.layers.map((l) => l.digest)]) used.add(d);
    for (const d of before) if (!used.has(d)) fs.rmSync(this.store.blobPath(d), { force: true });
    return recs;
  }

  dispose(): void {
    removeTree(this.op);
  }
}

export async function loadImages(store: Store, source: string, progress: Progress = quietProgress): Promise<LoadResult> {
  const srcSize = fs.statSync(source).isFile() ? fs.statSync(source).size : 0;
  if (srcSize) progress.start('reading archive', srcSize);
  const imp = new ImageImport(store, 'load');
  try {
    const opened = await openSource(source, (n) => progress.advance(n), imp.op);
    if (srcSize) progress.done();
    const results: Array<{ img: SourceImage; rec: ImageRecord }> = [];
    for (const img of opened.images) {
      const chains = chainIds(img.configJson.rootfs.diff_ids);
      const layers: ImageLayer[] = [];
      for (let i = 0; i < img.layers.length; i++) {
        const l = img.layers[i];
        if (l.digest !== null && imp.need(chains[i], l.digest) === 'nothing') {
          layers.push(imp.existing(chains[i], { digest: l.digest, diffId: l.diffId, mediaType: l.mediaType!, size: l.src.size ?? 0 }));
          continue;
        }
        progress.start(`layer ${i + 1}/${img.layers.length} ${(l.digest ?? l.diffId).slice(7, 19)}`, l.src.size ?? 0);
        layers.push(await imp.layer({ index: i, chains, src: l.src, digest: l.digest, mediaType: l.mediaType, diffId: l.diffId, onBytes: (n) => progress.advance(n) }));
        progress.done();
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
      imp.addImage(rec, img.config, manifest, img.refs);
      results.push({ img, rec });
    }
    imp.commit();
    return {
      images: results.map(({ img, rec }) => ({
        id: rec.id,
        refs: img.refs,
        newLayers: rec.layers.filter((l) => imp.isNew(l.chainId)).length,
        reusedLayers: rec.layers.filter((l) => !imp.isNew(l.chainId)).length,
      })),
    };
  } finally {
    imp.dispose();
  }
}
