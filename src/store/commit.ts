// strata commit: the container's upper becomes a new OCI layer on top of its image.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Store, ContainerRecord, ImageRecord, LayerRecord } from './store';
import { packLayer } from '../image/pack';
import { importLayer } from '../image/layer';
import { sha256 } from '../image/digest';
import { ImageConfig, MT, ociManifest } from '../image/sources';
import { upperDir } from './containers';
import { treeDigest } from './treedigest';

export interface CommitOptions {
  message?: string;
  author?: string;
}

export async function commitContainer(store: Store, c: ContainerRecord, opts: CommitOptions = {}, tag: string | null = null): Promise<ImageRecord> {
  const base = store.image(c.image);
  if (!base) throw new Error(`image ${c.image} of container ${c.name} is no longer in the store`);
  const op = store.makeTmp('commit');
  try {
    const blobTmp = path.join(op, 'layer.tar.gz');
    const packed = await packLayer(upperDir(store, c.id), blobTmp);
    const parentChain = c.layers[c.layers.length - 1];
    const chainId = sha256(parentChain + ' ' + packed.diffId);
    const layerRoot = path.join(op, 'layer');
    fs.mkdirSync(path.join(layerRoot, 'diff'), { recursive: true });
    // extract what we just wrote: the layer dir is exactly what a later load would make
    await importLayer({ src: { file: blobTmp }, dest: path.join(layerRoot, 'diff'), lowers: store.lowerDirs(c.layers), expectDigest: packed.digest, expectDiffId: packed.diffId });
    const rec: LayerRecord = { chainId, diffId: packed.diffId, digest: packed.digest, mediaType: MT.layerGzip, size: packed.size, diffSize: packed.diffSize, parent: parentChain, tree: treeDigest(path.join(layerRoot, 'diff')) };
    fs.writeFileSync(path.join(layerRoot, 'layer.json'), JSON.stringify(rec, null, 2) + '\n');

    const now = new Date().toISOString();
    const parentCfg = JSON.parse(store.readBlob(base.configDigest).toString('utf8')) as ImageConfig;
    const cfg: ImageConfig = {
      ...parentCfg,
      created: now,
      rootfs: { type: 'layers', diff_ids: [...parentCfg.rootfs.diff_ids, packed.diffId] },
      history: [...(parentCfg.history ?? []), { created: now, created_by: `strata commit ${c.name}`, ...(opts.author ? { author: opts.author } : {}), ...(opts.message ? { comment: opts.message } : {}) }],
    };
    if (opts.author) cfg.author = opts.author;
    delete cfg.container;
    delete cfg.container_config;
    const config = Buffer.from(JSON.stringify(cfg));
    const configDigest = sha256(config);
    const layers = [...base.layers, { chainId, diffId: packed.diffId, digest: packed.digest, mediaType: MT.layerGzip, size: packed.size }];
    const manifest = ociManifest({ digest: configDigest, size: config.length }, layers);
    const img: ImageRecord = { id: configDigest, manifestDigest: sha256(manifest), configDigest, layers, created: now, loaded: now };
    store.adoptBlob(packed.digest, blobTmp);
    store.adoptLayer(chainId, layerRoot);
    store.writeBlob(configDigest, config);
    store.writeBlob(img.manifestDigest, manifest);
    store.commitImages([img], tag ? { [tag]: img.id } : {});
    return img;
  } finally {
    fs.rmSync(op, { recursive: true, force: true });
  }
}
