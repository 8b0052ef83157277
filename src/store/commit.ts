// strata commit: the container's upper becomes a new OCI layer on top of its image.
// The build uses the same two halves: packUpper (a layer from an upper) and saveImage
// (an image record from a config and its layers).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Store, ContainerRecord, ImageRecord, LayerRecord } from './store';
import { packLayer } from '../image/pack';
import { importLayer } from '../image/layer';
import { sha256 } from '../image/digest';
import { ImageConfig, MT, ociManifest } from '../image/sources';
import { upperDir } from './containers';
import { treeDigest, TreeDigest } from './treedigest';
import type { Readable } from 'node:stream';
import { packInUserNamespace } from './userns-pack';
import { extractInUserNamespace } from './userns-extract';
import { removeTree } from '../userns';

export interface CommitOptions {
  message?: string;
  author?: string;
  /** the new image's runtime config (Cmd, Env, ...), when it differs from the parent's */
  config?: Record<string, unknown>;
}

export type ImageLayer = ImageRecord['layers'][number];

/**
 * Packs the container's upper as a layer and puts it into the store (under the lock).
 * Returns the layer as an image lists it. op is a private dir under tmp/.
 */
export async function packUpper(store: Store, c: ContainerRecord, op: string): Promise<ImageLayer> {
  const blobTmp = path.join(op, 'layer.tar.gz');
  // a user's store: packed and extracted in the user's namespace (its owners are the
  // user's subordinate IDs; the tar carries the image's)
  const packed = store.rootless ? await packInUserNamespace(upperDir(store, c.id), blobTmp) : await packLayer(upperDir(store, c.id), blobTmp);
  const parentChain = c.layers.length ? c.layers[c.layers.length - 1] : null;
  const chainId = parentChain ? sha256(parentChain + ' ' + packed.diffId) : packed.diffId;
  const layerRoot = path.join(op, 'layer');
  fs.mkdirSync(path.join(layerRoot, 'diff'), { recursive: true });
  // extract what we just wrote: the layer dir is exactly what a later load would make
  let tree: TreeDigest | null = null;
  const extract = store.rootless
    ? async (tar: Readable, dest: string, lowers: string[]) => {
        const x = await extractInUserNamespace(tar, dest, lowers);
        tree = x.tree;
        return x;
      }
    : undefined;
  await importLayer({ extract, src: { file: blobTmp }, dest: path.join(layerRoot, 'diff'), lowers: store.lowerDirs(c.layers), expectDigest: packed.digest, expectDiffId: packed.diffId });
  const rec: LayerRecord = { chainId, diffId: packed.diffId, digest: packed.digest, mediaType: MT.layerGzip, size: packed.size, diffSize: packed.diffSize, parent: parentChain, tree: tree ?? treeDigest(path.join(layerRoot, 'diff')) };
  fs.writeFileSync(path.join(layerRoot, 'layer.json'), JSON.stringify(rec, null, 2) + '\n');
  store.adoptBlob(packed.digest, blobTmp);
  store.adoptLayer(chainId, layerRoot);
  return { chainId, diffId: packed.diffId, digest: packed.digest, mediaType: MT.layerGzip, size: packed.size };
}

/** Writes config, manifest and image record (and tags) for a config and its layers. */
export function saveImage(store: Store, cfg: ImageConfig, layers: ImageLayer[], tags: string[], extra: { parent?: string; buildKey?: string } = {}): ImageRecord {
  const config = Buffer.from(JSON.stringify(cfg));
  const configDigest = sha256(config);
  const manifest = ociManifest({ digest: configDigest, size: config.length }, layers);
  const now = new Date().toISOString();
  const img: ImageRecord = { id: configDigest, manifestDigest: sha256(manifest), configDigest, layers, created: cfg.created ?? now, loaded: now, ...extra };
  store.writeBlob(configDigest, config);
  store.writeBlob(img.manifestDigest, manifest);
  store.commitImages([img], Object.fromEntries(tags.map((t) => [t, img.id])));
  return img;
}

export function imageConfig(store: Store, img: ImageRecord): ImageConfig {
  return JSON.parse(store.readBlob(img.configDigest).toString('utf8')) as ImageConfig;
}

export async function commitContainer(store: Store, c: ContainerRecord, opts: CommitOptions = {}, tag: string | null = null): Promise<ImageRecord> {
  const base = store.image(c.image);
  if (!base) throw new Error(`image ${c.image} of container ${c.name} is no longer in the store`);
  const op = store.makeTmp('commit');
  try {
    const layer = await packUpper(store, c, op);
    const now = new Date().toISOString();
    const parentCfg = imageConfig(store, base);
    const cfg: ImageConfig = {
      ...parentCfg,
      ...(opts.config ? { config: opts.config } : {}),
      created: now,
      rootfs: { type: 'layers', diff_ids: [...parentCfg.rootfs.diff_ids, layer.diffId] },
      history: [...(parentCfg.history ?? []), { created: now, created_by: `strata commit ${c.name}`, ...(opts.author ? { author: opts.author } : {}), ...(opts.message ? { comment: opts.message } : {}) }],
    };
    if (opts.author) cfg.author = opts.author;
    delete cfg.container;
    delete cfg.container_config;
    return saveImage(store, cfg, [...base.layers, layer], tag ? [tag] : []);
  } finally {
    removeTree(op);
  }
}
