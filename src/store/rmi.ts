// strata rmi: untag, then delete images without tags and layers nothing uses any more.
import { Store } from './store';
import { findImage } from './resolve';
import { hex } from '../image/digest';

export interface RmiLine {
  action: 'Untagged' | 'Deleted';
  what: string;
}

export function removeImages(store: Store, refs: string[], force: boolean): RmiLine[] {
  const lines: RmiLine[] = [];
  const tags = store.tags();
  const containers = store.containers();
  // resolve everything first: a bad name changes nothing
  const plan = refs.map((ref) => ({ ...findImage(store, ref, tags), ref }));
  const namesOf = (id: string) => Object.keys(tags).filter((t) => tags[t] === id);
  const toDelete = new Set<string>();
  for (const p of plan) {
    const users = containers.filter((c) => c.image === p.img.id);
    if (p.tag) {
      const remaining = namesOf(p.img.id).filter((t) => t !== p.tag);
      if (remaining.length === 0 && users.length > 0) throw new Error(`image ${p.ref} is used by container ${users[0].name}; remove the container first`);
      delete tags[p.tag];
      lines.push({ action: 'Untagged', what: p.tag });
      if (remaining.length === 0) toDelete.add(p.img.id);
    } else {
      const all = namesOf(p.img.id);
      if (all.length > 1 && !force) throw new Error(`image ${p.ref} has several names (${all.join(', ')}); untag them or use -f`);
      if (users.length > 0) throw new Error(`image ${p.ref} is used by container ${users[0].name}; remove the container first`);
      for (const t of all) {
        delete tags[t];
        lines.push({ action: 'Untagged', what: t });
      }
      toDelete.add(p.img.id);
    }
  }
  store.putTags(tags);
  // a built image's untagged parents (its build steps) go with it, as docker's do, while
  // nothing else (a tag, another image, a container) needs them
  const all = store.images();
  const tagged = new Set(Object.values(tags));
  for (let changed = true; changed; ) {
    changed = false;
    for (const img of all) {
      if (toDelete.has(img.id) || tagged.has(img.id)) continue;
      const children = all.filter((i) => i.parent === img.id);
      if (children.length === 0 || !children.every((ch) => toDelete.has(ch.id))) continue;
      if (store.containers().some((c) => c.image === img.id)) continue;
      toDelete.add(img.id);
      changed = true;
    }
  }
  const keepLayers = new Set<string>();
  for (const img of store.images()) if (!toDelete.has(img.id)) for (const l of img.layers) keepLayers.add(l.chainId);
  for (const c of containers) for (const l of c.layers) keepLayers.add(l);
  for (const id of toDelete) {
    const img = store.image(id);
    store.deleteImage(id);
    lines.push({ action: 'Deleted', what: id });
    for (const l of [...(img?.layers ?? [])].reverse()) {
      if (keepLayers.has(l.chainId)) continue;
      keepLayers.add(l.chainId); // print once
      lines.push({ action: 'Deleted', what: 'sha256:' + hex(l.chainId) });
    }
  }
  // the layers and blobs themselves go with the garbage collector: same rules, one place
  store.collectGarbage();
  return lines;
}

export interface EachResult<T> {
  done: T[];
  /** one line per argument that failed */
  errors: string[];
}

/**
 * docker rmi A B C: each argument on its own (a failure leaves the others to go ahead).
 * An argument naming an image this call already deleted (`strata rmi $(strata images -q)`
 * lists an image once per tag) is skipped, and so is a repeated argument.
 */
export function removeImagesEach(store: Store, refs: string[], force: boolean, onLines: (l: RmiLine[]) => void = () => {}): EachResult<RmiLine> {
  const done: RmiLine[] = [];
  const errors: string[] = [];
  const deleted: string[] = [];
  for (const ref of [...new Set(refs)]) {
    const h = ref.replace(/^sha256:/, '');
    if (/^[0-9a-f]{4,64}$/.test(h) && deleted.some((id) => hex(id).startsWith(h)) && !store.images().some((i) => hex(i.id).startsWith(h))) continue;
    try {
      const lines = removeImages(store, [ref], force);
      for (const l of lines) if (l.action === 'Deleted') deleted.push(l.what);
      done.push(...lines);
      onLines(lines);
    } catch (e) {
      errors.push((e as Error).message);
    }
  }
  return { done, errors };
}
