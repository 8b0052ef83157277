// strata check: what can be verified about a store without re-extracting layers.
//  - every blob (manifests, configs, layer blobs as loaded) hashes to its name
//  - every layer dir has a readable layer.json naming it, a diff/ dir, and the same
//    shape as when it was imported (treedigest.ts: names, types, modes, owners, sizes,
//    mtimes, xattrs; file contents are not re-read), and its blob is kept
//  - images name existing blobs and layers; tags name existing images
//  - containers have container.json, upper/, work/, an existing image and layers
//  - mount state agrees with /proc/self/mountinfo and the strata-fs daemons alive
//  - no garbage: tmp/ leftovers, half-written layers or containers, orphan layers and
//    blobs, dangling l/ links, an interrupted image commit (txn.json)
// --repair fixes what is garbage or stale; damage (a changed layer, a missing blob)
// is reported, never "fixed" by deleting what may be someone's only copy.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Store, LayerRecord, ImageRecord, ContainerRecord, readJson, isDownloadName } from './store';
import { hex, sha256File } from '../image/digest';
import { treeDigest, treeDigestInUserNamespace } from './treedigest';
import { mountHealth, mountsUnder, lazyUnmount, mountedFsType } from './containers';
import { usage } from './usage';
import { removeTree } from '../userns';

export type ProblemKind =
  | 'tmp-leftover' | 'interrupted-commit' | 'half-written-layer' | 'half-written-container' | 'orphan-layer' | 'orphan-blob' | 'dangling-link'
  | 'stale-mount' | 'stale-mount-state' | 'untracked-mount'
  | 'bad-blob' | 'missing-blob' | 'bad-layer' | 'layer-changed' | 'missing-layer' | 'bad-image' | 'missing-image' | 'bad-tag' | 'bad-container';

export interface Problem {
  kind: ProblemKind;
  path: string; // relative to the store root
  message: string;
  /** garbage and stale state can be repaired; damage cannot */
  repairable: boolean;
  repaired?: string;
}

export interface CheckResult {
  problems: Problem[];
  checked: { blobs: number; layers: number; images: number; containers: number };
}

const HEX = /^[0-9a-f]{64}$/;

function ls(dir: string): string[] {
  try {
    return fs.readdirSync(dir).sort();
  } catch {
    return [];
  }
}

/** The store under check and the problems found so far; repairs run as they are found. */
class Findings {
  readonly problems: Problem[] = [];
  constructor(readonly store: Store, private readonly repair: boolean) {}
  rel(p: string): string {
    return path.relative(this.store.root, p);
  }
  add(kind: ProblemKind, p: string, message: string, repairable: boolean, fix?: () => string): void {
    const pr: Problem = { kind, path: p, message, repairable };
    if (this.repair && repairable && fix) pr.repaired = fix();
    this.problems.push(pr);
  }
}

export function checkStore(store: Store, repair: boolean): CheckResult {
  const f = new Findings(store, repair);
  // interrupted work first: its repair decides which images exist
  checkInterruptedWork(f);
  const images = checkImages(f);
  checkTags(f, images);
  const containers = checkContainers(f, images);
  // what is in use by the collector's rule, so that --repair deletes exactly what it would
  const used = usage(store);
  const layers = checkLayers(f, used.layers);
  checkShortLinks(f, layers);
  const blobsChecked = checkBlobs(f, used.blobs);
  return { problems: f.problems, checked: { blobs: blobsChecked, layers: layers.size, images: images.size, containers: containers.length } };
}

/** An interrupted image commit (txn.json) and whatever commands left under tmp/. */
function checkInterruptedWork(f: Findings): void {
  const store = f.store;
  if (fs.existsSync(store.txnFile)) f.add('interrupted-commit', 'txn.json', 'an image commit (load/commit) was interrupted', true, () => store.recoverTxn() ?? 'nothing to do');
  const leftover = (dir: string, name: string) =>
    f.add('tmp-leftover', path.relative(store.root, path.join(dir, name)), 'left by an interrupted command', true, () => {
      removeTree(path.join(dir, name));
      return 'removed';
    });
  for (const name of ls(store.tmpRoot)) {
    if (path.join(store.tmpRoot, name) !== store.downloadsDir) leftover(store.tmpRoot, name);
  }
  // partial downloads are kept on purpose (an interrupted pull resumes them): only foreign files are garbage
  for (const name of ls(store.downloadsDir)) {
    let file = false;
    try {
      file = fs.lstatSync(path.join(store.downloadsDir, name)).isFile();
    } catch {
      /* gone */
    }
    if (!isDownloadName(name) || !file) leftover(store.downloadsDir, name);
  }
}

/** Image records that read and are named after their id; the others are damage. */
function checkImages(f: Findings): Map<string, ImageRecord> {
  const images = new Map<string, ImageRecord>();
  const dir = path.join(f.store.root, 'images');
  for (const name of ls(dir)) {
    const p = path.join(dir, name);
    const img = name.endsWith('.json') ? readJson<ImageRecord>(p) : null;
    if (!img || typeof img.id !== 'string' || hex(img.id) + '.json' !== name || !Array.isArray(img.layers)) {
      f.add('bad-image', f.rel(p), 'unreadable image record or named after another id', false);
      continue;
    }
    images.set(img.id, img);
  }
  return images;
}

/** repositories.json reads, and every tag names an image of the store. */
function checkTags(f: Findings, images: Map<string, ImageRecord>): void {
  const store = f.store;
  const file = path.join(store.root, 'repositories.json');
  const tags = readJson<Record<string, string>>(file);
  if (tags === null && fs.existsSync(file)) f.add('bad-tag', 'repositories.json', 'unreadable', false);
  for (const [ref, id] of Object.entries(tags ?? {})) {
    if (!images.has(id)) {
      f.add('bad-tag', 'repositories.json', `tag ${ref} names image ${id}, which is not in the store`, true, () => {
        const t = store.tags();
        delete t[ref];
        store.putTags(t);
        return 'tag removed';
      });
    }
  }
}

/** Every container dir: its record, upper/ and work/, its image, its mount state. */
function checkContainers(f: Findings, images: Map<string, ImageRecord>): ContainerRecord[] {
  const store = f.store;
  const containers: ContainerRecord[] = [];
  for (const id of ls(path.join(store.root, 'containers'))) {
    const dir = store.containerDir(id);
    const c = readJson<ContainerRecord>(path.join(dir, 'container.json'));
    if (!c) {
      const mounts = mountsUnder(dir);
      f.add('half-written-container', f.rel(dir), 'container dir without a readable container.json', mounts.length === 0, () => {
        removeTree(dir);
        return 'removed';
      });
      continue;
    }
    containers.push(c);
    if (c.id !== id || !Array.isArray(c.layers)) f.add('bad-container', f.rel(dir), 'container.json names another id or has no layers', false);
    for (const d of ['upper', 'work']) if (!fs.existsSync(path.join(dir, d))) f.add('bad-container', f.rel(path.join(dir, d)), `container ${c.name} has no ${d}/ dir`, d === 'work', () => {
      fs.mkdirSync(path.join(dir, d), { mode: 0o755 });
      return 'recreated (empty)';
    });
    if (!images.has(c.image)) f.add('missing-image', f.rel(dir), `container ${c.name} uses image ${c.image}, which is not in the store`, false);
    checkMount(f, c);
  }
  return containers;
}

/** The recorded mount state of a container against the mount table and its daemon. */
function checkMount(f: Findings, c: ContainerRecord): void {
  const store = f.store;
  const st = store.mountState(c.id);
  const relDir = f.rel(store.containerDir(c.id));
  const merged = path.join(store.containerDir(c.id), 'merged');
  if (st) {
    const h = mountHealth(st.mountpoint);
    if (h === 'absent') {
      f.add('stale-mount-state', relDir, `container ${c.name} is recorded as mounted at ${st.mountpoint}, which is not a mount point`, true, () => {
        store.setMountState(c.id, null);
        return 'mount state cleared';
      });
    } else if (h === 'stale') {
      f.add('stale-mount', relDir, `container ${c.name}: the strata-fs daemon of ${st.mountpoint} is dead (ENOTCONN)`, true, () => {
        lazyUnmount(st.mountpoint);
        store.setMountState(c.id, null);
        return 'detached (lazy unmount) and mount state cleared';
      });
    }
    if (st.mountpoint !== merged) return;
  }
  // a mount on the container's own dir that no mount.json describes (crash during mount)
  if (!st && mountedFsType(merged)) {
    f.add('untracked-mount', relDir, `${merged} is mounted but the store has no mount state for container ${c.name}`, true, () => {
      lazyUnmount(merged);
      return 'detached (lazy unmount)';
    });
  }
}

/** Every layer dir (half-written, orphan, or checked by checkLayer) and every layer in use
 *  (present); returns the records of the layers in use, by dir name. */
function checkLayers(f: Findings, used: Map<string, string>): Map<string, LayerRecord> {
  const layersDir = path.join(f.store.root, 'layers');
  const dirs = new Set(ls(layersDir));
  const records = new Map<string, LayerRecord>();
  for (const d of dirs) {
    const lroot = path.join(layersDir, d);
    const rec = readJson<LayerRecord>(path.join(lroot, 'layer.json'));
    const user = used.get(d);
    if (!rec) {
      f.add('half-written-layer', f.rel(lroot), `layer dir without a readable layer.json${user ? ` (needed by ${user})` : ''}`, !user, () => {
        removeTree(lroot);
        return 'removed';
      });
      continue;
    }
    if (!user) {
      f.add('orphan-layer', f.rel(lroot), 'no image or container uses this layer', true, () => {
        removeTree(lroot);
        return 'removed';
      });
      continue;
    }
    records.set(d, rec);
    checkLayer(f, d, rec);
  }
  for (const [d, who] of used) if (!dirs.has(d)) f.add('missing-layer', `layers/${d}`, `layer needed by ${who} is not in the store`, false);
  return records;
}

/** One layer in use: named after its chain id, diff/ a directory of the shape recorded at
 *  import, its short link in place. */
function checkLayer(f: Findings, d: string, rec: LayerRecord): void {
  const store = f.store;
  const lroot = path.join(store.root, 'layers', d);
  if (!HEX.test(d) || hex(rec.chainId) !== d) {
    f.add('bad-layer', f.rel(lroot), `layer.json names chain id ${rec.chainId}`, false);
    return;
  }
  const diff = store.layerDir(rec.chainId);
  let st: fs.Stats | null = null;
  try {
    st = fs.lstatSync(diff);
  } catch {
    /* missing */
  }
  if (!st || !st.isDirectory()) {
    f.add('bad-layer', f.rel(diff), 'missing or not a directory', false);
    return;
  }
  if (rec.tree) {
    const now = store.rootless ? treeDigestInUserNamespace(diff) : treeDigest(diff);
    if (now.digest !== rec.tree.digest) f.add('layer-changed', f.rel(diff), `layer dir changed since import (${now.entries} entries now, ${rec.tree.entries} recorded)`, false);
  }
  const link = store.shortLink(rec.chainId);
  let linkOk = false;
  try {
    linkOk = fs.readlinkSync(link) === path.join('..', 'layers', d, 'diff');
  } catch {
    /* missing */
  }
  if (!linkOk) f.add('dangling-link', f.rel(link), 'short link missing or wrong', true, () => {
    store.ensureShortLink(rec.chainId);
    return 'recreated';
  });
}

/** Every l/ entry is the short link of a layer in use. */
function checkShortLinks(f: Findings, layers: Map<string, LayerRecord>): void {
  const dir = path.join(f.store.root, 'l');
  for (const s of ls(dir)) {
    const p = path.join(dir, s);
    let target = '';
    try {
      target = fs.readlinkSync(p);
    } catch {
      /* not a link */
    }
    const m = /^\.\.\/layers\/([0-9a-f]{64})\/diff$/.exec(target);
    if (!m || !layers.has(m[1]) || hex(layers.get(m[1])!.chainId).slice(0, 16) !== s) f.add('dangling-link', f.rel(p), `points to ${target || 'nothing'}, not a layer of the store`, true, () => {
      fs.rmSync(p, { force: true });
      return 'removed';
    });
  }
}

/** Every blob is in use and hashes to its name, and every blob in use is there; returns
 *  how many were hashed. */
function checkBlobs(f: Findings, used: Map<string, string>): number {
  let checked = 0;
  const dir = path.join(f.store.root, 'blobs', 'sha256');
  const present = new Set(ls(dir));
  for (const b of present) {
    const p = path.join(dir, b);
    if (!used.has(b)) {
      f.add('orphan-blob', f.rel(p), 'no image uses this blob', true, () => {
        fs.rmSync(p, { force: true });
        return 'removed';
      });
      continue;
    }
    checked++;
    let got: string;
    try {
      got = sha256File(p);
    } catch (e) {
      f.add('bad-blob', f.rel(p), `unreadable: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, false);
      continue;
    }
    if (got !== b) f.add('bad-blob', f.rel(p), `content hashes to sha256:${got}`, false);
  }
  for (const [b, who] of used) if (!present.has(b)) f.add('missing-blob', `blobs/sha256/${b}`, `${who} is not in the store`, false);
  return checked;
}

export function problemLine(p: Problem): string {
  return `${p.kind}: ${p.path}: ${p.message}${p.repaired ? ` -> ${p.repaired}` : p.repairable ? ' (strata check --repair fixes this)' : ''}`;
}
