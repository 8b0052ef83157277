// Copy-up: a lower object gets an upper copy before anything changes it, parents first,
// each made in the work dir and renamed into place, so that a crash leaves either no
// copy or a whole one (the data is fsync'd before the rename, except on a volatile mount).
// The data is cloned (FICLONE) where upper and lower share a filesystem with reflinks.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { native } from '../native';
import type { DirFds } from './dirfds';
import type { OverlayXattrs } from './format';
import { fail } from './errors';
import type { Inodes } from './inodes';
import type { LayerStack } from './layers';
import type { Node } from './node';
import { errnoName, fstat, openLowerAt, RealStat, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, statAt } from './real';
import { copyXattrs } from './xattr';

const { O_RDONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_WRONLY } = fs.constants;

export class CopyUp {
  /** told of a directory that now merges an upper and a lower directory */
  onMerged: (node: Node) => void = () => {};

  constructor(private readonly stack: LayerStack, private readonly fds: DirFds, private readonly inodes: Inodes) {}

  /** Give a lower object an upper copy, parents first (top down, however deep). */
  copyUp(node: Node, withData = true): void {
    if (node.upper) return;
    if (!this.stack.upper) fail('EROFS');
    const chain: Node[] = [];
    for (let n: Node = node; !n.upper;) {
      const parent = n.parent;
      if (!parent) fail('ESTALE', 'cannot copy up a removed file');
      chain.push(n);
      n = parent;
    }
    for (let i = chain.length - 1; i >= 0; i--) this.copyUpOne(chain[i]!, i > 0 || withData);
  }

  private copyUpOne(node: Node, withData: boolean): void {
    const loc = node.topLower!;
    const srcDir = this.fds.lowerParent(loc);
    const st = statAt(srcDir, loc.name);
    const parentFd = this.fds.upper(node.parent!);
    const pst = fstat(parentFd);
    const work = this.stack.workFd();
    const tmp = this.stack.tmpName();
    const type = st.mode & S_IFMT;
    try {
      if (type === S_IFDIR) {
        native.mkdirAt(work, tmp, 0o700);
      } else if (type === S_IFREG) {
        const fin = openLowerAt(srcDir, loc.name, O_RDONLY | O_NOFOLLOW);
        try {
          const fout = native.openAt(work, tmp, O_WRONLY | O_CREAT | O_EXCL, 0o600);
          try {
            if (withData) copyData(fin, fout, st.size);
            // data first, then the name: after a crash the name shows the whole file or none
            // (a volatile mount promises nothing after a crash, and its work dir says so)
            if (!this.stack.volatile) fs.fsyncSync(fout);
          } finally {
            fs.closeSync(fout);
          }
        } finally {
          fs.closeSync(fin);
        }
      } else if (type === S_IFLNK) {
        native.symlinkAt(native.readlinkAt(srcDir, loc.name), work, tmp);
      } else {
        native.mknodAt(work, tmp, st.mode, st.rdev);
      }
      copyMetadata(srcDir, loc.name, work, tmp, st, this.stack.xattrs);
      native.renameAt2(work, tmp, parentFd, node.name, 0);
    } catch (e) {
      this.stack.removeTmp(tmp);
      throw e;
    }
    // a copy-up is not a change of the parent: keep its times
    native.utimensAt(parentFd, '', pst.atime, pst.atimeNs, pst.mtime, pst.mtimeNs);
    const ust = statAt(parentFd, node.name);
    this.inodes.copiedUp(node, this.stack.inodeNumber(this.stack.upper!, ust.ino));
    // a directory now merged with its lower one counts its links as overlayfs does (1),
    // often while copying up a child, with no request about the directory itself
    if (node.isDir && node.lowers.length) this.onMerged(node);
  }
}

/** Errors of FICLONE that mean "not here": another filesystem, one without reflinks, or
 *  a file it cannot clone (or a clone cut short by a signal); the data is then copied. */
const NO_CLONE = new Set([-os.constants.errno.EXDEV, -os.constants.errno.EOPNOTSUPP, -os.constants.errno.EINVAL,
  -os.constants.errno.ENOTTY, -os.constants.errno.ENOSYS, -os.constants.errno.EINTR]);

/** The data of fin into the empty fout: shared extents where upper and lower are one
 *  filesystem with reflinks (btrfs, XFS), else a copy that keeps holes. */
function copyData(fin: number, fout: number, size: number): void {
  if (size > 0) {
    const r = native.cloneFile(fin, fout);
    if (r === 0) return;
    if (!NO_CLONE.has(r)) fail(errnoName(r), 'copy-up (FICLONE)');
  }
  native.copySparse(fin, fout, size);
}

/** Owner, mode, xattrs and times of a lower object onto its copy, in the order that keeps
 *  each: chown clears setuid and capabilities, so it goes first; times go last. */
function copyMetadata(srcDir: number, src: string, dstDir: number, dst: string, st: RealStat, x: OverlayXattrs): void {
  native.chownAt(dstDir, dst, st.uid, st.gid);
  if ((st.mode & S_IFMT) !== S_IFLNK) native.chmodAt(dstDir, dst, st.mode & 0o7777);
  copyXattrs(srcDir, src, dstDir, dst, x);
  native.utimensAt(dstDir, dst, st.atime, st.atimeNs, st.mtime, st.mtimeNs);
}
