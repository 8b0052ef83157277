// The on-disk store. Layout under the root (see README "Store layout"):
//   lock                         held by mutating commands
//   tmp/                         work in progress; anything here is garbage after a crash,
//                                except tmp/downloads/HEX: partial blob downloads a pull resumes
//   blobs/sha256/HEX             verbatim blobs: layers as loaded, manifests, configs
//   layers/CHAINHEX/diff/        one layer, extracted once, kernel-overlay format
//   layers/CHAINHEX/layer.json   digests and sizes of that layer
//   l/SHORT -> ../layers/CHAINHEX/diff   short names that keep mount options small
//   images/IDHEX.json            an image: manifest digest, config digest, layers
//   repositories.json            { "repo:tag": "sha256:ID" }
//   containers/ID/               container.json, upper/, work/, merged/, mount.json
//   txn.json                     only while images+tags are being committed (see commitImages)
//   strata-store.json            the marker: {"layout": 1} (see root.ts)
// Every change is written under tmp/ and renamed into place; the last rename is the
// commit point, and whatever a crash leaves behind is collected by the next command.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { StoreLock } from './lock';
import { hex } from '../image/digest';
import type { TreeDigest } from './treedigest';
import { usage } from './usage';
import { RootState, StoreRootError, causeOf, prepareRoot, probeRoot } from './root';
import { OverlayXattrs, TRUSTED_XATTRS, USER_XATTRS } from '../union/format';
import { insideUserNamespace, needsUserNamespace, removeTree } from '../userns';

export interface LayerRecord {
  chainId: string;
  diffId: string;
  /** digest of the blob as loaded (what manifests name) */
  digest: string;
  mediaType: string;
  size: number;
  diffSize: number;
  parent: string | null;
  /** shape of diff/ right after extraction (see treedigest.ts); absent in older stores */
  tree?: TreeDigest;
}

export interface ImageRecord {
  id: string; // config digest
  manifestDigest: string;
  configDigest: string;
  layers: Array<{ chainId: string; diffId: string; digest: string; mediaType: string; size: number }>;
  created: string | null;
  loaded: string;
  /** the image a build step made this one from (docker's Parent); absent for loaded images */
  parent?: string;
  /** what the build step was (instruction and inputs), for the build cache */
  buildKey?: string;
  /** where the image is known by digest in registries: "127.0.0.1:5000/app@sha256:..." (docker's RepoDigests) */
  repoDigests?: string[];
}

export interface ContainerRecord {
  id: string;
  name: string;
  image: string; // image id
  imageRef: string; // what the user asked for
  layers: string[]; // chain ids, bottom first
  created: string;
}

export interface MountState {
  mountpoint: string;
  driver: 'strata-fs' | 'overlay';
  since: string;
}

interface Txn {
  added: string[];
  tags: Record<string, string>;
}

export const DEFAULT_ROOT = '/var/lib/strata';

const DOWNLOADS = 'downloads';
const DOWNLOAD_TTL_MS = 7 * 86400_000;
export const isDownloadName = (f: string): boolean => /^[0-9a-f]{64}$/.test(f);

export function writeFileAtomic(file: string, data: string | Buffer, tmpDir: string): void {
  const tmp = path.join(tmpDir, `.${path.basename(file)}.${randomBytes(6).toString('hex')}`);
  const fd = fs.openSync(tmp, 'wx', 0o644);
  try {
    fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}

export class Store {
  readonly lock: StoreLock;
  constructor(readonly root: string) {
    this.lock = new StoreLock(path.join(root, 'lock'));
  }

  /**
   * The store at ROOT, for reading: nothing is created (a missing or empty root reads as an
   * empty store); the first withLock creates or marks it. Throws a one-line StoreRootError
   * when ROOT is not usable (not a directory, unmarked and not empty, unreadable).
   */
  static open(root: string): Store {
    const s = new Store(root);
    s.state = probeRoot(root);
    return s;
  }

  /** A store kept without root (see userns.ts): its layers are unpacked in the user's
   *  namespace and mark whiteouts' opaque dirs with user.overlay.* xattrs. */
  get rootless(): boolean {
    return needsUserNamespace() || insideUserNamespace();
  }
  get xattrs(): OverlayXattrs {
    return this.rootless ? USER_XATTRS : TRUSTED_XATTRS;
  }

  /** What was at the root when opened (see root.ts); null for a Store made with new. */
  state: RootState | null = null;
  get exists(): boolean {
    return this.state === null || this.state.kind === 'marked' || this.state.kind === 'legacy';
  }

  // ---- paths ----
  get tmpRoot(): string {
    return path.join(this.root, 'tmp');
  }
  blobPath(digest: string): string {
    return path.join(this.root, 'blobs', 'sha256', hex(digest));
  }
  layerRoot(chainId: string): string {
    return path.join(this.root, 'layers', hex(chainId));
  }
  layerDir(chainId: string): string {
    return path.join(this.layerRoot(chainId), 'diff');
  }
  shortLink(chainId: string): string {
    return path.join(this.root, 'l', hex(chainId).slice(0, 16));
  }
  imageFile(id: string): string {
    return path.join(this.root, 'images', hex(id) + '.json');
  }
  containerDir(id: string): string {
    return path.join(this.root, 'containers', id);
  }

  /** Partial downloads, kept across commands so that an interrupted pull resumes. */
  get downloadsDir(): string {
    return path.join(this.tmpRoot, DOWNLOADS);
  }
  downloadFile(digest: string): string {
    return path.join(this.downloadsDir, hex(digest));
  }

  /** A fresh private dir under tmp/ for one operation. */
  makeTmp(prefix: string): string {
    return fs.mkdtempSync(path.join(this.tmpRoot, prefix + '-'));
  }

  /** Creates (missing or empty root) or marks (legacy) the store, so that a writer can lock it. */
  prepare(): void {
    prepareRoot(this.root);
    this.state = probeRoot(this.root);
  }

  async withLock<T>(fn: () => Promise<T>, onWait?: () => void): Promise<T> {
    this.prepare();
    try {
      await this.lock.acquire(undefined, onWait);
    } catch (e) {
      if (typeof (e as NodeJS.ErrnoException).code === 'string') throw new StoreRootError(`cannot lock the store at ${this.root}: ${causeOf(e as NodeJS.ErrnoException)}`);
      throw e;
    }
    // Ctrl-C: drop the lock now; what the command left under tmp/ is garbage for the next one
    const onSignal = (sig: NodeJS.Signals) => {
      this.lock.release();
      process.stderr.write(`strata: interrupted (${sig}); the store is unchanged\n`);
      process.exit(128 + (sig === 'SIGINT' ? 2 : 15));
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      this.collectGarbage();
      return await fn();
    } finally {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
      this.lock.release();
    }
  }

  // ---- blobs ----
  hasBlob(digest: string): boolean {
    return fs.existsSync(this.blobPath(digest));
  }
  readBlob(digest: string): Buffer {
    return fs.readFileSync(this.blobPath(digest));
  }
  /** Puts a verified file (under tmp/) into blobs/ unless already there. */
  adoptBlob(digest: string, file: string): void {
    if (this.hasBlob(digest)) fs.rmSync(file, { force: true });
    else fs.renameSync(file, this.blobPath(digest));
  }
  writeBlob(digest: string, data: Buffer): void {
    if (!this.hasBlob(digest)) writeFileAtomic(this.blobPath(digest), data, this.tmpRoot);
  }

  // ---- layers ----
  hasLayer(chainId: string): boolean {
    return fs.existsSync(path.join(this.layerRoot(chainId), 'layer.json'));
  }
  layer(chainId: string): LayerRecord {
    return JSON.parse(fs.readFileSync(path.join(this.layerRoot(chainId), 'layer.json'), 'utf8')) as LayerRecord;
  }
  /** Moves a complete layer root (diff/ + layer.json, built under tmp/) into place. */
  adoptLayer(chainId: string, builtRoot: string): void {
    if (this.hasLayer(chainId)) {
      removeTree(builtRoot);
      return;
    }
    removeTree(this.layerRoot(chainId));
    fs.renameSync(builtRoot, this.layerRoot(chainId));
    this.ensureShortLink(chainId);
  }
  ensureShortLink(chainId: string): void {
    const link = this.shortLink(chainId);
    const want = path.join('..', 'layers', hex(chainId), 'diff');
    try {
      if (fs.readlinkSync(link) === want) return;
      fs.rmSync(link, { force: true });
    } catch {
      /* missing */
    }
    fs.symlinkSync(want, link);
  }
  /** Layer dirs for a mount or an extraction, top first. */
  lowerDirs(chainIds: string[]): string[] {
    return chainIds.map((c) => this.layerDir(c)).reverse();
  }
  shortLowerDirs(chainIds: string[]): string[] {
    return chainIds.map((c) => {
      this.ensureShortLink(c);
      return this.shortLink(c);
    }).reverse();
  }

  // ---- images ----
  images(): ImageRecord[] {
    const out: ImageRecord[] = [];
    const pending = this.pendingImages();
    for (const f of listDir(path.join(this.root, 'images'))) {
      if (!f.endsWith('.json') || pending.has('sha256:' + f.slice(0, -5))) continue;
      try {
        out.push(JSON.parse(fs.readFileSync(path.join(this.root, 'images', f), 'utf8')) as ImageRecord);
      } catch {
        /* a half-written file cannot exist (atomic rename); skip foreign files */
      }
    }
    return out;
  }
  image(id: string): ImageRecord | null {
    if (this.pendingImages().has(id)) return null;
    return readJson<ImageRecord>(this.imageFile(id));
  }
  putImage(rec: ImageRecord): void {
    writeFileAtomic(this.imageFile(rec.id), JSON.stringify(rec, null, 2) + '\n', this.tmpRoot);
  }
  deleteImage(id: string): void {
    fs.rmSync(this.imageFile(id), { force: true });
  }

  tags(): Record<string, string> {
    return readJson<Record<string, string>>(path.join(this.root, 'repositories.json')) ?? {};
  }
  putTags(tags: Record<string, string>): void {
    const sorted: Record<string, string> = {};
    for (const k of Object.keys(tags).sort()) sorted[k] = tags[k];
    writeFileAtomic(path.join(this.root, 'repositories.json'), JSON.stringify(sorted, null, 2) + '\n', this.tmpRoot);
  }

  // ---- image transactions ----
  get txnFile(): string {
    return path.join(this.root, 'txn.json');
  }
  /**
   * Adds image records and tags as one step. Several files change, so an intent record
   * (txn.json) is written first: if a crash leaves it behind, the next command either
   * sees every tag in place (done: drop the record) or removes the images this step
   * added (rolled back), so a load or commit is all or nothing.
   */
  commitImages(recs: ImageRecord[], newTags: Record<string, string>): void {
    const added = recs.filter((r) => !fs.existsSync(this.imageFile(r.id))).map((r) => r.id);
    const txn: Txn = { added, tags: newTags };
    writeFileAtomic(this.txnFile, JSON.stringify(txn) + '\n', this.tmpRoot);
    for (const r of recs) this.putImage(r);
    const tags = this.tags();
    Object.assign(tags, newTags);
    this.putTags(tags);
    fs.rmSync(this.txnFile, { force: true });
  }
  /**
   * Images an interrupted commitImages added but did not finish: invisible to readers
   * (which run without the lock and without recovery) until the next command rolls
   * them back, so even `strata images` sees a load or commit whole or not at all.
   */
  pendingImages(): Set<string> {
    let txn: Txn;
    try {
      txn = JSON.parse(fs.readFileSync(this.txnFile, 'utf8')) as Txn;
    } catch {
      return new Set();
    }
    if (this.lock.isHeldByMe()) return new Set(); // our own commit in progress
    return this.txnDone(txn) ? new Set() : new Set(txn.added);
  }

  private txnDone(txn: Txn): boolean {
    const tags = this.tags();
    return Object.entries(txn.tags).every(([k, v]) => tags[k] === v) && txn.added.every((id) => fs.existsSync(this.imageFile(id)));
  }

  /** Finishes or rolls back what commitImages left; returns what it did, or null. */
  recoverTxn(): string | null {
    let txn: Txn;
    try {
      txn = JSON.parse(fs.readFileSync(this.txnFile, 'utf8')) as Txn;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      // written atomically, so unreadable means foreign: nothing was committed from it
      fs.rmSync(this.txnFile, { force: true });
      return 'removed an unreadable txn.json';
    }
    const tags = this.tags();
    if (this.txnDone(txn)) {
      fs.rmSync(this.txnFile, { force: true });
      return 'an interrupted image commit had completed; dropped its intent record';
    }
    let changed = false;
    for (const [k, v] of Object.entries(tags)) {
      if (txn.added.includes(v)) {
        delete tags[k];
        changed = true;
      }
    }
    if (changed) this.putTags(tags);
    for (const id of txn.added) this.deleteImage(id);
    fs.rmSync(this.txnFile, { force: true });
    return `rolled back an interrupted image commit (${txn.added.length} image record(s) removed)`;
  }

  // ---- containers ----
  containers(): ContainerRecord[] {
    const out: ContainerRecord[] = [];
    for (const id of listDir(path.join(this.root, 'containers'))) {
      const c = this.container(id);
      if (c) out.push(c);
    }
    return out.sort((a, b) => a.created.localeCompare(b.created));
  }
  container(id: string): ContainerRecord | null {
    return readJson<ContainerRecord>(path.join(this.containerDir(id), 'container.json'));
  }
  mountState(id: string): MountState | null {
    return readJson<MountState>(path.join(this.containerDir(id), 'mount.json'));
  }
  setMountState(id: string, st: MountState | null): void {
    const f = path.join(this.containerDir(id), 'mount.json');
    if (st === null) fs.rmSync(f, { force: true });
    else writeFileAtomic(f, JSON.stringify(st) + '\n', this.tmpRoot);
  }

  /** Partial downloads worth keeping: named by digest, not yet in blobs/, younger than a week. */
  pruneDownloads(): void {
    const now = Date.now();
    for (const f of fs.readdirSync(this.downloadsDir)) {
      const p = path.join(this.downloadsDir, f);
      let keep = false;
      try {
        const st = fs.lstatSync(p);
        keep = isDownloadName(f) && st.isFile() && now - st.mtimeMs < DOWNLOAD_TTL_MS && !this.hasBlob('sha256:' + f);
      } catch {
        /* gone */
      }
      if (!keep) fs.rmSync(p, { recursive: true, force: true });
    }
  }

  // ---- garbage ----
  /**
   * Removes what an interrupted command left: everything in tmp/, layers and blobs
   * that no image or container uses (usage.ts, the rule `strata check` reports orphans
   * by), half-created containers. Called under the lock.
   */
  collectGarbage(): void {
    this.recoverTxn();
    for (const f of fs.readdirSync(this.tmpRoot)) {
      if (f === DOWNLOADS) this.pruneDownloads();
      else removeTree(path.join(this.tmpRoot, f)); // a user's store: files of subordinate IDs too
    }
    const containersDir = path.join(this.root, 'containers');
    for (const id of fs.readdirSync(containersDir)) {
      if (!fs.existsSync(path.join(containersDir, id, 'container.json'))) removeTree(path.join(containersDir, id));
    }
    const used = usage(this);
    for (const d of fs.readdirSync(path.join(this.root, 'layers'))) {
      if (!used.layers.has(d)) removeTree(path.join(this.root, 'layers', d));
    }
    for (const b of fs.readdirSync(path.join(this.root, 'blobs', 'sha256'))) {
      if (!used.blobs.has(b)) fs.rmSync(path.join(this.root, 'blobs', 'sha256', b), { force: true });
    }
    for (const s of fs.readdirSync(path.join(this.root, 'l'))) {
      const p = path.join(this.root, 'l', s);
      if (!fs.existsSync(p)) fs.rmSync(p, { force: true }); // dangling: its layer is gone
    }
  }
}

/** A directory's entries; none when it does not exist (a store not created yet). */
function listDir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

/** A JSON file's contents, or null when it is missing or unreadable. */
export function readJson<T>(file: string): T | null {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return null;
  }
}
