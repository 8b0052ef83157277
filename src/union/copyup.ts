// Copy-up: a lower object gets an upper copy before anything changes it, parents first,
// each made in the work dir and renamed into place, so that a crash leaves either no
// copy or a whole one (the data is fsync'd before the rename).
import * as fs from 'node:fs';
import { native } from '../native';
import type { DirFds } from './dirfds';
import type { OverlayXattrs } from './format';
import { fail } from './errors';
import type { Inodes } from './inodes';
import type { LayerStack } from './layers';
import type { Node } from './node';
import { fstat, openLowerAt, RealStat, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, statAt } from './real';
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
      const link = n.links[0];
      if (!link) fail('ESTALE', 'cannot copy up a removed file');
      chain.push(n);
      n = link.parent;
    }
    for (let i = chain.length - 1; i >= 0; i--) this.copyUpOne(chain[i]!, i > 0 || withData);
  }

  private copyUpOne(node: Node, withData: boolean): void {
    const link = node.links[0]!;
    const loc = node.lowers[0]!;
    const srcDir = this.fds.lowerParent(loc);
    const st = statAt(srcDir, loc.name);
    const parentFd = this.fds.upper(link.parent);
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
            if (withData) native.copySparse(fin, fout, st.size);
            // data first, then the name: after a crash the name shows the whole file or none
            fs.fsyncSync(fout);
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
      native.renameAt2(work, tmp, parentFd, link.name, 0);
    } catch (e) {
      this.stack.removeTmp(tmp);
      throw e;
    }
    // a copy-up is not a change of the parent: keep its times
    native.utimensAt(parentFd, '', pst.atime, pst.atimeNs, pst.mtime, pst.mtimeNs);
    const ust = statAt(parentFd, link.name);
    this.inodes.copiedUp(node, this.stack.inodeNumber(this.stack.upper!, ust.ino));
    // a directory now merged with its lower one counts its links as overlayfs does (1),
    // often while copying up a child, with no request about the directory itself
    if (node.isDir && node.lowers.length) this.onMerged(node);
  }
}

/** Owner, mode, xattrs and times of a lower object onto its copy, in the order that keeps
 *  each: chown clears setuid and capabilities, so it goes first; times go last. */
function copyMetadata(srcDir: number, src: string, dstDir: number, dst: string, st: RealStat, x: OverlayXattrs): void {
  native.chownAt(dstDir, dst, st.uid, st.gid);
  if ((st.mode & S_IFMT) !== S_IFLNK) native.chmodAt(dstDir, dst, st.mode & 0o7777);
  copyXattrs(srcDir, src, dstDir, dst, x);
  native.utimensAt(dstDir, dst, st.atime, st.atimeNs, st.mtime, st.mtimeNs);
}
