// Union semantics over a LayerStack, with overlayfs's on-disk format: lookup through the
// layers, merged directories, whiteouts, opaque and redirected directories, copy-up,
// rename and hard links. Serves inode-number based requests; knows nothing of the wire.
//
// Every real object is named relative to its parent directory's descriptor (DirFds):
// an upper object by its node's parent and name (the merged tree is the upper tree), a
// lower one by its Loc. No path longer than one name is ever built.
import * as fs from 'node:fs';
import type { Attr, Caller, DirEntry, Entry, FileSystem, Opened, SetAttr, StatFs } from '../fuse/types';
import { AT_REMOVEDIR, native, RENAME_EXCHANGE, RENAME_NOREPLACE, RENAME_WHITEOUT, UTIME_OMIT } from '../native';
import { DirFds, dirFdBudget } from './dirfds';
import { fail } from './errors';
import {
  escapeXattr, isInternalXattr, isOpaqueValue, isWhiteout, OPAQUE_XATTR, OVERLAY_PREFIX, parseRedirect, Redirect,
  REDIRECT_MAX, REDIRECT_XATTR, unescapeXattr,
} from './format';
import { LayerStack } from './layers';
import { Loc, locPath, Node, Resolved, nameKey, sameLoc } from './node';
import { errnoName, fstat, isDir, RealStat, S_IFCHR, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, statAt, statOrNull } from './real';

const O_ACCMODE = 3;
const { O_RDONLY, O_CREAT, O_EXCL, O_NOCTTY, O_NOFOLLOW, O_TRUNC, O_WRONLY, O_NOATIME, O_NONBLOCK } = fs.constants;
const DT_UNKNOWN = 0;
const DT_CHR = 2;
const NAME_MAX = 255;
const ROOT_ID = 1;
const ENOENT = -2;
const ENOTDIR = -20;
const ELOOP = -40;
const Y = Buffer.from('y');
/** shared by every node that merges no lower object; frozen, so a push would throw */
const NO_LOWERS = Object.freeze([]) as unknown as Loc[];

interface Handle {
  node: Node;
  fd: number;
  writable: boolean;
  lower: boolean;
}

interface DirHandle {
  node: Node;
  entries: DirEntry[] | null;
}

interface Marks {
  opaque: boolean;
  redirect: Redirect | null;
  /** a redirect that could lead out of the layer: the lookup ends in this layer */
  refused: boolean;
}
const NO_MARKS: Marks = { opaque: false, redirect: null, refused: false };

export interface UnionOptions {
  /** directory descriptors kept open (see DirFds); default for a 1024-descriptor limit */
  maxDirFds?: number;
}

export class UnionFs implements FileSystem {
  private readonly nodes = new Map<number, Node>();
  /** hard-linked non-directories by the identity of their real object: one node for all names */
  private readonly byKey = new Map<number, Node>();
  /** st_ino an object had before this mount copied it up, by its upper identity */
  private readonly originIno = new Map<number, number>();
  private readonly handles = new Map<number, Handle>();
  private readonly dirHandles = new Map<number, DirHandle>();
  /** listings being read without a handle (see readdir), until read to the end */
  private readonly listings = new Map<Node, DirEntry[]>();
  private readonly fds: DirFds;
  private nextId = ROOT_ID + 1;
  private nextFh = 1;
  private tmpSeq = 0;
  private destroyed = false;
  onStaleAttrs?: (nodeid: number) => void;
  /** nodes forgotten so far: a hint for when returning memory is worth a collection */
  dropped = 0;
  readonly root: Node;

  constructor(readonly stack: LayerStack, opts: UnionOptions = {}) {
    this.fds = new DirFds(stack, opts.maxDirFds ?? dirFdBudget(1024));
    const lowers: Loc[] = [];
    const upper = stack.upper;
    if (!(upper && isOpaqueAt(upper.rootFd, ''))) {
      for (const l of stack.lowers) {
        lowers.push(l.rootLoc);
        if (isOpaqueAt(l.rootFd, '')) break;
      }
    }
    const top = upper ?? stack.lowers[0]!;
    const ino = stack.inodeNumber(top, statAt(top.rootFd, '').ino);
    this.root = new Node(ROOT_ID, ino, S_IFDIR, upper !== null, lowers);
    this.root.key = ino;
    this.root.nlookup = 1;
    this.nodes.set(ROOT_ID, this.root);
  }

  // ---------- where a node's real objects are ----------

  /** The directory holding a node's upper object. */
  private upperDir(node: Node): number {
    const l = node.links[0];
    if (l) return this.fds.upper(l.parent);
    if (node === this.root) return this.stack.upper!.rootFd;
    fail('ESTALE', 'node has no name');
  }

  /** Its name there ('' for the root: the directory itself). */
  private upperName(node: Node): string {
    const l = node.links[0];
    return l ? l.name : '';
  }

  /** The directory holding the real object a node shows: its upper copy, else its topmost lower one. */
  private topDir(node: Node): number {
    if (node.upper) return this.upperDir(node);
    const loc = node.lowers[0];
    if (!loc) fail('ESTALE');
    return this.fds.lowerParent(loc);
  }

  private topName(node: Node): string {
    return node.upper ? this.upperName(node) : node.lowers[0]!.name;
  }

  private tmpName(): string {
    return `#${process.pid.toString(16)}.${(++this.tmpSeq).toString(16)}`;
  }

  /** Remove a leftover of ours from the work dir (whatever it holds). */
  private removeTmp(tmp: string): void {
    fs.rmSync(this.stack.workDir + '/' + tmp, { recursive: true, force: true });
  }

  // ---------- lookup ----------

  /** Find `name` in `dir` through the layers, as overlayfs's lookup does: one fstatat per
   *  layer (and one listxattr per directory found), relative to the parent's descriptor. */
  private resolveChild(dir: Node, name: string): Resolved | null {
    checkName(name);
    let st: RealStat | null = null;
    let layer = -1;
    let upper = false;
    const lowers: Loc[] = [];
    let absolute: string[] | null = null; // redirect from a layer root, for the layers below
    let relName = name; // redirect to another name in the same parent
    if (dir.upper && this.stack.upper) {
      const fd = this.fds.upper(dir);
      const s = statOrNull(fd, name);
      if (s) {
        if (isWhiteout(s)) return null;
        st = s;
        layer = 0;
        upper = true;
        if (!isDir(s)) return { upper, lowers: NO_LOWERS, st, layer };
        const m = dirMarks(fd, name);
        // a redirect that could leave the layers ends the lookup here, as overlayfs refuses it
        if (m.opaque || m.refused) return { upper, lowers: NO_LOWERS, st, layer };
        if (m.redirect) {
          if (m.redirect.absolute) absolute = m.redirect.parts;
          else relName = m.redirect.parts[0]!;
        }
      }
    }
    const dirLowers = dir.lowers;
    const nLower = this.stack.lowers.length;
    for (let li = 1; li <= nLower; li++) {
      let parent: Loc;
      let child: string;
      let lastLayer = false;
      if (absolute !== null) {
        const walk = this.walkRedirect(li, absolute);
        if (walk === 'absent') continue;
        if (walk === 'stop') break;
        lastLayer = walk.last;
        parent = walk.parent;
        child = absolute[absolute.length - 1]!;
      } else {
        const dl = findLoc(dirLowers, li);
        if (!dl) continue;
        parent = dl;
        child = relName;
      }
      const fd = this.fds.lower(parent);
      const s = statOrNull(fd, child);
      if (!s) {
        if (lastLayer) break;
        continue;
      }
      if (isWhiteout(s)) break;
      if (!st) {
        st = s;
        layer = li;
        lowers.push(new Loc(li, parent, child));
        if (!isDir(s)) break;
      } else {
        if (!isDir(s)) break; // a non-directory below a directory hides nothing more
        lowers.push(new Loc(li, parent, child));
      }
      const m = dirMarks(fd, child);
      if (m.opaque || lastLayer || m.refused) break;
      if (m.redirect) {
        if (m.redirect.absolute) absolute = m.redirect.parts;
        // a relative redirect renames the last component of the path looked up
        else if (absolute !== null) absolute = [...absolute.slice(0, -1), m.redirect.parts[0]!];
        else relName = m.redirect.parts[0]!;
      }
    }
    if (!st) return null;
    // nodes keep this array: an exact-size copy, not one with room to grow
    return { upper, lowers: lowers.length ? lowers.slice() : NO_LOWERS, st, layer };
  }

  /** Walk the directories leading to a redirect target in lower layer li from its root, as
   *  overlayfs does: never through a symlink or other non-directory, nor past a whiteout
   *  (either ends the lookup), and an opaque directory on the way makes this layer the
   *  last. Gives the target's parent directory. */
  private walkRedirect(li: number, parts: string[]): { parent: Loc; last: boolean } | 'absent' | 'stop' {
    const layer = this.stack.lower(li);
    let loc = layer.rootLoc;
    let fd = layer.rootFd;
    let last = false;
    let found = false;
    try {
      for (let i = 0; i < parts.length - 1; i++) {
        const next = native.openDirAt(fd, parts[i]!);
        if (next === ENOENT) return 'absent';
        if (next === ENOTDIR || next === ELOOP) return 'stop';
        if (next < 0) fail(errnoName(next));
        if (fd !== layer.rootFd) fs.closeSync(fd);
        fd = next;
        loc = new Loc(li, loc, parts[i]!);
        if (dirMarks(fd, '').opaque) last = true;
      }
      found = true;
    } finally {
      if (!found && fd !== layer.rootFd) fs.closeSync(fd);
    }
    // the descriptor of the target's parent is the one the lookup needs next
    if (fd !== layer.rootFd) this.fds.add(loc, fd);
    return { parent: loc, last };
  }

  /** Find or make the node for a resolved name, keeping one node per directory and per hard-linked file. */
  private nodeFor(dir: Node, k: string, r: Resolved): Node {
    const type = r.st.mode & S_IFMT;
    const layer = r.layer === 0 ? this.stack.upper! : this.stack.lower(r.layer);
    const key = this.stack.inodeNumber(layer, r.st.ino);
    const linked = type !== S_IFDIR && r.st.nlink > 1;
    const existing = dir.children!.get(k);
    if (existing) {
      if (existing.type === type && (existing.isDir || existing.key === key)) {
        existing.upper = r.upper;
        this.setLowers(existing, r.lowers);
        if (existing.key !== key) {
          // another upper directory by that name: its descriptor is another one
          if (existing.isDir) this.fds.forget(existing);
          this.rekey(existing, key);
        }
        return existing;
      }
      this.dropLink(existing, dir, k);
    }
    if (linked) {
      const same = this.byKey.get(key);
      if (same && !same.unlinked) {
        same.upper = r.upper;
        this.setLowers(same, r.lowers);
        this.addLink(same, dir, k);
        return same;
      }
    }
    // the key is the object's own inode number: reported unless it was copied up here
    const node = new Node(this.nextId++, this.originIno.get(key) ?? key, type, r.upper, r.lowers);
    node.key = key;
    this.nodes.set(node.id, node);
    if (linked) this.byKey.set(key, node);
    this.addLink(node, dir, k);
    return node;
  }

  /** A fresh lookup's lower objects for a known node: the same places keep their Locs (and
   *  with them the cached descriptors of the directories). */
  private setLowers(node: Node, lowers: Loc[]): void {
    const old = node.lowers;
    if (old === lowers) return;
    if (old.length === lowers.length && old.every((l, i) => sameLoc(l, lowers[i]!))) {
      // a redirect walk opened the parents afresh: those are not needed twice
      for (let i = 0; i < lowers.length; i++) {
        const p = lowers[i]!.parent;
        if (p && p !== old[i]!.parent) this.fds.forget(p);
      }
      return;
    }
    if (node.isDir) for (const l of old) this.fds.forget(l);
    node.lowers = lowers;
  }

  private rekey(node: Node, key: number): void {
    const shared = this.byKey.get(node.key) === node;
    if (shared) this.byKey.delete(node.key);
    node.key = key;
    if (shared) this.byKey.set(key, node);
  }

  private addLink(node: Node, parent: Node, name: string): void {
    // most nodes have one name: an array literal holds it exactly, a push onto [] would
    // reserve room for 16
    if (node.links.length === 0) node.links = [{ parent, name }];
    else node.links.push({ parent, name });
    parent.children!.set(name, node);
    parent.kids++;
    node.unlinked = false;
  }

  private dropLink(node: Node, parent: Node, name: string): void {
    const i = node.links.findIndex((l) => l.parent === parent && l.name === name);
    if (i < 0) return;
    node.links.splice(i, 1);
    if (parent.children!.get(name) === node) parent.children!.delete(name);
    parent.kids--;
    if (node.links.length === 0) node.unlinked = true;
    this.maybeDrop(parent);
    this.maybeDrop(node);
  }

  private moveLink(node: Node, from: Node, name: string, to: Node, newName: string): void {
    const i = node.links.findIndex((l) => l.parent === from && l.name === name);
    if (from.children!.get(name) === node) from.children!.delete(name);
    if (i >= 0) node.links[i] = { parent: to, name: newName };
    else node.links.push({ parent: to, name: newName });
    to.children!.set(newName, node);
    to.kids++;
    if (i >= 0) from.kids--;
    this.maybeDrop(from);
  }

  /** Forget a node nobody holds: not the kernel, not an open file, not a child. */
  private maybeDrop(node: Node): void {
    if (node.nlookup > 0 || node.opens > 0 || node.kids > 0 || node.id === ROOT_ID) return;
    if (!this.nodes.has(node.id)) return;
    this.nodes.delete(node.id);
    this.listings.delete(node);
    this.dropped++;
    if (node.isDir) {
      this.fds.forget(node);
      for (const l of node.lowers) this.fds.forget(l);
    }
    if (this.byKey.get(node.key) === node) this.byKey.delete(node.key);
    const links = node.links;
    node.links = [];
    for (const l of links) {
      if (l.parent.children!.get(l.name) === node) l.parent.children!.delete(l.name);
      l.parent.kids--;
      this.maybeDrop(l.parent);
    }
  }

  private node(id: number): Node {
    const n = this.nodes.get(id);
    if (!n) fail('ESTALE', `unknown node ${id}`);
    return n;
  }

  private dirNode(id: number): Node {
    const n = this.node(id);
    if (!n.isDir) fail('ENOTDIR');
    return n;
  }

  /** The kernel's attributes of a node, made from (and in) its real object's fresh stat. */
  private attrOf(node: Node, st: RealStat): Attr {
    // Counting subdirectories across layers is not worth it; overlayfs answers 1 too.
    if (node.isDir && node.lowers.length + (node.upper ? 1 : 0) > 1) st.nlink = 1;
    if (node.unlinked) st.nlink = 0;
    st.ino = node.ino;
    return st;
  }

  /** A node without a name (removed, or detached) is stat'ed through an open file: the
   *  given one, else any. */
  private statNode(node: Node, h?: Handle): RealStat {
    // a handle on the upper object is the same file as its name, without a lookup
    if (h && !h.lower) return fstat(h.fd);
    if (node.unlinked || node.detached) {
      if (h) return fstat(h.fd);
      for (const o of this.handles.values()) if (o.node === node) return fstat(o.fd);
    }
    return statAt(this.topDir(node), this.topName(node));
  }

  private entry(node: Node, st: RealStat): Entry {
    node.nlookup++;
    return { nodeid: node.id, attr: this.attrOf(node, st) };
  }

  lookup(_c: Caller, parent: number, name: Buffer): Entry {
    this.fds.settle();
    const dir = this.dirNode(parent);
    const k = nameKey(name);
    const r = this.resolveChild(dir, k);
    if (!r) fail('ENOENT');
    return this.entry(this.nodeFor(dir, k, r), r.st);
  }

  forget(nodeid: number, n: number): void {
    const node = this.nodes.get(nodeid);
    if (!node) return;
    node.nlookup = Math.max(0, node.nlookup - n);
    this.maybeDrop(node);
  }

  getattr(_c: Caller, nodeid: number, fh?: number): Attr {
    this.fds.settle();
    const node = this.node(nodeid);
    return this.attrOf(node, this.statNode(node, fh !== undefined ? this.handles.get(fh) : undefined));
  }

  // ---------- copy-up ----------

  /** Is `name` present (not whited out) in the lower layers merged below `dir`? Then removing
   *  or moving it away needs a whiteout. */
  private lowerHas(dir: Node, name: string): boolean {
    for (const loc of dir.lowers) {
      const st = statOrNull(this.fds.lower(loc), name);
      if (st) return !isWhiteout(st);
    }
    return false;
  }

  private requireUpper(): void {
    if (!this.stack.upper) fail('EROFS');
  }

  /** Give a lower object an upper copy, parents first (top down, however deep), each
   *  atomically through the work dir: a crash leaves either no copy or a whole one. */
  private copyUp(node: Node, withData = true): void {
    if (node.upper) return;
    this.requireUpper();
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
    const tmp = this.tmpName();
    const type = st.mode & S_IFMT;
    try {
      if (type === S_IFDIR) {
        native.mkdirAt(work, tmp, 0o700);
      } else if (type === S_IFREG) {
        const fin = native.openAt(srcDir, loc.name, O_RDONLY | O_NOFOLLOW | O_NOATIME, 0);
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
      copyMetadata(srcDir, loc.name, work, tmp, st);
      native.renameAt2(work, tmp, parentFd, link.name, 0);
    } catch (e) {
      this.removeTmp(tmp);
      throw e;
    }
    // a copy-up is not a change of the parent: keep its times
    native.utimensAt(parentFd, '', pst.atime, pst.atimeNs, pst.mtime, pst.mtimeNs);
    const ust = statAt(parentFd, link.name);
    const key = this.stack.inodeNumber(this.stack.upper!, ust.ino);
    this.originIno.set(key, node.ino);
    this.rekey(node, key);
    node.upper = true;
    if (!node.isDir) node.lowers = NO_LOWERS;
    // a directory now merged with its lower one counts its links as overlayfs does (1),
    // often while copying up a child, with no request about the directory itself
    else if (node.lowers.length) this.onStaleAttrs?.(node.id);
  }

  // ---------- attributes ----------

  setattr(_c: Caller, nodeid: number, set: SetAttr, fh?: number): Attr {
    this.fds.settle();
    const node = this.node(nodeid);
    this.requireUpper();
    const h = fh !== undefined ? this.handles.get(fh) : undefined;
    this.copyUp(node, !(set.size === 0));
    // through the caller's open file when it is on the upper object (fchown(2) and the
    // like arrive with it), else by name; through any open file once the name is gone
    const byName = !((h && !h.lower) || node.unlinked);
    if (set.size !== undefined) {
      if (h && h.writable) fs.ftruncateSync(h.fd, set.size);
      else if (!node.unlinked) truncateAt(this.upperDir(node), this.upperName(node), set.size);
      else fail('EBADF');
    }
    const chown = set.uid !== undefined || set.gid !== undefined;
    const a = set.atime ?? [0, UTIME_OMIT];
    const m = set.mtime ?? [0, UTIME_OMIT];
    const times = set.atime !== undefined || set.mtime !== undefined;
    if (byName) {
      const dfd = this.upperDir(node);
      const name = this.upperName(node);
      if (chown) native.chownAt(dfd, name, set.uid ?? -1, set.gid ?? -1);
      if (set.mode !== undefined && node.type !== S_IFLNK) native.chmodAt(dfd, name, set.mode & 0o7777);
      if (times) native.utimensAt(dfd, name, a[0], a[1], m[0], m[1]);
    } else if (h) {
      if (chown) fs.fchownSync(h.fd, set.uid ?? -1, set.gid ?? -1);
      if (set.mode !== undefined) fs.fchmodSync(h.fd, set.mode & 0o7777);
      if (times) native.utimensAt(h.fd, '', a[0], a[1], m[0], m[1]);
    }
    return this.attrOf(node, this.statNode(node, h));
  }

  readlink(_c: Caller, nodeid: number): Buffer {
    this.fds.settle();
    const node = this.node(nodeid);
    return native.readlinkAt(this.topDir(node), this.topName(node));
  }

  // ---------- creating names ----------

  /** Make a new object named `name` in `dir` in the upper layer, owned by the caller. Over a
   *  whiteout, the object is made in the work dir and renamed over it, so the lower object
   *  never shows through; a directory made there is opaque. */
  private createIn(c: Caller, dir: Node, name: string, mode: number, umask: number, make: (dirfd: number, name: string) => number | void): { node: Node; st: RealStat } {
    this.fds.settle();
    this.requireUpper();
    checkName(name);
    this.copyUp(dir);
    const dfd = this.fds.upper(dir);
    const dst = fstat(dfd);
    const isDirectory = (mode & S_IFMT) === S_IFDIR;
    let perm = mode & 0o7777;
    let gid = c.gid;
    if (dst.mode & 0o2000) {
      gid = dst.gid; // a setgid directory hands down its group, and its setgid bit to subdirectories
      if (isDirectory) perm |= 0o2000;
    }
    const create = (d: number, n: string): number | undefined => {
      process.umask(umask);
      try {
        return make(d, n) ?? undefined;
      } finally {
        process.umask(0);
      }
    };
    // through the new file's descriptor when there is one
    const finish = (d: number, n: string, fd: number | undefined): void => {
      if (fd !== undefined) fs.fchownSync(fd, c.uid, gid);
      else native.chownAt(d, n, c.uid, gid);
      // chown cleared setuid/setgid: put them back over what umask and ACLs left
      if ((mode & S_IFMT) === S_IFLNK || !(perm & 0o7000)) return;
      if (fd !== undefined) fs.fchmodSync(fd, (fstat(fd).mode & 0o777) | (perm & 0o7000));
      else native.chmodAt(d, n, (statAt(d, n).mode & 0o777) | (perm & 0o7000));
    };
    // Made in place unless the name is taken; a whiteout there is replaced atomically.
    let fd: number | undefined;
    let overWhiteout = false;
    try {
      fd = create(dfd, name);
    } catch (e) {
      if ((e as { code?: string }).code !== 'EEXIST') throw e;
      const existing = statOrNull(dfd, name);
      if (!existing || !isWhiteout(existing)) throw e;
      overWhiteout = true;
    }
    if (overWhiteout) {
      const work = this.stack.workFd();
      const tmp = this.tmpName();
      try {
        fd = create(work, tmp);
        finish(work, tmp, fd);
        if (isDirectory) {
          native.setxattrAt(work, tmp, OPAQUE_XATTR, Y, 0);
          native.renameAt2(work, tmp, dfd, name, RENAME_EXCHANGE);
          native.unlinkAt(work, tmp, 0); // the whiteout, now in the work dir
        } else {
          native.renameAt2(work, tmp, dfd, name, 0);
        }
      } catch (e) {
        if (fd !== undefined) fs.closeSync(fd);
        this.removeTmp(tmp);
        throw e;
      }
    } else {
      try {
        finish(dfd, name, fd);
      } catch (e) {
        if (fd !== undefined) fs.closeSync(fd);
        try {
          native.unlinkAt(dfd, name, isDirectory ? AT_REMOVEDIR : 0);
        } catch {
          // the error that matters is the first one
        }
        throw e;
      }
    }
    const st = fd !== undefined ? fstat(fd) : statAt(dfd, name);
    const node = this.nodeFor(dir, name, { upper: true, lowers: NO_LOWERS, st, layer: 0 });
    return { node, st };
  }

  symlink(c: Caller, parent: number, name: Buffer, target: Buffer): Entry {
    const { node, st } = this.createIn(c, this.dirNode(parent), nameKey(name), S_IFLNK | 0o777, 0, (d, n) => native.symlinkAt(target, d, n));
    return this.entry(node, st);
  }

  mknod(c: Caller, parent: number, name: Buffer, mode: number, rdev: number, umask = 0): Entry {
    // a 0/0 character device is a whiteout on disk: nobody may make one through the union
    if ((mode & S_IFMT) === S_IFCHR && rdev === 0) fail('EPERM');
    const { node, st } = this.createIn(c, this.dirNode(parent), nameKey(name), mode, umask, (d, n) => native.mknodAt(d, n, mode, rdev));
    return this.entry(node, st);
  }

  mkdir(c: Caller, parent: number, name: Buffer, mode: number, umask = 0): Entry {
    const { node, st } = this.createIn(c, this.dirNode(parent), nameKey(name), S_IFDIR | (mode & 0o7777), umask, (d, n) => native.mkdirAt(d, n, mode & 0o7777));
    return this.entry(node, st);
  }

  create(c: Caller, parent: number, name: Buffer, mode: number, flags: number, umask = 0): { entry: Entry; opened: Opened } {
    let fd = -1;
    const oflags = (flags & ~(O_NOCTTY | O_TRUNC)) | O_CREAT | O_EXCL | O_NOFOLLOW;
    const { node, st } = this.createIn(c, this.dirNode(parent), nameKey(name), S_IFREG | (mode & 0o7777), umask, (d, n) => {
      fd = native.openAt(d, n, oflags, mode & 0o7777);
      return fd;
    });
    const entry = this.entry(node, st);
    return { entry, opened: this.addHandle(node, fd, (flags & O_ACCMODE) !== O_RDONLY) };
  }

  link(c: Caller, nodeid: number, newParent: number, newName: Buffer): Entry {
    this.fds.settle();
    const node = this.node(nodeid);
    if (node.isDir) fail('EPERM');
    const dir = this.dirNode(newParent);
    const k = nameKey(newName);
    this.requireUpper();
    checkName(k);
    this.copyUp(node);
    this.copyUp(dir);
    const sfd = this.upperDir(node);
    const sname = this.upperName(node);
    const dfd = this.fds.upper(dir);
    const existing = statOrNull(dfd, k);
    if (existing && !isWhiteout(existing)) fail('EEXIST');
    if (existing) {
      const work = this.stack.workFd();
      const tmp = this.tmpName();
      native.linkAt(sfd, sname, work, tmp);
      native.renameAt2(work, tmp, dfd, k, 0);
    } else {
      native.linkAt(sfd, sname, dfd, k);
    }
    this.addLink(node, dir, k);
    this.byKey.set(node.key, node);
    return this.entry(node, statAt(dfd, k));
  }

  // ---------- removing names ----------

  private childNode(dir: Node, name: string): { node: Node; r: Resolved } {
    const r = this.resolveChild(dir, name);
    if (!r) fail('ENOENT');
    return { node: this.nodeFor(dir, name, r), r };
  }

  /** Replace the upper entry `name` in dirfd (or nothing) with a whiteout, atomically. */
  private whiteoutAt(dirfd: number, name: string, replacing: 'none' | 'file' | 'dir'): void {
    if (replacing === 'none') {
      native.mknodAt(dirfd, name, S_IFCHR, 0);
      return;
    }
    const work = this.stack.workFd();
    const tmp = this.tmpName();
    native.mknodAt(work, tmp, S_IFCHR, 0);
    if (replacing === 'file') {
      native.renameAt2(work, tmp, dirfd, name, 0);
    } else {
      native.renameAt2(work, tmp, dirfd, name, RENAME_EXCHANGE);
      this.removeTmp(tmp); // the old upper dir: whiteouts only
    }
  }

  unlink(_c: Caller, parent: number, name: Buffer): void {
    this.fds.settle();
    const dir = this.dirNode(parent);
    this.requireUpper();
    const k = nameKey(name);
    const { node, r } = this.childNode(dir, k);
    if (node.isDir) fail('EISDIR');
    this.copyUp(dir);
    const dfd = this.fds.upper(dir);
    const hidden = this.lowerHas(dir, k);
    if (r.upper) {
      if (hidden) this.whiteoutAt(dfd, k, 'file');
      else native.unlinkAt(dfd, k, 0);
    } else {
      this.whiteoutAt(dfd, k, 'none');
    }
    this.dropLink(node, dir, k);
  }

  rmdir(_c: Caller, parent: number, name: Buffer): void {
    this.fds.settle();
    const dir = this.dirNode(parent);
    this.requireUpper();
    const k = nameKey(name);
    const { node, r } = this.childNode(dir, k);
    if (!node.isDir) fail('ENOTDIR');
    if (this.listDir(node).length) fail('ENOTEMPTY');
    this.copyUp(dir);
    const dfd = this.fds.upper(dir);
    const hidden = this.lowerHas(dir, k);
    if (r.upper) {
      if (hidden) {
        this.whiteoutAt(dfd, k, 'dir');
      } else {
        const tmp = this.tmpName();
        native.renameAt2(dfd, k, this.stack.workFd(), tmp, 0);
        this.removeTmp(tmp);
      }
    } else {
      this.whiteoutAt(dfd, k, 'none');
    }
    this.fds.forget(node);
    this.dropLink(node, dir, k);
  }

  // ---------- rename ----------

  /** Before a directory moves, as overlayfs's rename does: one that merges lower dirs keeps
   *  merging them through a redirect (its old name within the same parent, else its lower
   *  path from the layer root, EXDEV when that is longer than redirect_max); one that
   *  merges none is made opaque when it lands in a merged parent. */
  private prepareMovedDir(node: Node, dirfd: number, name: string, samedir: boolean, newDir: Node): void {
    if (node.lowers.length) {
      const cur = native.getxattrAt(dirfd, name, REDIRECT_XATTR);
      if (cur && cur.length && (samedir || cur[0] === 0x2f)) return;
      let redirect = name;
      if (!samedir) {
        const p = locPath(node.lowers[0]!, REDIRECT_MAX - 1);
        if (p === null) fail('EXDEV', 'redirect longer than redirect_max');
        redirect = '/' + p;
      }
      native.setxattrAt(dirfd, name, REDIRECT_XATTR, Buffer.from(redirect, 'latin1'), 0);
    } else if (newDir.lowers.length && !isOpaqueAt(dirfd, name)) {
      native.setxattrAt(dirfd, name, OPAQUE_XATTR, Y, 0);
    }
  }

  rename(_c: Caller, parent: number, name: Buffer, newParent: number, newName: Buffer, flags: number): void {
    this.fds.settle();
    if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) fail('EINVAL');
    const exchange = (flags & RENAME_EXCHANGE) !== 0;
    const od = this.dirNode(parent);
    const nd = this.dirNode(newParent);
    this.requireUpper();
    const k = nameKey(name);
    const nk = nameKey(newName);
    const { node: src } = this.childNode(od, k);
    const rd = this.resolveChild(nd, nk);
    const dst = rd ? this.nodeFor(nd, nk, rd) : null;
    if (dst === src) return;
    if ((flags & RENAME_NOREPLACE) && dst) fail('EEXIST');
    if (exchange && !dst) fail('ENOENT');
    for (let a: Node | null = nd; a; a = a.parent) if (a === src) fail('EINVAL');
    if (dst && exchange) for (let a: Node | null = od; a; a = a.parent) if (a === dst) fail('EINVAL');
    if (dst && !exchange) {
      if (src.isDir && !dst.isDir) fail('ENOTDIR');
      if (!src.isDir && dst.isDir) fail('EISDIR');
      if (dst.isDir && this.listDir(dst).length) fail('ENOTEMPTY');
    }
    this.copyUp(od);
    this.copyUp(nd);
    this.copyUp(src);
    if (exchange) this.copyUp(dst!);
    const samedir = od === nd;
    const ofd = this.fds.upper(od);
    const nfd = this.fds.upper(nd);
    if (src.isDir) this.prepareMovedDir(src, ofd, k, samedir, nd);
    if (exchange) {
      if (dst!.isDir) this.prepareMovedDir(dst!, nfd, nk, samedir, od);
      native.renameAt2(ofd, k, nfd, nk, RENAME_EXCHANGE);
      this.moveLink(src, od, k, nd, nk);
      this.moveLink(dst!, nd, nk, od, k);
      return;
    }
    const whiteout = this.lowerHas(od, k);
    const upperDst = statOrNull(nfd, nk);
    if (upperDst && isWhiteout(upperDst) && src.isDir) {
      native.renameAt2(ofd, k, nfd, nk, RENAME_EXCHANGE);
      if (!whiteout) native.unlinkAt(ofd, k, 0);
    } else {
      // the target is empty in the union but its upper dir may hold whiteouts
      if (upperDst && isDir(upperDst)) clearDir(nfd, nk);
      native.renameAt2(ofd, k, nfd, nk, whiteout ? RENAME_WHITEOUT : 0);
    }
    if (dst) {
      if (dst.isDir) this.fds.forget(dst);
      this.dropLink(dst, nd, nk);
    }
    this.moveLink(src, od, k, nd, nk);
  }

  // ---------- files ----------

  private addHandle(node: Node, fd: number, writable: boolean): Opened {
    const fh = this.nextFh++;
    const lower = !node.upper;
    this.handles.set(fh, { node, fd, writable, lower });
    node.opens++;
    if (lower) node.lowerOpens++;
    // A lower file is not handed to the kernel for passthrough: the kernel would open its
    // backing file with the reader's flags, without O_NOATIME, and reads would move the
    // lower file's atime. Its reads are served from our O_NOATIME fd instead.
    return { fh, fd, backingKey: lower ? undefined : node.key, keepCache: lower };
  }

  /** Give a node's names to a fresh node at the next lookup; the old one keeps serving
   *  the files already open on it. */
  private detach(node: Node): void {
    const links = node.links;
    node.links = [];
    node.detached = true;
    if (this.byKey.get(node.key) === node) this.byKey.delete(node.key);
    for (const l of links) {
      if (l.parent.children!.get(l.name) === node) l.parent.children!.delete(l.name);
      l.parent.kids--;
      this.maybeDrop(l.parent);
    }
  }

  private handle(fh: number): Handle {
    const h = this.handles.get(fh);
    if (!h) fail('EBADF');
    return h;
  }

  open(_c: Caller, nodeid: number, flags: number): Opened {
    this.fds.settle();
    const node = this.node(nodeid);
    const writable = (flags & O_ACCMODE) !== O_RDONLY;
    if (writable || flags & O_TRUNC) {
      this.requireUpper();
      const readers = !node.upper && node.lowerOpens > 0;
      this.copyUp(node, !(flags & O_TRUNC));
      if (readers) {
        // The kernel ties an inode to one backing file while any file is open on it, and
        // readers hold the lower one. ESTALE makes the kernel look the name up again
        // (LOOKUP_REVAL) and retry the open on a new inode, backed by the upper copy.
        this.detach(node);
        fail('ESTALE');
      }
    }
    let oflags = (flags & ~(O_CREAT | O_EXCL | O_NOCTTY)) | O_NOFOLLOW;
    if (!node.upper) oflags |= O_NOATIME; // lower layers are never written, not even atime
    const fd = native.openAt(this.topDir(node), this.topName(node), oflags, 0);
    return this.addHandle(node, fd, writable);
  }

  read(fh: number, offset: number, size: number): Buffer {
    const h = this.handle(fh);
    const buf = Buffer.allocUnsafe(size);
    const n = fs.readSync(h.fd, buf, 0, size, offset);
    return buf.subarray(0, n);
  }

  write(fh: number, offset: number, data: Buffer): number {
    const h = this.handle(fh);
    return fs.writeSync(h.fd, data, 0, data.length, offset);
  }

  release(fh: number): void {
    const h = this.handles.get(fh);
    if (!h) return;
    this.handles.delete(fh);
    fs.closeSync(h.fd);
    h.node.opens--;
    if (h.lower) h.node.lowerOpens--;
    this.maybeDrop(h.node);
  }

  fsync(fh: number, datasync: boolean): void {
    const h = this.handle(fh);
    if (datasync) fs.fdatasyncSync(h.fd);
    else fs.fsyncSync(h.fd);
  }

  fallocate(fh: number, mode: number, offset: number, length: number): void {
    native.fallocate(this.handle(fh).fd, mode, offset, length);
  }

  lseek(fh: number, offset: number, whence: number): number {
    return native.lseek(this.handle(fh).fd, offset, whence);
  }

  copyFileRange(fhIn: number, offIn: number, fhOut: number, offOut: number, len: number): number {
    return native.copyFileRange(this.handle(fhIn).fd, offIn, this.handle(fhOut).fd, offOut, len);
  }

  // ---------- directories ----------

  private listInto(fd: number, seen: Set<string>, out: DirEntry[]): void {
    listInto(this.fds.readdir(fd), fd, seen, out);
  }

  /** The merged listing: each name once, the topmost layer's, whiteouts hidden. */
  private listDir(node: Node): DirEntry[] {
    const seen = new Set<string>();
    const out: DirEntry[] = [];
    if (node.upper && this.stack.upper) this.listInto(this.fds.upper(node), seen, out);
    for (const loc of node.lowers) this.listInto(this.fds.lower(loc), seen, out);
    return out;
  }

  opendir(_c: Caller, nodeid: number): number {
    const node = this.dirNode(nodeid);
    const fh = this.nextFh++;
    this.dirHandles.set(fh, { node, entries: null });
    node.opens++;
    return fh;
  }

  readdir(nodeid: number, fh: number, offset: number): DirEntry[] {
    this.fds.settle();
    if (fh === 0) {
      const node = this.dirNode(nodeid);
      let entries = this.listings.get(node);
      if (offset === 0 || !entries) this.listings.set(node, (entries = this.listDir(node)));
      if (offset >= entries.length) this.listings.delete(node); // read to the end
      return entries;
    }
    const h = this.dirHandles.get(fh);
    if (!h) fail('EBADF');
    if (offset === 0 || !h.entries) h.entries = this.listDir(h.node);
    return h.entries;
  }

  releasedir(fh: number): void {
    const h = this.dirHandles.get(fh);
    if (!h) return;
    this.dirHandles.delete(fh);
    h.node.opens--;
    this.maybeDrop(h.node);
  }

  statfs(_nodeid: number): StatFs {
    const top = this.stack.upper ?? this.stack.lowers[0]!;
    const s = fs.statfsSync(top.dir);
    return { blocks: s.blocks, bfree: s.bfree, bavail: s.bavail, files: s.files, ffree: s.ffree, bsize: s.bsize, namelen: NAME_MAX, frsize: s.bsize };
  }

  // ---------- xattrs ----------

  // trusted.overlay.* is the union's own; a name in it set through the mount is stored
  // escaped as trusted.overlay.overlay.*, as overlayfs does, and shown unescaped.

  setxattr(_c: Caller, nodeid: number, name: Buffer, value: Buffer, flags: number): void {
    this.fds.settle();
    const node = this.node(nodeid);
    this.requireUpper();
    this.copyUp(node);
    native.setxattrAt(this.upperDir(node), this.upperName(node), escapeXattr(nameKey(name)), value, flags);
  }

  getxattr(_c: Caller, nodeid: number, name: Buffer): Buffer {
    this.fds.settle();
    const node = this.node(nodeid);
    const v = native.getxattrAt(this.topDir(node), this.topName(node), escapeXattr(nameKey(name)));
    if (v === null) fail('ENODATA');
    return v;
  }

  listxattr(c: Caller, nodeid: number): Buffer {
    this.fds.settle();
    const node = this.node(nodeid);
    let list = '';
    for (const n of xattrNames(this.topDir(node), this.topName(node))) {
      // The daemon reads as root; like the kernel for a local filesystem, list trusted.*
      // only to root.
      if (c.uid !== 0 && n.startsWith('trusted.')) continue;
      const shown = unescapeXattr(n);
      if (shown !== null) list += shown + '\0';
    }
    return Buffer.from(list, 'latin1');
  }

  xattrFree(nodeid: number): boolean {
    this.fds.settle();
    const node = this.node(nodeid);
    // the union's own marks are never seen through the mount
    return xattrNames(this.topDir(node), this.topName(node)).every((n) => unescapeXattr(n) === null);
  }

  removexattr(_c: Caller, nodeid: number, name: Buffer): void {
    this.fds.settle();
    const node = this.node(nodeid);
    this.requireUpper();
    const real = escapeXattr(nameKey(name));
    // removing what is not there needs no copy-up
    if (!node.upper && native.getxattrAt(this.topDir(node), this.topName(node), real) === null) fail('ENODATA');
    this.copyUp(node);
    native.removexattrAt(this.upperDir(node), this.upperName(node), real);
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const h of this.handles.values()) {
      try { fs.closeSync(h.fd); } catch { /* closing anyway */ }
    }
    this.handles.clear();
    this.fds.clear();
    this.stack.close();
  }
}

/** A name the kernel may give for one directory entry: never ".", ".." or a path. */
function checkName(name: string): void {
  if (name.length > NAME_MAX) fail('ENAMETOOLONG');
  if (name === '' || name === '.' || name === '..' || name.includes('/')) fail('EINVAL');
}

function findLoc(locs: Loc[], layer: number): Loc | undefined {
  for (const l of locs) if (l.layer === layer) return l;
  return undefined;
}

function isOpaqueAt(dirfd: number, name: string): boolean {
  return isOpaqueValue(native.getxattrAt(dirfd, name, OPAQUE_XATTR));
}

/** A directory's overlay marks, in one syscall when it has none (most directories). */
function dirMarks(dirfd: number, name: string): Marks {
  const names = native.listxattrAt(dirfd, name);
  if (names.indexOf(OVERLAY_PREFIX, 0, 'latin1') < 0) return NO_MARKS;
  const opaque = isOpaqueAt(dirfd, name);
  const v = native.getxattrAt(dirfd, name, REDIRECT_XATTR);
  if (!v || v.length === 0) return { opaque, redirect: null, refused: false };
  const redirect = parseRedirect(v);
  return { opaque, redirect, refused: redirect === null };
}

/** The names of a real object's xattrs (listxattr's NUL-separated list, split; latin1). */
function xattrNames(dirfd: number, name: string): string[] {
  const raw = native.listxattrAt(dirfd, name);
  return raw.length === 0 ? [] : raw.toString('latin1').split('\0').filter((n) => n.length > 0);
}

/** Each entry of a directory, as getdents gives them. */
function forEachEntry(raw: Buffer, fn: (name: Buffer, ino: number, type: number) => void): void {
  for (let pos = 0; pos < raw.length;) {
    const ino = raw.readUInt32LE(pos) + raw.readUInt32LE(pos + 4) * 4294967296;
    const type = raw[pos + 8]!;
    const len = raw.readUInt16LE(pos + 9);
    fn(raw.subarray(pos + 11, pos + 11 + len), ino, type);
    pos += 11 + len;
  }
}

/** Adds one layer's entries of a merged directory: names not seen above, whiteouts not at all. */
function listInto(raw: Buffer, fd: number, seen: Set<string>, out: DirEntry[]): void {
  forEachEntry(raw, (name, ino, type) => {
    const k = nameKey(name);
    if (seen.has(k)) return;
    seen.add(k);
    if (type === DT_CHR || type === DT_UNKNOWN) {
      const st = statOrNull(fd, k);
      if (!st || isWhiteout(st)) return;
    }
    out.push({ name, ino, type: type === DT_UNKNOWN ? 0 : type });
  });
}

/** Removes the entries (whiteouts) of the upper directory `name` in dirfd. */
function clearDir(dirfd: number, name: string): void {
  const fd = native.openDirAt(dirfd, name);
  if (fd < 0) fail(errnoName(fd));
  try {
    forEachEntry(native.readdirFd(fd, false), (n) => native.unlinkAt(fd, n, 0));
  } finally {
    fs.closeSync(fd);
  }
}

function truncateAt(dirfd: number, name: string, size: number): void {
  const fd = native.openAt(dirfd, name, O_WRONLY | O_NOFOLLOW | O_NONBLOCK, 0);
  try {
    fs.ftruncateSync(fd, size);
  } finally {
    fs.closeSync(fd);
  }
}

/** Owner, mode, xattrs and times of a lower object onto its copy, in the order that keeps
 *  each: chown clears setuid and capabilities, so it goes first; times go last. */
function copyMetadata(srcDir: number, src: string, dstDir: number, dst: string, st: RealStat): void {
  native.chownAt(dstDir, dst, st.uid, st.gid);
  if ((st.mode & S_IFMT) !== S_IFLNK) native.chmodAt(dstDir, dst, st.mode & 0o7777);
  for (const n of xattrNames(srcDir, src)) {
    // the union's own marks stay behind; escaped names given through a mount travel
    if (isInternalXattr(n)) continue;
    const v = native.getxattrAt(srcDir, src, n);
    if (v !== null) native.setxattrAt(dstDir, dst, n, v, 0);
  }
  native.utimensAt(dstDir, dst, st.atime, st.atimeNs, st.mtime, st.mtimeNs);
}
