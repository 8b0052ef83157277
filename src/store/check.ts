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
import { treeDigest } from './treedigest';
import { mountHealth, mountsUnder, lazyUnmount, mountedFsType } from './containers';

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

export function checkStore(store: Store, repair: boolean): CheckResult {
  const root = store.root;
  const problems: Problem[] = [];
  const rel = (p: string) => path.relative(root, p);
  const add = (kind: ProblemKind, p: string, message: string, repairable: boolean, fix?: () => string) => {
    const pr: Problem = { kind, path: p, message, repairable };
    if (repair && repairable && fix) pr.repaired = fix();
    problems.push(pr);
  };

  // 1. interrupted work first: its repair decides which images exist
  if (fs.existsSync(store.txnFile)) add('interrupted-commit', 'txn.json', 'an image commit (load/commit) was interrupted', true, () => store.recoverTxn() ?? 'nothing to do');
  const leftover = (dir: string, f: string) =>
    add('tmp-leftover', path.relative(root, path.join(dir, f)), 'left by an interrupted command', true, () => {
      fs.rmSync(path.join(dir, f), { recursive: true, force: true });
      return 'removed';
    });
  for (const f of ls(store.tmpRoot)) {
    if (path.join(store.tmpRoot, f) !== store.downloadsDir) leftover(store.tmpRoot, f);
  }
  // partial downloads are kept on purpose (an interrupted pull resumes them): only foreign files are garbage
  for (const f of ls(store.downloadsDir)) {
    let file = false;
    try {
      file = fs.lstatSync(path.join(store.downloadsDir, f)).isFile();
    } catch {
      /* gone */
    }
    if (!isDownloadName(f) || !file) leftover(store.downloadsDir, f);
  }

  // 2. images and tags
  const images = new Map<string, ImageRecord>();
  for (const f of ls(path.join(root, 'images'))) {
    const p = path.join(root, 'images', f);
    const img = f.endsWith('.json') ? readJson<ImageRecord>(p) : null;
    if (!img || typeof img.id !== 'string' || hex(img.id) + '.json' !== f || !Array.isArray(img.layers)) {
      add('bad-image', rel(p), 'unreadable image record or named after another id', false);
      continue;
    }
    images.set(img.id, img);
  }
  const tags = readJson<Record<string, string>>(path.join(root, 'repositories.json'));
  if (tags === null && fs.existsSync(path.join(root, 'repositories.json'))) add('bad-tag', 'repositories.json', 'unreadable', false);
  for (const [ref, id] of Object.entries(tags ?? {})) {
    if (!images.has(id)) {
      add('bad-tag', 'repositories.json', `tag ${ref} names image ${id}, which is not in the store`, true, () => {
        const t = store.tags();
        delete t[ref];
        store.putTags(t);
        return 'tag removed';
      });
    }
  }

  // 3. containers
  const containers: ContainerRecord[] = [];
  for (const id of ls(path.join(root, 'containers'))) {
    const dir = store.containerDir(id);
    const c = readJson<ContainerRecord>(path.join(dir, 'container.json'));
    if (!c) {
      const mounts = mountsUnder(dir);
      add('half-written-container', rel(dir), 'container dir without a readable container.json', mounts.length === 0, () => {
        fs.rmSync(dir, { recursive: true, force: true });
        return 'removed';
      });
      continue;
    }
    containers.push(c);
    if (c.id !== id || !Array.isArray(c.layers)) add('bad-container', rel(dir), 'container.json names another id or has no layers', false);
    for (const d of ['upper', 'work']) if (!fs.existsSync(path.join(dir, d))) add('bad-container', rel(path.join(dir, d)), `container ${c.name} has no ${d}/ dir`, d === 'work', () => {
      fs.mkdirSync(path.join(dir, d), { mode: 0o755 });
      return 'recreated (empty)';
    });
    if (!images.has(c.image)) add('missing-image', rel(dir), `container ${c.name} uses image ${c.image}, which is not in the store`, false);
    checkMount(store, c, add);
  }

  // 4. layers
  const usedLayers = new Map<string, string>(); // hex -> who
  for (const img of images.values()) for (const l of img.layers) if (!usedLayers.has(hex(l.chainId))) usedLayers.set(hex(l.chainId), `image ${img.id.slice(7, 19)}`);
  for (const c of containers) for (const l of c.layers ?? []) if (!usedLayers.has(hex(l))) usedLayers.set(hex(l), `container ${c.name}`);
  const layerDirs = new Set(ls(path.join(root, 'layers')));
  const layerRecs = new Map<string, LayerRecord>();
  let layersChecked = 0;
  for (const d of layerDirs) {
    const lroot = path.join(root, 'layers', d);
    const rec = readJson<LayerRecord>(path.join(lroot, 'layer.json'));
    const user = usedLayers.get(d);
    if (!rec) {
      add('half-written-layer', rel(lroot), `layer dir without a readable layer.json${user ? ` (needed by ${user})` : ''}`, !user, () => {
        fs.rmSync(lroot, { recursive: true, force: true });
        return 'removed';
      });
      continue;
    }
    if (!user) {
      add('orphan-layer', rel(lroot), 'no image or container uses this layer', true, () => {
        fs.rmSync(lroot, { recursive: true, force: true });
        return 'removed';
      });
      continue;
    }
    layersChecked++;
    layerRecs.set(d, rec);
    if (!HEX.test(d) || hex(rec.chainId) !== d) {
      add('bad-layer', rel(lroot), `layer.json names chain id ${rec.chainId}`, false);
      continue;
    }
    const diff = store.layerDir(rec.chainId);
    let st: fs.Stats | null = null;
    try {
      st = fs.lstatSync(diff);
    } catch {
      /* missing */
    }
    if (!st || !st.isDirectory()) {
      add('bad-layer', rel(diff), 'missing or not a directory', false);
      continue;
    }
    if (rec.tree) {
      const now = treeDigest(diff);
      if (now.digest !== rec.tree.digest) add('layer-changed', rel(diff), `layer dir changed since import (${now.entries} entries now, ${rec.tree.entries} recorded)`, false);
    }
    const link = store.shortLink(rec.chainId);
    let linkOk = false;
    try {
      linkOk = fs.readlinkSync(link) === path.join('..', 'layers', d, 'diff');
    } catch {
      /* missing */
    }
    if (!linkOk) add('dangling-link', rel(link), 'short link missing or wrong', true, () => {
      store.ensureShortLink(rec.chainId);
      return 'recreated';
    });
  }
  for (const [d, who] of usedLayers) if (!layerDirs.has(d)) add('missing-layer', `layers/${d}`, `layer needed by ${who} is not in the store`, false);
  for (const s of ls(path.join(root, 'l'))) {
    const p = path.join(root, 'l', s);
    let target = '';
    try {
      target = fs.readlinkSync(p);
    } catch {
      /* not a link */
    }
    const m = /^\.\.\/layers\/([0-9a-f]{64})\/diff$/.exec(target);
    if (!m || !layerRecs.has(m[1]) || hex(layerRecs.get(m[1])!.chainId).slice(0, 16) !== s) add('dangling-link', rel(p), `points to ${target || 'nothing'}, not a layer of the store`, true, () => {
      fs.rmSync(p, { force: true });
      return 'removed';
    });
  }

  // 5. blobs
  const usedBlobs = new Map<string, string>();
  for (const img of images.values()) {
    usedBlobs.set(hex(img.manifestDigest), `manifest of image ${img.id.slice(7, 19)}`);
    usedBlobs.set(hex(img.configDigest), `config of image ${img.id.slice(7, 19)}`);
    for (const l of img.layers) if (!usedBlobs.has(hex(l.digest))) usedBlobs.set(hex(l.digest), `layer blob of image ${img.id.slice(7, 19)}`);
  }
  let blobsChecked = 0;
  const blobDir = path.join(root, 'blobs', 'sha256');
  const present = new Set(ls(blobDir));
  for (const b of present) {
    const p = path.join(blobDir, b);
    if (!usedBlobs.has(b)) {
      add('orphan-blob', rel(p), 'no image uses this blob', true, () => {
        fs.rmSync(p, { force: true });
        return 'removed';
      });
      continue;
    }
    blobsChecked++;
    let got: string;
    try {
      got = sha256File(p);
    } catch (e) {
      add('bad-blob', rel(p), `unreadable: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, false);
      continue;
    }
    if (got !== b) add('bad-blob', rel(p), `content hashes to sha256:${got}`, false);
  }
  for (const [b, who] of usedBlobs) if (!present.has(b)) add('missing-blob', `blobs/sha256/${b}`, `${who} is not in the store`, false);

  return { problems, checked: { blobs: blobsChecked, layers: layersChecked, images: images.size, containers: containers.length } };
}

function checkMount(store: Store, c: ContainerRecord, add: (k: ProblemKind, p: string, m: string, r: boolean, fix?: () => string) => void): void {
  const st = store.mountState(c.id);
  const relDir = path.relative(store.root, store.containerDir(c.id));
  const merged = path.join(store.containerDir(c.id), 'merged');
  if (st) {
    const h = mountHealth(st.mountpoint);
    if (h === 'absent') {
      add('stale-mount-state', relDir, `container ${c.name} is recorded as mounted at ${st.mountpoint}, which is not a mount point`, true, () => {
        store.setMountState(c.id, null);
        return 'mount state cleared';
      });
    } else if (h === 'stale') {
      add('stale-mount', relDir, `container ${c.name}: the strata-fs daemon of ${st.mountpoint} is dead (ENOTCONN)`, true, () => {
        lazyUnmount(st.mountpoint);
        store.setMountState(c.id, null);
        return 'detached (lazy unmount) and mount state cleared';
      });
    }
    if (st.mountpoint !== merged) return;
  }
  // a mount on the container's own dir that no mount.json describes (crash during mount)
  if (!st && mountedFsType(merged)) {
    add('untracked-mount', relDir, `${merged} is mounted but the store has no mount state for container ${c.name}`, true, () => {
      lazyUnmount(merged);
      return 'detached (lazy unmount)';
    });
  }
}

export function problemLine(p: Problem): string {
  return `${p.kind}: ${p.path}: ${p.message}${p.repaired ? ` -> ${p.repaired}` : p.repairable ? ' (strata check --repair fixes this)' : ''}`;
}
