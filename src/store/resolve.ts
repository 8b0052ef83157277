// Finds images and containers the way docker does: by name[:tag], by full or short id.
import { Store, ImageRecord, ContainerRecord } from './store';
import { familiarName, normalizeReference } from '../image/reference';
import { hex } from '../image/digest';

export function resolveImage(store: Store, ref: string): ImageRecord {
  return findImage(store, ref).img;
}

/**
 * The image `ref` names, and the tag it was named by: the normalized `ref` when that tag
 * names the image, null when `ref` is an id. `tags`: the store's, when already read.
 */
export function findImage(store: Store, ref: string, tags: Record<string, string> = store.tags()): { img: ImageRecord; tag: string | null } {
  let norm: string | null = null;
  try {
    norm = normalizeReference(ref);
  } catch {
    /* not a name: maybe an id */
  }
  const named = (img: ImageRecord) => ({ img, tag: norm !== null && tags[norm] === img.id ? norm : null });
  if (norm && tags[norm]) {
    const img = store.image(tags[norm]);
    if (img) return named(img);
  }
  // NAME@sha256:... as pulled or pushed (RepoDigests)
  const at = ref.indexOf('@');
  if (at > 0) {
    const hits = store.images().filter((i) => (i.repoDigests ?? []).some((d) => d === ref || d === familiarName(ref.slice(0, at)) + ref.slice(at)));
    if (hits.length === 1) return { img: hits[0], tag: null };
  }
  const h = ref.replace(/^sha256:/, '');
  if (/^[0-9a-f]{4,64}$/.test(h)) {
    const hits = store.images().filter((i) => hex(i.id).startsWith(h));
    if (hits.length === 1) return named(hits[0]);
    if (hits.length > 1) throw new Error(`image id prefix ${ref} is ambiguous`);
  }
  throw new Error(`no such image: ${ref}`);
}

export function imageRefs(store: Store, id: string): string[] {
  return Object.entries(store.tags())
    .filter(([, v]) => v === id)
    .map(([k]) => k);
}

export function resolveContainer(store: Store, idOrName: string): ContainerRecord {
  const all = store.containers();
  const byName = all.find((c) => c.name === idOrName);
  if (byName) return byName;
  if (/^[0-9a-f]{1,64}$/.test(idOrName)) {
    const hits = all.filter((c) => c.id.startsWith(idOrName));
    if (hits.length === 1) return hits[0];
    if (hits.length > 1) throw new Error(`container id prefix ${idOrName} is ambiguous`);
  }
  throw new Error(`no such container: ${idOrName}`);
}
