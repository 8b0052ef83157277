// strata inspect: an image or a container as JSON.
import * as path from 'node:path';
import type { Command } from 'commander';
import { imageRefs, resolveContainer, resolveImage } from '../../store/resolve';
import { Common, common, imageSize, json, openStore } from '../context';

export function register(program: Command): void {
  common(program.command('inspect').description('show an image or container as JSON').argument('<name>', 'image or container')).action(async (name: string, o: Common) => {
    const { isMounted } = await import('../../store/containers');
    const store = openStore(o);
    let img = null;
    try {
      img = resolveImage(store, name);
    } catch {
      /* maybe a container */
    }
    if (img) {
      const config = JSON.parse(store.readBlob(img.configDigest).toString('utf8')) as unknown;
      const manifest = JSON.parse(store.readBlob(img.manifestDigest).toString('utf8')) as unknown;
      return json([{ Id: img.id, RepoTags: imageRefs(store, img.id), RepoDigests: img.repoDigests ?? [], Created: img.created, Size: imageSize(store, img.layers), ManifestDigest: img.manifestDigest, Layers: img.layers.map((l) => ({ ...l, dir: store.layerDir(l.chainId) })), Config: config, Manifest: manifest }]);
    }
    let c;
    try {
      c = resolveContainer(store, name);
    } catch {
      throw new Error(`no such image or container: ${name}`);
    }
    const m = isMounted(store, c);
    json([{ Id: c.id, Name: c.name, Image: c.image, ImageRef: c.imageRef, Created: c.created, Mounted: m, UpperDir: path.join(store.containerDir(c.id), 'upper'), WorkDir: path.join(store.containerDir(c.id), 'work'), LowerDirs: store.lowerDirs(c.layers) }]);
  });
}
