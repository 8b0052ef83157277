// Cleanup and accounting: which images prune removes, and what the store's space is
// spent on (system df): images, containers' uppers, layers shared or unique.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Store, ImageRecord } from './store';
import { removeImagesEach, RmiLine } from './rmi';
import { upperDir } from './containers';

/** The size of a layer as unpacked (0 for one being collected). */
function layerBytes(store: Store, chainId: string): number {
  try {
    return store.layer(chainId).diffSize;
  } catch {
    return 0;
  }
}

function blobBytes(store: Store, digest: string): number {
  try {
    return fs.statSync(store.blobPath(digest)).size;
  } catch {
    return 0;
  }
}

/** Bytes the store's layers and blobs take (what removing images gives back). */
export function storedBytes(store: Store): number {
  let n = 0;
  const layers = new Set<string>();
  const blobs = new Set<string>();
  for (const img of store.images()) {
    for (const l of img.layers) {
      layers.add(l.chainId);
      blobs.add(l.digest);
    }
    blobs.add(img.manifestDigest);
    blobs.add(img.configDigest);
  }
  for (const c of store.containers()) for (const l of c.layers) layers.add(l);
  for (const l of layers) n += layerBytes(store, l);
  for (const b of blobs) n += blobBytes(store, b);
  return n;
}

/**
 * image prune: the dangling images (no tag, no container, not the base of an image kept),
 * or with all every image no container uses. Their untagged build steps go with them.
 */
export function pruneImages(store: Store, all: boolean): { lines: RmiLine[]; errors: string[]; reclaimed: number } {
  const before = storedBytes(store);
  const tags = store.tags();
  const tagged = new Set(Object.values(tags));
  const used = new Set(store.containers().map((c) => c.image));
  const images = store.images();
  const candidates = images.filter((i) => !used.has(i.id) && (all || !tagged.has(i.id)));
  const gone = new Set(candidates.map((i) => i.id));
  // an image something kept is built on stays (rmi takes it along with its child if due)
  const keep = (i: ImageRecord) => images.some((o) => o.parent === i.id && !gone.has(o.id));
  const ids = candidates.filter((i) => !keep(i)).map((i) => i.id);
  const r = removeImagesEach(store, ids, true);
  return { lines: r.done, errors: r.errors, reclaimed: Math.max(0, before - storedBytes(store)) };
}

/** Bytes under dir, by lstat, without following symlinks or crossing into mounts. */
export function treeBytes(dir: string): number {
  let n = 0;
  let dev: number | null = null;
  const walk = (p: string) => {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(p);
    } catch {
      return;
    }
    if (dev === null) dev = st.dev;
    if (st.dev !== dev) return;
    if (st.isFile()) n += st.size;
    if (!st.isDirectory()) return;
    let names: string[];
    try {
      names = fs.readdirSync(p);
    } catch {
      return;
    }
    for (const e of names) walk(path.join(p, e));
  };
  walk(dir);
  return n;
}

export interface ImageUsage {
  id: string;
  refs: string[];
  created: string | null;
  size: number;
  /** bytes in layers another image also has */
  shared: number;
  /** bytes in layers only this image has */
  unique: number;
  containers: number;
}

export interface DiskUsage {
  images: { total: number; active: number; size: number; reclaimable: number; list: ImageUsage[] };
  containers: { total: number; active: number; size: number; reclaimable: number; list: Array<{ id: string; name: string; image: string; size: number; active: boolean }> };
  layers: { total: number; size: number; shared: number; sharedSize: number; unique: number; uniqueSize: number; reclaimable: number };
}

/** isActive: whether a container is running (the runtime's answer, passed in by the caller). */
export function diskUsage(store: Store, isActive: (id: string) => boolean): DiskUsage {
  const images = store.images();
  const containers = store.containers();
  const tags = store.tags();
  const users = new Map<string, number>(); // chain id -> how many images have it
  for (const img of images) for (const l of new Set(img.layers.map((x) => x.chainId))) users.set(l, (users.get(l) ?? 0) + 1);
  const inUse = new Set(containers.flatMap((c) => c.layers));
  const list: ImageUsage[] = images.map((img) => {
    let shared = 0;
    let unique = 0;
    for (const l of img.layers) {
      const b = layerBytes(store, l.chainId);
      if ((users.get(l.chainId) ?? 0) > 1) shared += b;
      else unique += b;
    }
    return { id: img.id, refs: Object.keys(tags).filter((k) => tags[k] === img.id), created: img.created, size: shared + unique, shared, unique, containers: containers.filter((c) => c.image === img.id).length };
  });
  const allLayers = new Set([...users.keys(), ...inUse]);
  let size = 0;
  let sharedSize = 0;
  let uniqueSize = 0;
  let reclaimable = 0;
  let shared = 0;
  for (const l of allLayers) {
    const b = layerBytes(store, l);
    size += b;
    if ((users.get(l) ?? 0) > 1) {
      shared++;
      sharedSize += b;
    } else {
      uniqueSize += b;
    }
    if (!inUse.has(l)) reclaimable += b;
  }
  const cl = containers.map((c) => ({ id: c.id, name: c.name, image: c.imageRef, size: treeBytes(upperDir(store, c.id)), active: isActive(c.id) }));
  return {
    images: { total: images.length, active: list.filter((i) => i.containers > 0).length, size, reclaimable, list },
    containers: { total: cl.length, active: cl.filter((c) => c.active).length, size: cl.reduce((n, c) => n + c.size, 0), reclaimable: cl.filter((c) => !c.active).reduce((n, c) => n + c.size, 0), list: cl },
    layers: { total: allLayers.size, size, shared, sharedSize, unique: allLayers.size - shared, uniqueSize, reclaimable },
  };
}
