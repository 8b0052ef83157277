// What in a store is in use: every layer an image or a container names, and every blob
// an image names (its manifest, its config, its layer blobs as loaded). The one rule by
// which the garbage collector deletes layers and blobs and `strata check` reports orphans
// (which --repair deletes). Records are read leniently: a damaged record still keeps what
// it names, since it may be someone's only way back to it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { hex } from '../image/digest';
import type { ContainerRecord, ImageRecord, Store } from './store';

export interface Usage {
  /** layer dir name (chain id hex) -> the first image or container that uses it */
  layers: Map<string, string>;
  /** blob file name (digest hex) -> the first image that uses it, and as what */
  blobs: Map<string, string>;
}

export function usage(store: Store): Usage {
  const u: Usage = { layers: new Map(), blobs: new Map() };
  const use = (m: Map<string, string>, digest: unknown, who: string) => {
    if (typeof digest === 'string' && !m.has(hex(digest))) m.set(hex(digest), who);
  };
  // images()'s records parse as JSON and nothing more: every field is checked here
  const images = store.images().filter((i) => i !== null && typeof i === 'object').sort((a, b) => compare(String(a.id), String(b.id)));
  for (const img of images) {
    const who = `image ${String(img.id).slice(7, 19)}`;
    const layers = listOf<ImageRecord['layers'][number]>(img.layers);
    for (const l of layers) use(u.layers, l.chainId, who);
    use(u.blobs, img.manifestDigest, `manifest of ${who}`);
    use(u.blobs, img.configDigest, `config of ${who}`);
    for (const l of layers) use(u.blobs, l.digest, `layer blob of ${who}`);
  }
  for (const id of listDir(path.join(store.root, 'containers'))) {
    const c: unknown = store.container(id);
    if (c === null || typeof c !== 'object') continue;
    const rec = c as ContainerRecord;
    for (const l of listOf<string>(rec.layers)) use(u.layers, l, `container ${rec.name}`);
  }
  return u;
}

function listOf<T>(v: unknown): T[] {
  return Array.isArray(v) ? (v.filter((x) => x !== null && x !== undefined) as T[]) : [];
}

function listDir(dir: string): string[] {
  try {
    return fs.readdirSync(dir).sort();
  } catch {
    return [];
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
