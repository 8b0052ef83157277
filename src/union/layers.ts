// The layer stack on disk: where each layer is, its root directory held open (every
// object below it is named relative to a directory descriptor), and the work dir.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AT_FDCWD, native } from '../native';
import { fail } from './errors';
import { MOUNT_PROGRAM_FLAG_FILE, OverlayXattrs, TRUSTED_XATTRS, USER_XATTRS } from './format';
import { Loc } from './node';
import { errnoName, statAt } from './real';

function openRoot(dir: string): number {
  const fd = native.openDirAt(AT_FDCWD, Buffer.from(dir));
  if (fd < 0) fail(errnoName(fd), `opening ${dir}`);
  return fd;
}

/** A read-only, noatime detached mount of the tree at fd (see Native.openTreeNoatime), or
 *  -1 where this process may not make one (no CAP_SYS_ADMIN, a kernel before 5.12). */
function noatimeTree(fd: number): number {
  try {
    return native.openTreeNoatime(fd);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EPERM' || code === 'ENOSYS' || code === 'EINVAL' || code === 'EACCES') return -1;
    throw e;
  }
}

export class Layer {
  /** the real path (a symlinked layer dir is fine as an option; nothing below it is
   *  ever reached through a symlink) */
  readonly dir: string;
  /** A lower layer's root is on a detached read-only, noatime copy of its mount where one
   *  could be made: every object below it is reached through that mount, so nothing can
   *  write a lower file or move its atime, not even the kernel's passthrough reads, which
   *  open the backing file on our descriptor's path with the reader's flags. */
  readonly rootFd: number;
  /** the detached mount's root (O_PATH; its lifetime), -1 without one */
  private readonly treeFd: number = -1;
  /** the layer root, for lower layers' Locs */
  readonly rootLoc: Loc;
  /** index among the distinct filesystems of the stack, for unique inode numbers */
  fsIndex = 0;
  readonly dev: number;
  /** a lower layer whose whiteouts are AUFS's .wh. files (see format.ts) */
  readonly aufs: boolean;

  constructor(dir: string, readonly index: number, readOnlyMount = false, aufs?: boolean) {
    this.dir = fs.realpathSync(dir);
    let fd = openRoot(this.dir);
    if (readOnlyMount) {
      this.treeFd = noatimeTree(fd);
      if (this.treeFd >= 0) {
        fs.closeSync(fd);
        fd = native.openDirAt(this.treeFd, '.');
        if (fd < 0) fail(errnoName(fd), `opening ${this.dir}`);
      }
    }
    this.rootFd = fd;
    this.rootLoc = new Loc(index, null, '');
    this.dev = statAt(this.rootFd, '').dev;
    this.aufs = index > 0 && (aufs ?? keptByMountProgramStore(this.dir));
  }

  /** Files opened below rootFd can be handed to the kernel for passthrough reads. */
  get noatimeMount(): boolean {
    return this.treeFd >= 0;
  }

  close(): void {
    fs.closeSync(this.rootFd);
    if (this.treeFd >= 0) fs.closeSync(this.treeFd);
  }
}

/** Is dir a layer of a containers-storage overlay store that mounts through a program
 *  (ROOT/ID/diff, ROOT holding the driver's flag file)? Its layers were unpacked with
 *  AUFS whiteouts. */
export function keptByMountProgramStore(dir: string): boolean {
  if (path.basename(dir) !== 'diff') return false;
  try {
    return fs.statSync(path.join(dir, '..', '..', MOUNT_PROGRAM_FLAG_FILE)).isFile();
  } catch {
    return false;
  }
}

export interface StackConfig {
  /** topmost first, as in lowerdir= */
  lowers: string[];
  upper?: string;
  work?: string;
  /** overlayfs's volatile: nothing is synced to the upper layer (see prepareWorkDir) */
  volatile?: boolean;
  /** nothing is synced either, without volatile's marker (fuse-overlayfs's fsync=0) */
  noSync?: boolean;
  /** read AUFS whiteouts in every lower layer (default: in those of a mount-program store) */
  aufsWhiteouts?: boolean;
  /** the union's own xattrs are user.overlay.* (overlayfs's userxattr), not trusted.overlay.* */
  userxattr?: boolean;
}

export class LayerStack {
  /** [0] is the upper layer (null when read-only); [1..] the lowers, topmost first */
  readonly layers: (Layer | null)[];
  readonly upper: Layer | null;
  readonly lowers: Layer[];
  /** W/work: where copy-ups and removals are prepared */
  readonly workDir: string | null;
  /** the names of the union's own xattrs in these layers */
  readonly xattrs: OverlayXattrs;
  /** a moved merged directory keeps merging through a redirect xattr, and redirects are
   *  followed: not with userxattr, where overlayfs allows neither (anyone may write
   *  user.overlay.redirect), so such a rename is EXDEV and userspace copies */
  readonly redirects: boolean;
  private workFdOpen = -1;
  private tmpSeq = 0;
  private readonly singleFs: boolean;
  /** syncs nothing (volatile or noSync) */
  readonly volatile: boolean;

  constructor(cfg: StackConfig) {
    this.volatile = !!((cfg.volatile || cfg.noSync) && cfg.upper);
    this.upper = cfg.upper ? new Layer(cfg.upper, 0) : null;
    this.lowers = cfg.lowers.map((d, i) => new Layer(d, i + 1, true, cfg.aufsWhiteouts));
    this.layers = [this.upper, ...this.lowers];
    const devs: number[] = [];
    for (const l of [this.upper, ...this.lowers]) {
      if (!l) continue;
      let i = devs.indexOf(l.dev);
      if (i < 0) i = devs.push(l.dev) - 1;
      l.fsIndex = i;
    }
    this.singleFs = devs.length === 1;
    this.workDir = cfg.work ? cfg.work + '/work' : null;
    this.xattrs = cfg.userxattr ? USER_XATTRS : TRUSTED_XATTRS;
    this.redirects = !cfg.userxattr;
  }

  lower(index: number): Layer {
    return this.layers[index] as Layer;
  }

  /** The work dir, opened at first use. */
  workFd(): number {
    if (this.workFdOpen < 0) {
      if (!this.workDir) fail('EROFS');
      this.workFdOpen = openRoot(this.workDir);
    }
    return this.workFdOpen;
  }

  /** A fresh name in the work dir. */
  tmpName(): string {
    return `#${process.pid.toString(16)}.${(++this.tmpSeq).toString(16)}`;
  }

  /** Remove a leftover of ours from the work dir (whatever it holds). */
  removeTmp(tmp: string): void {
    fs.rmSync(this.workDir + '/' + tmp, { recursive: true, force: true });
  }

  /** st_ino for a real object: the real number where every layer shares one filesystem,
   *  else the filesystem's index in the high bits (as overlayfs's xino does). */
  inodeNumber(layer: Layer, realIno: number): number {
    if (this.singleFs) return realIno;
    return layer.fsIndex * 2 ** 48 + (realIno % 2 ** 48);
  }

  close(): void {
    for (const l of this.layers) if (l) l.close();
    if (this.workFdOpen >= 0) fs.closeSync(this.workFdOpen);
    this.workFdOpen = -1;
  }

  /** Empties W/work for a new mount. As overlayfs, refuses a work dir whose
   *  work/incompat/ names a feature (a volatile mount's marker: its upper layer may be
   *  half written after a crash; whoever knows it is whole removes the marker). A
   *  volatile mount leaves that marker, work/incompat/volatile/dirty, from now on. */
  static prepareWorkDir(work: string, volatile = false): void {
    const w = work + '/work';
    let features: string[] = [];
    try {
      features = fs.readdirSync(w + '/incompat');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw e;
    }
    if (features.length) {
      fail('EINVAL', `workdir ${work}: overlay with incompat feature '${features[0]}' cannot be mounted` +
        ` (the upper layer of a volatile mount may be incomplete; remove ${w}/incompat/${features[0]} if it is not)`);
    }
    // Leftovers of an interrupted copy-up or delete live here and are garbage.
    fs.rmSync(w, { recursive: true, force: true });
    fs.mkdirSync(w, { mode: 0o700 });
    if (volatile) {
      fs.mkdirSync(w + '/incompat/volatile', { recursive: true, mode: 0o700 });
      fs.closeSync(fs.openSync(w + '/incompat/volatile/dirty', 'wx', 0o600));
    }
  }
}
