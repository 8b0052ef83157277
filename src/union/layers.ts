// The layer stack on disk: where each layer is, how a real object is named and stat'ed,
// and how overlayfs marks whiteouts, opaque and redirected directories.
import * as fs from 'node:fs';
import { isOpaqueValue, OPAQUE_XATTR, OVERLAY_PREFIX, REDIRECT_XATTR } from './format';
import { AT_FDCWD, native, STAT_ATIME, STAT_ATIME_NS, STAT_BLOCKS, STAT_CTIME, STAT_CTIME_NS, STAT_DEV, STAT_GID, STAT_INO_HI, STAT_INO_LO, STAT_MODE, STAT_MTIME, STAT_MTIME_NS, STAT_NLINK, STAT_RDEV, STAT_SIZE, STAT_UID } from '../native';

export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const S_IFCHR = 0o020000;


/** A real object's stat, as plain numbers. */
export interface RealStat {
  dev: number;
  ino: number;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: number;
  size: number;
  blocks: number;
  atime: number;
  atimeNs: number;
  mtime: number;
  mtimeNs: number;
  ctime: number;
  ctimeNs: number;
}

const statBuf = new Float64Array(16);

function unpack(o: Float64Array): RealStat {
  return {
    ino: o[STAT_INO_LO]! + o[STAT_INO_HI]! * 4294967296,
    dev: o[STAT_DEV]!,
    mode: o[STAT_MODE]!,
    nlink: o[STAT_NLINK]!,
    uid: o[STAT_UID]!,
    gid: o[STAT_GID]!,
    rdev: o[STAT_RDEV]!,
    size: o[STAT_SIZE]!,
    blocks: o[STAT_BLOCKS]!,
    atime: o[STAT_ATIME]!,
    atimeNs: o[STAT_ATIME_NS]!,
    mtime: o[STAT_MTIME]!,
    mtimeNs: o[STAT_MTIME_NS]!,
    ctime: o[STAT_CTIME]!,
    ctimeNs: o[STAT_CTIME_NS]!,
  };
}

const ERRNO_NAMES: Record<number, string> = {};
for (const [name, no] of Object.entries(require('node:os').constants.errno as Record<string, number>)) {
  if (!(no in ERRNO_NAMES)) ERRNO_NAMES[no] = name;
}

export function errnoName(negErrno: number): string {
  return ERRNO_NAMES[-negErrno] ?? 'EIO';
}

/** lstat that answers null for "not there" (ENOENT, ENOTDIR) and throws other errors. */
export function lstatOrNull(p: Buffer): RealStat | null {
  const r = native.statAt(AT_FDCWD, p, statBuf);
  if (r === 0) return unpack(statBuf);
  if (r === -2 || r === -20) return null;
  const e = new Error(`lstat: ${errnoName(r)}`) as Error & { code: string };
  e.code = errnoName(r);
  throw e;
}

export function lstatReal(p: Buffer): RealStat {
  const st = lstatOrNull(p);
  if (!st) {
    const e = new Error('lstat: ENOENT') as Error & { code: string };
    e.code = 'ENOENT';
    throw e;
  }
  return st;
}

export function fstatReal(fd: number): RealStat {
  const r = native.statAt(fd, '', statBuf);
  if (r !== 0) {
    const e = new Error(`fstat: ${errnoName(r)}`) as Error & { code: string };
    e.code = errnoName(r);
    throw e;
  }
  return unpack(statBuf);
}

export function isDir(st: RealStat): boolean {
  return (st.mode & S_IFMT) === S_IFDIR;
}

export function isOpaque(p: Buffer): boolean {
  return isOpaqueValue(native.getxattrAt(AT_FDCWD, p, OPAQUE_XATTR));
}

/** A directory's overlay marks, in one syscall when it has none (most directories). */
export function dirMarks(p: Buffer): { opaque: boolean; redirect: { absolute: boolean; path: string } | null } {
  const names = native.listxattrAt(AT_FDCWD, p);
  if (names.indexOf(OVERLAY_PREFIX, 0, 'latin1') < 0) return NO_MARKS;
  return { opaque: isOpaque(p), redirect: readRedirect(p) };
}
const NO_MARKS = { opaque: false, redirect: null };

/** The redirect of a renamed directory: absolute ("/a/b" -> "a/b", from the layer root) or a name. */
export function readRedirect(p: Buffer): { absolute: boolean; path: string } | null {
  const v = native.getxattrAt(AT_FDCWD, p, REDIRECT_XATTR);
  if (!v || v.length === 0) return null;
  if (v[0] === 0x2f) return { absolute: true, path: v.subarray(1).toString('latin1') };
  return { absolute: false, path: v.toString('latin1') };
}

/** Paths inside a layer are kept as latin1 strings (one char per byte: names are bytes,
 *  and strings cost far less memory than Buffers); they become Buffers at the syscall. */
export function joinRel(dir: string, name: string): string {
  return dir.length === 0 ? name : dir + '/' + name;
}

export function join(a: Buffer, name: Buffer): Buffer {
  if (a.length === 0) return name;
  return Buffer.concat([a, SLASH, name]);
}

export const SLASH = Buffer.from('/');

export class Layer {
  readonly dir: string;
  readonly root: Buffer;
  private readonly rootRel: string;
  /** index among the distinct filesystems of the stack, for unique inode numbers */
  fsIndex = 0;
  readonly dev: number;

  constructor(dir: string, readonly index: number) {
    // A symlinked layer dir is fine as an option, but every path strata makes below it is
    // opened without following symlinks: resolve it once here.
    this.dir = fs.realpathSync(dir);
    this.root = Buffer.from(this.dir);
    this.rootRel = this.root.toString('latin1');
    this.dev = lstatReal(this.root).dev;
  }

  real(rel: string): Buffer {
    if (rel.length === 0) return this.root;
    return Buffer.from(this.rootRel + '/' + rel, 'latin1');
  }
}

export interface StackConfig {
  /** topmost first, as in lowerdir= */
  lowers: string[];
  upper?: string;
  work?: string;
}

export class LayerStack {
  /** [0] is the upper layer (null when read-only); [1..] the lowers, topmost first */
  readonly layers: (Layer | null)[];
  readonly upper: Layer | null;
  readonly lowers: Layer[];
  readonly workDir: Buffer | null;
  private readonly singleFs: boolean;

  constructor(cfg: StackConfig) {
    this.upper = cfg.upper ? new Layer(cfg.upper, 0) : null;
    this.lowers = cfg.lowers.map((d, i) => new Layer(d, i + 1));
    this.layers = [this.upper, ...this.lowers];
    const devs: number[] = [];
    for (const l of [this.upper, ...this.lowers]) {
      if (!l) continue;
      let i = devs.indexOf(l.dev);
      if (i < 0) i = devs.push(l.dev) - 1;
      l.fsIndex = i;
    }
    this.singleFs = devs.length === 1;
    this.workDir = cfg.work ? Buffer.from(cfg.work + '/work') : null;
  }

  lower(index: number): Layer {
    return this.layers[index] as Layer;
  }

  /** st_ino for a real object: the real number where every layer shares one filesystem,
   *  else the filesystem's index in the high bits (as overlayfs's xino does). */
  inodeNumber(layer: Layer, realIno: number): number {
    if (this.singleFs) return realIno;
    return layer.fsIndex * 2 ** 48 + (realIno % 2 ** 48);
  }

  static prepareWorkDir(work: string): void {
    // Leftovers of an interrupted copy-up or delete live here and are garbage.
    const w = work + '/work';
    fs.rmSync(w, { recursive: true, force: true });
    fs.mkdirSync(w, { mode: 0o700 });
  }
}
