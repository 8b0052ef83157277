// Extracts one layer tar into a directory in kernel-overlay on-disk format:
//   .wh.NAME         -> character device 0:0 named NAME
//   DIR/.wh..wh..opq -> xattr trusted.overlay.opaque=y on DIR
// The layer is extracted on its own (not over the rootfs), so the lower layers are
// only consulted for what a tar leaves implicit: parent dirs a layer omits keep the
// lower layer's metadata, and hard links to lower files are copied up.
//
// Names and PAX values are byte strings (see tarbytes.ts). Every parent of every
// entry is checked with lstat and created here, never resolved through a symlink.
import * as fs from 'node:fs';
import { Readable, Transform, TransformCallback } from 'node:stream';
import { LayerError } from './layer-error';
import { paxId, paxTimeNs, paxXattrs } from './pax';
import { sparseOf, SparseFile, writeSparseData } from './sparse';
import { byteExtract, GnuSparseInfo } from './tarbytes';
import * as sys from '../native';
import { bytesPath, lstatOrNull, resolveLower } from './lower';
import { escapeXattr, isInternalXattr, isWhiteout, OverlayXattrs, TRUSTED_XATTRS } from '../union/format';

export interface ExtractOptions {
  /** Overlay-format dirs of the layers below this one, top first. */
  lowers: string[];
  /** cap on the file data the tar may declare (default: free space at dest) */
  maxFileBytes?: number;
  /** told of each input chunk once it and all input before it are written and unreferenced
   *  (the decompressor's consumedBy(), so that it can reuse their memory) */
  consumed?: (chunk: Buffer) => void;
  /** the union's marks: trusted.overlay.* (default), or user.overlay.* for a store kept
   *  without root (overlayfs's userxattr form: trusted.* needs root of the host) */
  xattrs?: OverlayXattrs;
  /** running as root of a user's namespace (src/userns.ts): devices other than the 0/0
   *  whiteout cannot be made there and are left out, as rootless podman and docker do */
  userNamespace?: boolean;
}

/** Space the layer may use: what statfs says is free, minus a reserve for the system. */
export function availableBytes(dir: string): number {
  const s = fs.statfsSync(dir);
  const free = s.bavail * s.bsize;
  return Math.max(0, free - Math.min(256 << 20, Math.floor(free / 20)));
}

/**
 * Bounds what a layer can make the importer do, whatever its compressed size: the file
 * data its tar headers declare must fit the free space (checked before any of it is
 * written), and the decompressed stream may not carry much more than those entries
 * (a decompression bomb of zero blocks or junk after the archive costs no disk but
 * endless time).
 */
export class Budget {
  declared = 0;
  accounted = 0;
  entries = 0;
  constructor(readonly maxFileBytes: number) {}
  header(size: number, type: string | null, name: string): void {
    this.entries++;
    this.accounted += 512;
    // tar-stream streams no data for directories whatever their size field says
    if (type === 'directory') return;
    if (!Number.isSafeInteger(size) || size < 0) throw new LayerError(`${JSON.stringify(name)}: bad size in tar header`);
    this.accounted += Math.ceil(size / 512) * 512;
    this.declared += size;
    if (this.declared > this.maxFileBytes) throw new LayerError(`layer declares ${this.declared} bytes of file data (at ${JSON.stringify(name)}), more than the ${this.maxFileBytes} bytes free for the store`);
  }
  /** Bytes the tar may carry beyond its entries: long-name/PAX headers, end blocks, padding. */
  slack(): number {
    return (64 << 20) + this.entries * (64 << 10);
  }
}

class BombGuard extends Transform {
  private bytes = 0;
  constructor(private readonly budget: Budget) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    const extra = this.bytes - this.budget.accounted;
    if (extra > this.budget.slack()) return cb(new LayerError(`layer tar carries over ${Math.floor(extra / 1048576)} MiB that belong to no entry (decompression bomb or junk after the archive)`));
    cb(null, chunk);
  }
}

export interface ExtractStats {
  entries: number;
}

interface Header {
  name: string;
  size: number;
  mode: number;
  mtime: Date;
  type: string | null;
  linkname: string | null;
  uid: number;
  gid: number;
  devmajor: number;
  devminor: number;
  typeflagRaw?: number;
  gnuSparse?: GnuSparseInfo;
  pax?: Record<string, string> | null;
}

export { LayerError };

const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;
const BLOCK = 4096;
const ZERO_BLOCK = Buffer.alloc(BLOCK);

// names are byte strings (one char per byte), so lengths are byte counts
const NAME_MAX = 255;
/** leaves room for the store's own prefix within PATH_MAX (4096) */
const MAX_REL_PATH = 3800;
const MAX_ID = 0xfffffffe; // (uid_t)-1 means "leave unchanged" to chown
/** timestamps a Linux filesystem can hold (ext4 stops at 2446; tmpfs and xfs differ) */
const MAX_TIME_NS = 16_000_000_000n * 1_000_000_000n;

/** "./a//b/" -> "a/b"; "" for the root. Throws on absolute names and "..". */
export function normalizeName(name: string): string {
  if (name.startsWith('/')) throw new LayerError(`absolute path in layer: ${JSON.stringify(name)}`);
  const out: string[] = [];
  for (const c of name.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') throw new LayerError(`path escapes the layer: ${JSON.stringify(name)}`);
    if (c.includes('\0')) throw new LayerError(`NUL in path: ${JSON.stringify(name)}`);
    if (c.length > NAME_MAX) throw new LayerError(`name longer than ${NAME_MAX} bytes in ${JSON.stringify(name.slice(0, 80))}...`);
    out.push(c);
  }
  const rel = out.join('/');
  if (rel.length > MAX_REL_PATH) throw new LayerError(`path longer than ${MAX_REL_PATH} bytes: ${JSON.stringify(rel.slice(0, 80))}...`);
  return rel;
}

function headerXattrs(pax: Record<string, string> | null | undefined, x: OverlayXattrs): Array<[string, Buffer]> {
  const out: Array<[string, Buffer]> = [];
  for (const [name, value] of paxXattrs(pax)) {
    // An empty PAX value means "unset" (the Go tools' reading). A tar names xattrs as
    // users see them: a trusted.overlay.* one is stored escaped, so that no tar can make
    // layer structure, which it must express with whiteout files instead.
    if (value.length === 0) continue;
    out.push([escapeXattr(name, x), value]);
  }
  return out;
}

interface Times {
  atime: bigint;
  mtime: bigint;
}

class Extractor {
  private readonly implicit = new Set<string>();
  private readonly dirTimes = new Map<string, Times>();
  /** dirs of this layer already checked with lstat; only this extractor changes the tree */
  private readonly knownDirs = new Set<string>();
  entries = 0;

  constructor(
    private readonly dest: string,
    private readonly lowers: string[],
    private readonly budget: Budget,
    private readonly consumed: (chunk: Buffer) => void,
    private readonly x: OverlayXattrs,
    private readonly inNamespace: boolean,
  ) {}

  private abs(rel: string): Buffer {
    return bytesPath(this.dest, rel);
  }

  init(): void {
    // the layer root shows through as the merged root: inherit it unless the tar has "./"
    const lower = resolveLower(this.lowers, '', this.x);
    if (lower) this.copyDirMeta(lower.abs, '', lower.st);
  }

  private copyDirMeta(from: Buffer, rel: string, st: fs.BigIntStats): void {
    const to = this.abs(rel);
    sys.lchown(to, Number(st.uid), Number(st.gid));
    fs.chmodSync(to, Number(st.mode) & 0o7777);
    this.copyXattrs(from, to);
    this.dirTimes.set(rel, { atime: st.atimeNs, mtime: st.mtimeNs });
  }

  private copyXattrs(from: Buffer, to: Buffer): void {
    for (const name of sys.llistxattr(from)) {
      if (isInternalXattr(name, this.x)) continue;
      const v = sys.lgetxattr(from, name);
      if (v !== null) sys.lsetxattr(to, name, v);
    }
  }

  /**
   * Makes sure every component of parent is a real directory of this layer, creating
   * missing ones from the lower layers' metadata. For whiteouts, returns false when
   * the whiteout could hide nothing (no lower directory there), instead of creating.
   */
  private ensureParent(parent: string, forWhiteout: boolean, entryName: string): boolean {
    if (parent === '' || this.knownDirs.has(parent)) return true;
    let cur = '';
    for (const c of parent.split('/')) {
      cur = cur ? cur + '/' + c : c;
      if (this.knownDirs.has(cur)) continue;
      const st = lstatOrNull(this.abs(cur));
      if (st) {
        if (st.isDirectory()) {
          this.knownDirs.add(cur);
          continue;
        }
        if (forWhiteout) return false;
        if (st.isSymbolicLink()) throw new LayerError(`entry ${JSON.stringify(entryName)} goes through a symlink in the layer (${JSON.stringify(cur)})`);
        throw new LayerError(`entry ${JSON.stringify(entryName)}: parent ${JSON.stringify(cur)} is not a directory`);
      }
      const lower = resolveLower(this.lowers, cur, this.x);
      const lowerDir = lower && lower.st.isDirectory() ? lower : null;
      if (forWhiteout && !lowerDir) return false;
      fs.mkdirSync(this.abs(cur), 0o755);
      this.knownDirs.add(cur);
      this.implicit.add(cur);
      if (lowerDir) this.copyDirMeta(lowerDir.abs, cur, lowerDir.st);
    }
    return true;
  }

  private removeExisting(rel: string, st: fs.BigIntStats): void {
    if (st.isDirectory()) {
      fs.rmSync(this.abs(rel), { recursive: true, force: true });
      const prefix = rel + '/';
      for (const k of [...this.knownDirs]) if (k === rel || k.startsWith(prefix)) this.knownDirs.delete(k);
      for (const k of [...this.dirTimes.keys()]) if (k === rel || k.startsWith(prefix)) this.dirTimes.delete(k);
      for (const k of [...this.implicit]) if (k === rel || k.startsWith(prefix)) this.implicit.delete(k);
    } else {
      fs.unlinkSync(this.abs(rel));
    }
  }

  private setOpaque(rel: string): void {
    sys.lsetxattr(this.abs(rel), this.x.opaque, Buffer.from('y'));
  }

  async entry(h: Header, stream: Readable): Promise<void> {
    // tar-stream streams nothing for a directory but ends its stream only when the size
    // field says 0: a directory claiming a size would stall the import forever
    if (h.type === 'directory' && h.size !== 0) stream = Readable.from([]);
    this.entries++;
    this.budget.header(h.size, h.type, h.name);
    const { name, sparse } = sparseOf(h.name, h.pax ?? null, h.gnuSparse);

    const rel = normalizeName(name);
    let type: string | null = h.type;
    if (sparse) type = 'file';
    if (type === null) {
      const flag = h.typeflagRaw !== undefined ? String.fromCharCode(h.typeflagRaw) : '?';
      throw new LayerError(`${JSON.stringify(name)}: unsupported tar entry type ${JSON.stringify(flag)}`);
    }
    if (type === 'pax-global-header') return drain(stream);
    if (h.linkname && h.linkname.length > 4095) throw new LayerError(`${JSON.stringify(name)}: link target longer than 4095 bytes`);

    if (rel === '') {
      if (type !== 'directory') throw new LayerError(`root entry ${JSON.stringify(name)} is not a directory`);
      this.applyMeta('', h, 'directory');
      return drain(stream);
    }

    const slash = rel.lastIndexOf('/');
    const parent = slash === -1 ? '' : rel.slice(0, slash);
    const base = slash === -1 ? rel : rel.slice(slash + 1);
    // a whiteout name as a directory would come back from commit/save as a whiteout
    if (parent.split('/').some((c) => c.startsWith('.wh.'))) throw new LayerError(`whiteout name used as a directory in ${JSON.stringify(name)}`);
    if (base.startsWith('.wh.') && type !== 'file' && type !== 'contiguous-file') throw new LayerError(`whiteout ${JSON.stringify(name)} is a ${type}, not an empty file`);

    if (base.startsWith('.wh.')) {
      await drain(stream);
      return this.whiteout(parent, base, name);
    }

    this.ensureParent(parent, false, name);
    const abs = this.abs(rel);
    let existing = lstatOrNull(abs);
    let wasWhiteout = false;
    if (existing) {
      if (type === 'directory' && existing.isDirectory()) {
        this.implicit.delete(rel);
        this.applyMeta(rel, h, 'directory');
        return drain(stream);
      }
      if (type === 'link') {
        const target = normalizeName(h.linkname ?? '');
        if (target === rel) return drain(stream);
      }
      wasWhiteout = isWhiteout(existing);
      this.removeExisting(rel, existing);
      existing = null;
    }

    switch (type) {
      case 'file':
      case 'contiguous-file':
        await this.writeFile(abs, h, stream, sparse);
        this.applyMeta(rel, h, 'file');
        return;
      case 'directory':
        fs.mkdirSync(abs, 0o700);
        // a whiteout and a directory of the same name in one layer: lower content is gone
        if (wasWhiteout) this.setOpaque(rel);
        this.applyMeta(rel, h, 'directory');
        return drain(stream);
      case 'symlink':
        fs.symlinkSync(Buffer.from(h.linkname ?? '', 'latin1'), abs);
        this.applyMeta(rel, h, 'symlink');
        return drain(stream);
      case 'link':
        await drain(stream);
        return this.hardlink(rel, h);
      case 'character-device':
      case 'block-device':
      case 'fifo': {
        const ft = type === 'fifo' ? S_IFIFO : type === 'block-device' ? S_IFBLK : S_IFCHR;
        // only the host's root may make a device node (a 0/0 one would read as a whiteout)
        if (this.inNamespace && type !== 'fifo') return drain(stream);
        sys.mknod(abs, ft | 0o600, h.devmajor ?? 0, h.devminor ?? 0);
        this.applyMeta(rel, h, type);
        return drain(stream);
      }
      default:
        throw new LayerError(`${JSON.stringify(name)}: unsupported tar entry type ${type}`);
    }
  }

  private whiteout(parent: string, base: string, name: string): void {
    if (base === '.wh..wh..opq') {
      if (!this.ensureParent(parent, true, name)) {
        // an opaque marker in a dir no lower layer has: the dir is new, nothing to hide
        this.ensureParent(parent, false, name);
      }
      this.setOpaque(parent);
      return;
    }
    if (base.startsWith('.wh..wh.')) return; // aufs bookkeeping (.wh..wh.plnk etc.), not a whiteout
    const victim = base.slice(4);
    if (victim === '' || victim === '.' || victim === '..') throw new LayerError(`invalid whiteout ${JSON.stringify(name)}`);
    if (!this.ensureParent(parent, true, name)) return; // nothing below could be hidden
    const rel = parent ? parent + '/' + victim : victim;
    const st = lstatOrNull(this.abs(rel));
    if (st) {
      // whiteouts apply to lower layers only; this layer's own entry stays
      if (st.isDirectory()) this.setOpaque(rel);
      return;
    }
    sys.mknod(this.abs(rel), S_IFCHR, 0, 0);
  }

  private hardlink(rel: string, h: Header): void {
    const target = normalizeName(h.linkname ?? '');
    if (target === '') throw new LayerError(`hard link ${JSON.stringify(h.name)} has no target`);
    const tslash = target.lastIndexOf('/');
    const tparent = tslash === -1 ? '' : target.slice(0, tslash);
    // the target's parents must be real dirs of this layer: never link through a symlink
    let cur = '';
    let inLayer = true;
    for (const c of tparent === '' ? [] : tparent.split('/')) {
      cur = cur ? cur + '/' + c : c;
      const st = lstatOrNull(this.abs(cur));
      if (!st) {
        inLayer = false;
        break;
      }
      if (!st.isDirectory()) throw new LayerError(`hard link ${JSON.stringify(h.name)}: target ${JSON.stringify(h.linkname)} goes through a non-directory`);
    }
    let tst = inLayer ? lstatOrNull(this.abs(target)) : null;
    if (tst && (tst.isDirectory() || isWhiteout(tst))) throw new LayerError(`hard link ${JSON.stringify(h.name)}: target ${JSON.stringify(h.linkname)} is not a file`);
    if (!tst) {
      // a link to a file of a lower layer: copy that file up so both names share an inode
      const lower = resolveLower(this.lowers, target, this.x);
      if (!lower || lower.st.isDirectory()) throw new LayerError(`hard link ${JSON.stringify(h.name)}: target ${JSON.stringify(h.linkname)} is not in the layer or below it`);
      this.ensureParent(tparent, false, h.linkname ?? '');
      this.copyUp(lower.abs, lower.st, target);
      tst = lower.st;
    }
    fs.linkSync(this.abs(target), this.abs(rel));
  }

  private copyUp(from: Buffer, st: fs.BigIntStats, rel: string): void {
    const to = this.abs(rel);
    if (st.isFile()) fs.copyFileSync(from, to, fs.constants.COPYFILE_EXCL);
    else if (st.isSymbolicLink()) fs.symlinkSync(fs.readlinkSync(from, { encoding: 'buffer' }), to);
    else sys.mknod(to, Number(st.mode) & 0o170000, sys.devMajor(Number(st.rdev)), sys.devMinor(Number(st.rdev)));
    sys.lchown(to, Number(st.uid), Number(st.gid));
    if (!st.isSymbolicLink()) fs.chmodSync(to, Number(st.mode) & 0o7777);
    this.copyXattrs(from, to);
    sys.setTimesNs(to, st.atimeNs, st.mtimeNs);
  }

  private async writeFile(abs: Buffer, h: Header, stream: Readable, sparse: SparseFile | null): Promise<void> {
    const fd = fs.openSync(abs, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
    try {
      const w = new HoleWriter(fd);
      if (!sparse) {
        for await (const chunk of stream) {
          w.write(chunk as Buffer);
          // written synchronously, and tar-stream hands out data in stream order, holding
          // only what comes after it (sparse data is not reported: ChunkReader keeps tails)
          this.consumed(chunk as Buffer);
        }
        fs.ftruncateSync(fd, w.pos);
        return;
      }
      await writeSparseData(stream, w, sparse, h.name);
      fs.ftruncateSync(fd, sparse.realSize);
    } finally {
      fs.closeSync(fd);
    }
  }

  private applyMeta(rel: string, h: Header, type: string): void {
    const abs = this.abs(rel);
    const pax = h.pax ?? null;
    const id = (paxV: string | undefined, hv: number | undefined, what: string): number => {
      const v = paxV !== undefined ? paxId(paxV) : hv ?? 0;
      if (!Number.isSafeInteger(v) || v < 0 || v > MAX_ID) throw new LayerError(`${JSON.stringify(h.name)}: ${what} ${JSON.stringify(paxV ?? String(hv))} is out of range`);
      return v;
    };
    const uid = id(pax?.uid, h.uid, 'uid');
    const gid = id(pax?.gid, h.gid, 'gid');
    // chown clears setuid/setgid and capabilities, so it goes first
    try {
      sys.lchown(abs, uid, gid);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // a user namespace refuses an ID it does not map with EINVAL
      if (this.inNamespace && code === 'EINVAL') throw new Error(`${JSON.stringify(h.name)} belongs to ${uid}:${gid} in the layer, outside the IDs your user namespace maps: give your user a larger range in /etc/subuid and /etc/subgid (at least ${Math.max(uid, gid)} IDs), or load as root`);
      if (code !== 'EPERM' || process.geteuid?.() === 0) throw e;
      throw new Error(`${JSON.stringify(h.name)} belongs to ${uid}:${gid} in the layer, which only root can give it here: load as root or through strata, which unpacks in a user namespace with your subordinate IDs`);
    }
    if (type !== 'symlink') fs.chmodSync(abs, (h.mode ?? 0o644) & 0o7777);
    for (const [name, value] of headerXattrs(pax, this.x)) {
      try {
        sys.lsetxattr(abs, name, value);
      } catch (e) {
        // user.* xattrs cannot exist on symlinks or devices; the kernel says EPERM
        if (type !== 'file' && type !== 'directory' && (e as NodeJS.ErrnoException).code === 'EPERM') continue;
        if (this.inNamespace && (e as NodeJS.ErrnoException).code === 'EPERM') throw new Error(`${JSON.stringify(h.name)} carries the xattr ${name}, which only the host's root may set: load this image as root`);
        throw e;
      }
    }
    const hm = h.mtime ? h.mtime.getTime() : 0;
    const mtime = paxTimeNs(pax?.mtime) ?? BigInt(Number.isFinite(hm) ? hm : 0) * 1_000_000n;
    const atime = paxTimeNs(pax?.atime) ?? mtime;
    for (const t of [mtime, atime]) if (t > MAX_TIME_NS || t < -MAX_TIME_NS) throw new LayerError(`${JSON.stringify(h.name)}: timestamp ${t / 1_000_000_000n} s is out of range`);
    if (type === 'directory') this.dirTimes.set(rel, { atime, mtime });
    else sys.setTimesNs(abs, atime, mtime);
  }

  /** Directory mtimes last, deepest first: creating entries inside changed them. */
  finish(): void {
    const dirs = [...this.dirTimes.entries()];
    const depth = (p: string) => (p === '' ? 0 : p.split('/').length);
    dirs.sort((a, b) => depth(b[0]) - depth(a[0]));
    for (const [rel, t] of dirs) {
      const st = lstatOrNull(this.abs(rel));
      if (st && st.isDirectory()) sys.setTimesNs(this.abs(rel), t.atime, t.mtime);
    }
  }
}

/** Writes sequential data, leaving whole zero blocks as holes. */
class HoleWriter {
  pos = 0;
  constructor(private readonly fd: number) {}
  write(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length) {
      const inBlock = this.pos % BLOCK;
      const n = Math.min(BLOCK - inBlock, chunk.length - i);
      if (inBlock === 0 && n === BLOCK && chunk.compare(ZERO_BLOCK, 0, BLOCK, i, i + BLOCK) === 0) {
        i += n;
        this.pos += n;
        continue;
      }
      // gather a run of data up to the next all-zero aligned block
      let j = i + n;
      let p = this.pos + n;
      while (j < chunk.length) {
        const m = Math.min(BLOCK, chunk.length - j);
        if (m === BLOCK && chunk.compare(ZERO_BLOCK, 0, BLOCK, j, j + BLOCK) === 0) break;
        j += m;
        p += m;
      }
      let off = i;
      while (off < j) off += fs.writeSync(this.fd, chunk, off, j - off, this.pos + (off - i));
      this.pos = p;
      i = j;
    }
  }
}

async function drain(stream: Readable): Promise<void> {
  for await (const _ of stream) {
    /* discard */
  }
}

/**
 * Extracts a tar stream into dest (an empty directory). Throws LayerError on bad or
 * hostile input; the caller owns dest and removes it on failure.
 */
export async function extractLayer(input: Readable, dest: string, opts: ExtractOptions): Promise<ExtractStats> {
  const budget = new Budget(opts.maxFileBytes ?? availableBytes(dest));
  const ex = new Extractor(dest, opts.lowers, budget, opts.consumed ?? (() => undefined), opts.xattrs ?? TRUSTED_XATTRS, !!opts.userNamespace);
  ex.init();
  const tx = byteExtract();
  const guard = new BombGuard(budget);
  let inputErr: Error | null = null;
  const fail = (e: Error) => {
    inputErr ??= e;
    tx.destroy(e);
  };
  input.on('error', fail);
  guard.on('error', fail);
  input.pipe(guard).pipe(tx);
  try {
    for await (const entry of tx as unknown as AsyncIterable<Readable & { header: Header }>) {
      await ex.entry(entry.header, entry);
    }
  } catch (e) {
    input.unpipe(guard);
    guard.unpipe(tx);
    input.destroy();
    throw inputErr ?? e;
  }
  if (inputErr) throw inputErr;
  ex.finish();
  return { entries: ex.entries };
}
