// What `images` and `history` list, as data: one row per tag (or untagged image), one row
// per history entry. The CLI filters, formats and prints them.
import { Store, ImageRecord } from './store';
import type { ImageConfig } from '../image/sources';

export interface ImageRow {
  repository: string;
  tag: string;
  digest: string;
  id: string;
  created: string | null;
  size: number;
  /** no tag names it (docker's dangling) */
  dangling: boolean;
  /** a build step another image was made from, listed with -a only */
  intermediate: boolean;
  labels: Record<string, string>;
  containers: number;
}

export function layersSize(store: Store, img: ImageRecord): number {
  return img.layers.reduce((n, l) => {
    try {
      return n + store.layer(l.chainId).diffSize;
    } catch {
      return n; // a layer being collected
    }
  }, 0);
}

export function configOf(store: Store, img: ImageRecord): ImageConfig | null {
  try {
    return JSON.parse(store.readBlob(img.configDigest).toString('utf8')) as ImageConfig;
  } catch {
    return null;
  }
}

export function labelsOf(cfg: ImageConfig | null): Record<string, string> {
  const l = (cfg?.config as { Labels?: unknown } | undefined)?.Labels;
  return l && typeof l === 'object' ? (l as Record<string, string>) : {};
}

/** Every row `images -a` shows, newest first; `intermediate` ones are hidden without -a. */
export function imageRows(store: Store): ImageRow[] {
  const tags = store.tags();
  const images = store.images();
  const tagged = new Set(Object.values(tags));
  const parents = new Set(images.flatMap((i) => (i.parent ? [i.parent] : [])));
  const containers = store.containers();
  const rows: ImageRow[] = [];
  for (const img of images) {
    const refs = Object.keys(tags).filter((k) => tags[k] === img.id);
    const size = layersSize(store, img);
    const base = { id: img.id, created: img.created, size, labels: labelsOf(configOf(store, img)), containers: containers.filter((c) => c.image === img.id).length };
    const digestOf = (repo: string) => (img.repoDigests ?? []).filter((d) => d.startsWith(repo + '@')).pop()?.slice(repo.length + 1) ?? '<none>';
    for (const r of refs) {
      const i = r.lastIndexOf(':');
      rows.push({ ...base, repository: r.slice(0, i), tag: r.slice(i + 1), digest: digestOf(r.slice(0, i)), dangling: false, intermediate: false });
    }
    if (!tagged.has(img.id)) {
      // untagged images another was built from are a build's intermediate steps (docker hides them too)
      const intermediate = parents.has(img.id);
      // untagged, as docker lists an image pulled by digest: one row per repository digest
      const rds = img.repoDigests ?? [];
      if (rds.length === 0) rows.push({ ...base, repository: '<none>', tag: '<none>', digest: '<none>', dangling: true, intermediate });
      for (const rd of rds) rows.push({ ...base, repository: rd.slice(0, rd.indexOf('@')), tag: '<none>', digest: rd.slice(rd.indexOf('@') + 1), dangling: true, intermediate });
    }
  }
  rows.sort((a, b) => (b.created ?? '').localeCompare(a.created ?? '') || a.repository.localeCompare(b.repository) || a.tag.localeCompare(b.tag));
  return rows;
}

export interface HistoryRow {
  /** the image this entry made, when the store has it (the top one, or a build step); else null (docker's <missing>) */
  id: string | null;
  created: string | null;
  createdBy: string;
  size: number;
  comment: string;
  /** 1-based layer number, null for an entry that made no layer (ENV, CMD, ...) */
  layer: number | null;
  diffId: string | null;
}

/** An image's history, newest first, as docker history lists it. */
export function historyRows(store: Store, img: ImageRecord): HistoryRow[] {
  const cfg = configOf(store, img);
  const hist = cfg?.history ?? [];
  const sizeOf = (i: number) => {
    try {
      return store.layer(img.layers[i].chainId).diffSize;
    } catch {
      return 0;
    }
  };
  const rows: HistoryRow[] = [];
  let layer = 0;
  if (hist.filter((h) => !h.empty_layer).length !== img.layers.length) {
    // no usable history: one row per layer
    img.layers.forEach((l, i) => rows.push({ id: null, created: null, createdBy: '', size: sizeOf(i), comment: '', layer: i + 1, diffId: l.diffId }));
  } else {
    for (const h of hist) {
      const n = h.empty_layer ? null : layer++;
      rows.push({ id: null, created: h.created ?? null, createdBy: h.created_by ?? '', size: n === null ? 0 : sizeOf(n), comment: h.comment ?? '', layer: n === null ? null : n + 1, diffId: n === null ? null : img.layers[n].diffId });
    }
  }
  // the image, and its build steps where they are still in the store, by where their history ends
  for (let cur: ImageRecord | null = img, guard = 0; cur && guard < 10_000; cur = cur.parent ? store.image(cur.parent) : null, guard++) {
    const len = cur === img ? rows.length : (configOf(store, cur)?.history ?? []).length;
    if (len > 0 && len <= rows.length && rows[len - 1].id === null) rows[len - 1].id = cur.id;
  }
  if (rows.length && rows[rows.length - 1].id === null) rows[rows.length - 1].id = img.id;
  return rows.reverse();
}
