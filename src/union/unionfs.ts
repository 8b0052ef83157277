// Union semantics over a LayerStack, with overlayfs's on-disk format: lookup through the
// layers, merged directories, whiteouts, opaque and redirected directories, copy-up,
// rename and hard links. Serves inode-number based requests; knows nothing of the wire.
import * as fs from 'node:fs';
import type { Attr, Caller, DirEntry, Entry, FileSystem, Opened, SetAttr, StatFs } from '../fuse/types';
import { AT_FDCWD, native, RENAME_EXCHANGE, RENAME_NOREPLACE, RENAME_WHITEOUT, UTIME_OMIT } from '../native';
import { fail } from './errors';
import {
  LayerStack, RealStat, S_IFCHR, S_IFDIR, S_IFLNK,
  S_IFMT, S_IFREG, dirMarks, errnoName, fstatReal, isDir, isOpaque, join, joinRel, lstatOrNull, lstatReal,
} from './layers';
import { escapeXattr, isInternalXattr, isWhiteout, OPAQUE_XATTR, REDIRECT_XATTR, unescapeXattr } from './format';
import { Loc, Node, Resolved, nameKey } from './node';

const O_ACCMODE = 3;
const { O_RDONLY, O_CREAT, O_EXCL, O_NOCTTY, O_NOFOLLOW, O_TRUNC, O_WRONLY, O_NOATIME } = fs.constants;
const DT_UNKNOWN = 0;
const DT_CHR = 2;
const NAME_MAX = 255;
const ROOT_ID = 1;
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
  private nextId = ROOT_ID + 1;
  private nextFh = 1;
  private tmpSeq = 0;
  onStaleAttrs?: (nodeid: number) => void;
  /** nodes forgotten so far: a hint for when returning memory is worth a collection */
  dropped = 0;
  readonly root: Node;

  constructor(readonly stack: LayerStack) {
    const lowers: Loc[] = [];
    const upper = stack.upper;
    if (!(upper && isOpaque(upper.root))) {
      for (const l of stack.lowers) {
        lowers.push({ layer: l.index, path: '' });
        if (isOpaque(l.root)) break;
      }
    }
    const top = upper ?? stack.lowers[0]!;
    const ino = stack.inodeNumber(top, lstatReal(top.root).ino);
    this.root = new Node(ROOT_ID, ino, S_IFDIR, upper !== null, lowers);
    this.root.key = ino;
    this.root.nlookup = 1;
    this.nodes.set(ROOT_ID, this.root);
  }

  // ---------- paths ----------

  /** The node's path from the root of the merged tree, which is also its path in the upper layer. */
  private mergedPath(node: Node): string {
    let path = '';
    let n = node;
    while (n.links.length) {
      const l = n.links[0]!;
      path = path.length ? l.name + '/' + path : l.name;
      n = l.parent;
    }
    if (n !== this.root) fail('ESTALE', 'node has no name');
    return path;
  }

  private upperPath(node: Node): Buffer {
    return this.stack.upper!.real(this.mergedPath(node));
  }

  private upperChild(dir: Node, name: Buffer): Buffer {
    return this.stack.upper!.real(joinRel(this.mergedPath(dir), nameKey(name)));
  }

  private lowerReal(loc: Loc): Buffer {
    return this.stack.lower(loc.layer).real(loc.path);
  }

  /** The real object a node shows: its upper copy, else its topmost lower one. */
  private topPath(node: Node): Buffer {
    if (node.upper) return this.upperPath(node);
    const loc = node.lowers[0];
    if (!loc) fail('ESTALE');
    return this.lowerReal(loc);
  }

  private tmpPath(): Buffer {
    const w = this.stack.workDir;
    if (!w) fail('EROFS');
    return Buffer.from(`${w.toString()}/#${process.pid.toString(16)}.${(++this.tmpSeq).toString(16)}`);
  }

  // ---------- lookup ----------

  /** Find `name` in `dir` through the layers, as overlayfs's lookup does. */
  private resolveChild(dir: Node, name: Buffer): Resolved | null {
    if (name.length > NAME_MAX) fail('ENAMETOOLONG');
    let st: RealStat | null = null;
    let layer = -1;
    let upper = false;
    const lowers: Loc[] = [];
    let absolute: string | null = null; // redirect from a layer root, for the layers below
    let relName = nameKey(name); // redirect to another name in the same parent
    if (dir.upper && this.stack.upper) {
      const p = this.upperChild(dir, name);
      const s = lstatOrNull(p);
      if (s) {
        if (isWhiteout(s)) return null;
        st = s;
        layer = 0;
        upper = true;
        if (!isDir(s)) return { upper, lowers: NO_LOWERS, st, layer };
        const marks = dirMarks(p);
        if (marks.opaque) return { upper, lowers: NO_LOWERS, st, layer };
        const r = marks.redirect;
        // a redirect that could leave the layers ends the lookup here, as overlayfs refuses it
        if (r && !validRedirect(r)) return { upper, lowers: NO_LOWERS, st, layer };
        if (r) {
          if (r.absolute) absolute = r.path;
          else relName = r.path;
        }
      }
    }
    const dirLowers = dir.lowers;
    const nLower = this.stack.lowers.length;
    for (let li = 1; li <= nLower; li++) {
      let path: string;
      let lastLayer = false;
      if (absolute !== null) {
        const walk = this.walkRedirect(li, absolute);
        if (walk === 'absent') continue;
        if (walk === 'stop') break;
        lastLayer = walk === 'last';
        path = absolute;
      } else {
        const dl = findLoc(dirLowers, li);
        if (!dl) continue;
        path = joinRel(dl.path, relName);
      }
      const real = this.stack.lower(li).real(path);
      const s = lstatOrNull(real);
      if (!s) {
        if (lastLayer) break;
        continue;
      }
      if (isWhiteout(s)) break;
      if (!st) {
        st = s;
        layer = li;
        lowers.push({ layer: li, path });
        if (!isDir(s)) break;
      } else {
        if (!isDir(s)) break; // a non-directory below a directory hides nothing more
        lowers.push({ layer: li, path });
      }
      const marks = dirMarks(real);
      if (marks.opaque || lastLayer) break;
      const r = marks.redirect;
      if (r && !validRedirect(r)) break;
      if (r) {
        if (r.absolute) absolute = r.path;
        else relName = r.path;
      }
    }
    if (!st) return null;
    // nodes keep this array: an exact-size copy, not one with room to grow
    return { upper, lowers: lowers.length ? lowers.slice() : NO_LOWERS, st, layer };
  }

  /** Walk the directories leading to a redirect target in lower layer li, as overlayfs
   *  does: never through a symlink or other non-directory, nor past a whiteout (either
   *  ends the lookup), and an opaque directory on the way makes this layer the last. */
  private walkRedirect(li: number, path: string): 'ok' | 'last' | 'absent' | 'stop' {
    const layer = this.stack.lower(li);
    let last = false;
    for (let i = path.indexOf('/'); i >= 0; i = path.indexOf('/', i + 1)) {
      const real = layer.real(path.slice(0, i));
      const st = lstatOrNull(real);
      if (!st) return 'absent';
      if (!isDir(st)) return 'stop';
      if (dirMarks(real).opaque) last = true;
    }
    return last ? 'last' : 'ok';
  }

  /** Find or make the node for a resolved name, keeping one node per directory and per hard-linked file. */
  private nodeFor(dir: Node, name: Buffer, r: Resolved): Node {
    const type = r.st.mode & S_IFMT;
    const layer = r.layer === 0 ? this.stack.upper! : this.stack.lower(r.layer);
    const key = this.stack.inodeNumber(layer, r.st.ino);
    const k = nameKey(name);
    const linked = type !== S_IFDIR && r.st.nlink > 1;
    const existing = dir.children!.get(k);
    if (existing) {
      if (existing.type === type && (existing.isDir || existing.key === key)) {
        existing.upper = r.upper;
        existing.lowers = r.lowers;
        if (existing.key !== key) this.rekey(existing, key);
        return existing;
      }
      this.dropLink(existing, dir, k);
    }
    if (linked) {
      const same = this.byKey.get(key);
      if (same && !same.unlinked) {
        same.upper = r.upper;
        same.lowers = r.lowers;
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

  private attrOf(node: Node, st: RealStat): Attr {
    let nlink = st.nlink;
    // Counting subdirectories across layers is not worth it; overlayfs answers 1 too.
    if (node.isDir && node.lowers.length + (node.upper ? 1 : 0) > 1) nlink = 1;
    if (node.unlinked) nlink = 0;
    return {
      ino: node.ino,
      size: st.size,
      blocks: st.blocks,
      atime: st.atime,
      atimeNs: st.atimeNs,
      mtime: st.mtime,
      mtimeNs: st.mtimeNs,
      ctime: st.ctime,
      ctimeNs: st.ctimeNs,
      mode: st.mode,
      nlink,
      uid: st.uid,
      gid: st.gid,
      rdev: st.rdev,
    };
  }

  /** A node without a name (removed, or detached) is stat'ed through an open file: the
   *  given one, else any. */
  private statNode(node: Node, h?: Handle): RealStat {
    // a handle on the upper object is the same file as its name, without walking the path
    if (h && !h.lower) return fstatReal(h.fd);
    if (node.unlinked || node.detached) {
      if (h) return fstatReal(h.fd);
      for (const o of this.handles.values()) if (o.node === node) return fstatReal(o.fd);
    }
    return lstatReal(this.topPath(node));
  }

  private entry(node: Node, st: RealStat): Entry {
    node.nlookup++;
    return { nodeid: node.id, attr: this.attrOf(node, st) };
  }

  lookup(_c: Caller, parent: number, name: Buffer): Entry {
    const dir = this.dirNode(parent);
    const r = this.resolveChild(dir, name);
    if (!r) fail('ENOENT');
    return this.entry(this.nodeFor(dir, name, r), r.st);
  }

  forget(nodeid: number, n: number): void {
    const node = this.nodes.get(nodeid);
    if (!node) return;
    node.nlookup = Math.max(0, node.nlookup - n);
    this.maybeDrop(node);
  }

  getattr(_c: Caller, nodeid: number, fh?: number): Attr {
    const node = this.node(nodeid);
    return this.attrOf(node, this.statNode(node, fh !== undefined ? this.handles.get(fh) : undefined));
  }

  // ---------- copy-up ----------

  /** Is `name` present (not whited out) in the lower layers merged below `dir`? Then removing
   *  or moving it away needs a whiteout. */
  private lowerHas(dir: Node, name: Buffer): boolean {
    for (const loc of dir.lowers) {
      const st = lstatOrNull(this.stack.lower(loc.layer).real(joinRel(loc.path, nameKey(name))));
      if (st) return !isWhiteout(st);
    }
    return false;
  }

  private requireUpper(): void {
    if (!this.stack.upper) fail('EROFS');
  }

  /** Give a lower object an upper copy (parents first), atomically through the work dir:
   *  a crash leaves either no copy or a whole one. */
  private copyUp(node: Node, withData = true): void {
    if (node.upper) return;
    this.requireUpper();
    const link = node.links[0];
    if (!link) fail('ESTALE', 'cannot copy up a removed file');
    this.copyUp(link.parent);
    const src = this.lowerReal(node.lowers[0]!);
    const st = lstatReal(src);
    const parentReal = this.upperPath(link.parent);
    const pst = lstatReal(parentReal);
    const dest = this.stack.upper!.real(joinRel(this.mergedPath(link.parent), link.name));
    const tmp = this.tmpPath();
    const type = st.mode & S_IFMT;
    try {
      if (type === S_IFDIR) {
        fs.mkdirSync(tmp, 0o700);
      } else if (type === S_IFREG) {
        const fin = fs.openSync(src, O_RDONLY | O_NOFOLLOW | O_NOATIME);
        try {
          const fout = fs.openSync(tmp, O_WRONLY | O_CREAT | O_EXCL, 0o600);
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
        fs.symlinkSync(fs.readlinkSync(src, { encoding: 'buffer' }), tmp);
      } else {
        native.mknodAt(AT_FDCWD, tmp, st.mode, st.rdev);
      }
      copyMetadata(src, tmp, st);
      fs.renameSync(tmp, dest);
    } catch (e) {
      fs.rmSync(tmp, { recursive: true, force: true });
      throw e;
    }
    // a copy-up is not a change of the parent: keep its times
    native.utimensAt(AT_FDCWD, parentReal, pst.atime, pst.atimeNs, pst.mtime, pst.mtimeNs);
    const ust = lstatReal(dest);
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
    const node = this.node(nodeid);
    this.requireUpper();
    const h = fh !== undefined ? this.handles.get(fh) : undefined;
    this.copyUp(node, !(set.size === 0));
    // through the caller's open file when it is on the upper object (fchown(2) and the
    // like arrive with it), else by name; through any open file once the name is gone
    const p = (h && !h.lower) || node.unlinked ? null : this.upperPath(node);
    if (set.size !== undefined) {
      if (h && h.writable) fs.ftruncateSync(h.fd, set.size);
      else if (p) fs.truncateSync(p, set.size);
      else if (!node.unlinked) fs.truncateSync(this.upperPath(node), set.size);
      else fail('EBADF');
    }
    const chown = set.uid !== undefined || set.gid !== undefined;
    const a = set.atime ?? [0, UTIME_OMIT];
    const m = set.mtime ?? [0, UTIME_OMIT];
    const times = set.atime !== undefined || set.mtime !== undefined;
    if (p) {
      if (chown) fs.lchownSync(p, set.uid ?? -1, set.gid ?? -1);
      if (set.mode !== undefined && node.type !== S_IFLNK) fs.chmodSync(p, set.mode & 0o7777);
      if (times) native.utimensAt(AT_FDCWD, p, a[0], a[1], m[0], m[1]);
    } else if (h) {
      if (chown) fs.fchownSync(h.fd, set.uid ?? -1, set.gid ?? -1);
      if (set.mode !== undefined) fs.fchmodSync(h.fd, set.mode & 0o7777);
      if (times) native.utimensAt(h.fd, '', a[0], a[1], m[0], m[1]);
    }
    return this.attrOf(node, this.statNode(node, h));
  }

  readlink(_c: Caller, nodeid: number): Buffer {
    return fs.readlinkSync(this.topPath(this.node(nodeid)), { encoding: 'buffer' });
  }

  // ---------- creating names ----------

  /** Make a new object named `name` in `dir` in the upper layer, owned by the caller. Over a
   *  whiteout, the object is made in the work dir and renamed over it, so the lower object
   *  never shows through; a directory made there is opaque. */
  private createIn(c: Caller, dir: Node, name: Buffer, mode: number, umask: number, make: (p: Buffer) => number | void): { node: Node; st: RealStat } {
    this.requireUpper();
    if (name.length > NAME_MAX) fail('ENAMETOOLONG');
    this.copyUp(dir);
    const dirReal = this.upperPath(dir);
    const target = join(dirReal, name);
    const dst = lstatReal(dirReal);
    const isDirectory = (mode & S_IFMT) === S_IFDIR;
    let perm = mode & 0o7777;
    let gid = c.gid;
    if (dst.mode & 0o2000) {
      gid = dst.gid; // a setgid directory hands down its group, and its setgid bit to subdirectories
      if (isDirectory) perm |= 0o2000;
    }
    const create = (p: Buffer): number | undefined => {
      process.umask(umask);
      try {
        return make(p) ?? undefined;
      } finally {
        process.umask(0);
      }
    };
    // through the new file's descriptor when there is one: no second walk of its path
    const finish = (p: Buffer, fd: number | undefined): void => {
      if (fd !== undefined) fs.fchownSync(fd, c.uid, gid);
      else fs.lchownSync(p, c.uid, gid);
      // chown cleared setuid/setgid: put them back over what umask and ACLs left
      if ((mode & S_IFMT) === S_IFLNK || !(perm & 0o7000)) return;
      if (fd !== undefined) fs.fchmodSync(fd, (fstatReal(fd).mode & 0o777) | (perm & 0o7000));
      else fs.chmodSync(p, (lstatReal(p).mode & 0o777) | (perm & 0o7000));
    };
    // Made in place unless the name is taken; a whiteout there is replaced atomically.
    let fd: number | undefined;
    let overWhiteout = false;
    try {
      fd = create(target);
    } catch (e) {
      if ((e as { code?: string }).code !== 'EEXIST') throw e;
      const existing = lstatOrNull(target);
      if (!existing || !isWhiteout(existing)) throw e;
      overWhiteout = true;
    }
    if (overWhiteout) {
      const tmp = this.tmpPath();
      try {
        fd = create(tmp);
        finish(tmp, fd);
        if (isDirectory) {
          native.setxattrAt(AT_FDCWD, tmp, OPAQUE_XATTR, Buffer.from('y'), 0);
          native.renameAt2(AT_FDCWD, tmp, AT_FDCWD, target, RENAME_EXCHANGE);
          fs.unlinkSync(tmp); // the whiteout, now in the work dir
        } else {
          fs.renameSync(tmp, target);
        }
      } catch (e) {
        if (fd !== undefined) fs.closeSync(fd);
        fs.rmSync(tmp, { recursive: true, force: true });
        throw e;
      }
    } else {
      try {
        finish(target, fd);
      } catch (e) {
        if (fd !== undefined) fs.closeSync(fd);
        fs.rmSync(target, { recursive: true, force: true });
        throw e;
      }
    }
    const st = fd !== undefined ? fstatReal(fd) : lstatReal(target);
    const node = this.nodeFor(dir, name, { upper: true, lowers: NO_LOWERS, st, layer: 0 });
    return { node, st };
  }

  symlink(c: Caller, parent: number, name: Buffer, target: Buffer): Entry {
    const { node, st } = this.createIn(c, this.dirNode(parent), name, S_IFLNK | 0o777, 0, (p) => fs.symlinkSync(target, p));
    return this.entry(node, st);
  }

  mknod(c: Caller, parent: number, name: Buffer, mode: number, rdev: number, umask = 0): Entry {
    // a 0/0 character device is a whiteout on disk: nobody may make one through the union
    if ((mode & S_IFMT) === S_IFCHR && rdev === 0) fail('EPERM');
    const { node, st } = this.createIn(c, this.dirNode(parent), name, mode, umask, (p) => native.mknodAt(AT_FDCWD, p, mode, rdev));
    return this.entry(node, st);
  }

  mkdir(c: Caller, parent: number, name: Buffer, mode: number, umask = 0): Entry {
    const { node, st } = this.createIn(c, this.dirNode(parent), name, S_IFDIR | (mode & 0o7777), umask, (p) => fs.mkdirSync(p, mode & 0o7777));
    return this.entry(node, st);
  }

  create(c: Caller, parent: number, name: Buffer, mode: number, flags: number, umask = 0): { entry: Entry; opened: Opened } {
    let fd = -1;
    const oflags = (flags & ~(O_NOCTTY | O_TRUNC)) | O_CREAT | O_EXCL | O_NOFOLLOW;
    const { node, st } = this.createIn(c, this.dirNode(parent), name, S_IFREG | (mode & 0o7777), umask, (p) => {
      fd = fs.openSync(p, oflags, mode & 0o7777);
      return fd;
    });
    const entry = this.entry(node, st);
    return { entry, opened: this.addHandle(node, fd, (flags & O_ACCMODE) !== O_RDONLY) };
  }

  link(c: Caller, nodeid: number, newParent: number, newName: Buffer): Entry {
    const node = this.node(nodeid);
    if (node.isDir) fail('EPERM');
    const dir = this.dirNode(newParent);
    this.requireUpper();
    this.copyUp(node);
    this.copyUp(dir);
    const src = this.upperPath(node);
    const target = this.upperChild(dir, newName);
    const existing = lstatOrNull(target);
    if (existing && !isWhiteout(existing)) fail('EEXIST');
    if (existing) {
      const tmp = this.tmpPath();
      fs.linkSync(src, tmp);
      fs.renameSync(tmp, target);
    } else {
      fs.linkSync(src, target);
    }
    this.addLink(node, dir, nameKey(newName));
    this.byKey.set(node.key, node);
    return this.entry(node, lstatReal(target));
  }

  // ---------- removing names ----------

  private childNode(dir: Node, name: Buffer): { node: Node; r: Resolved } {
    const r = this.resolveChild(dir, name);
    if (!r) fail('ENOENT');
    return { node: this.nodeFor(dir, name, r), r };
  }

  /** Replace the upper entry at `target` (or nothing) with a whiteout, atomically. */
  private whiteoutAt(target: Buffer, replacing: 'none' | 'file' | 'dir'): void {
    if (replacing === 'none') {
      native.mknodAt(AT_FDCWD, target, S_IFCHR, 0);
      return;
    }
    const tmp = this.tmpPath();
    native.mknodAt(AT_FDCWD, tmp, S_IFCHR, 0);
    if (replacing === 'file') {
      fs.renameSync(tmp, target);
    } else {
      native.renameAt2(AT_FDCWD, tmp, AT_FDCWD, target, RENAME_EXCHANGE);
      fs.rmSync(tmp, { recursive: true, force: true }); // the old upper dir: whiteouts only
    }
  }

  unlink(_c: Caller, parent: number, name: Buffer): void {
    const dir = this.dirNode(parent);
    this.requireUpper();
    const { node, r } = this.childNode(dir, name);
    if (node.isDir) fail('EISDIR');
    this.copyUp(dir);
    const target = this.upperChild(dir, name);
    const hidden = this.lowerHas(dir, name);
    if (r.upper) {
      if (hidden) this.whiteoutAt(target, 'file');
      else fs.unlinkSync(target);
    } else {
      this.whiteoutAt(target, 'none');
    }
    this.dropLink(node, dir, nameKey(name));
  }

  rmdir(_c: Caller, parent: number, name: Buffer): void {
    const dir = this.dirNode(parent);
    this.requireUpper();
    const { node, r } = this.childNode(dir, name);
    if (!node.isDir) fail('ENOTDIR');
    if (this.listDir(node).length) fail('ENOTEMPTY');
    this.copyUp(dir);
    const target = this.upperChild(dir, name);
    const hidden = this.lowerHas(dir, name);
    if (r.upper) {
      if (hidden) {
        this.whiteoutAt(target, 'dir');
      } else {
        const tmp = this.tmpPath();
        fs.renameSync(target, tmp);
        fs.rmSync(tmp, { recursive: true, force: true });
      }
    } else {
      this.whiteoutAt(target, 'none');
    }
    this.dropLink(node, dir, nameKey(name));
  }

  // ---------- rename ----------

  /** Before a directory moves to `newDir`: keep merging the lower dirs it merges now
   *  (redirect), or, if it merges none, keep lower dirs at the new place out (opaque). */
  private prepareMovedDir(node: Node, newDir: Node, newName: Buffer): void {
    const p = this.upperPath(node);
    if (node.lowers.length) {
      const newPath = joinRel(this.mergedPath(newDir), nameKey(newName));
      const lowerPath = node.lowers[0]!.path;
      if (lowerPath !== newPath) {
        native.setxattrAt(AT_FDCWD, p, REDIRECT_XATTR, Buffer.from('/' + lowerPath, 'latin1'), 0);
      } else if (native.getxattrAt(AT_FDCWD, p, REDIRECT_XATTR)) {
        native.removexattrAt(AT_FDCWD, p, REDIRECT_XATTR);
      }
    } else if (newDir.lowers.length && !isOpaque(p)) {
      native.setxattrAt(AT_FDCWD, p, OPAQUE_XATTR, Buffer.from('y'), 0);
    }
  }

  rename(_c: Caller, parent: number, name: Buffer, newParent: number, newName: Buffer, flags: number): void {
    if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) fail('EINVAL');
    const exchange = (flags & RENAME_EXCHANGE) !== 0;
    const od = this.dirNode(parent);
    const nd = this.dirNode(newParent);
    this.requireUpper();
    if (newName.length > NAME_MAX) fail('ENAMETOOLONG');
    const { node: src } = this.childNode(od, name);
    const rd = this.resolveChild(nd, newName);
    const dst = rd ? this.nodeFor(nd, newName, rd) : null;
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
    const from = this.upperChild(od, name);
    const to = this.upperChild(nd, newName);
    if (src.isDir) this.prepareMovedDir(src, nd, newName);
    if (exchange) {
      if (dst!.isDir) this.prepareMovedDir(dst!, od, name);
      native.renameAt2(AT_FDCWD, from, AT_FDCWD, to, RENAME_EXCHANGE);
      this.moveLink(src, od, nameKey(name), nd, nameKey(newName));
      this.moveLink(dst!, nd, nameKey(newName), od, nameKey(name));
      return;
    }
    const whiteout = this.lowerHas(od, name);
    const upperDst = lstatOrNull(to);
    if (upperDst && isWhiteout(upperDst) && src.isDir) {
      native.renameAt2(AT_FDCWD, from, AT_FDCWD, to, RENAME_EXCHANGE);
      if (!whiteout) fs.unlinkSync(from);
    } else {
      if (upperDst && isDir(upperDst)) {
        // the target is empty in the union but its upper dir may hold whiteouts
        for (const e of fs.readdirSync(to, { encoding: 'buffer' })) fs.unlinkSync(join(to, e));
      }
      native.renameAt2(AT_FDCWD, from, AT_FDCWD, to, whiteout ? RENAME_WHITEOUT : 0);
    }
    if (dst) this.dropLink(dst, nd, nameKey(newName));
    this.moveLink(src, od, nameKey(name), nd, nameKey(newName));
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
    const fd = fs.openSync(this.topPath(node), oflags);
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

  /** The merged listing: each name once, the topmost layer's, whiteouts hidden. */
  private listDir(node: Node): DirEntry[] {
    const dirs: Buffer[] = [];
    if (node.upper && this.stack.upper) dirs.push(this.upperPath(node));
    for (const loc of node.lowers) dirs.push(this.lowerReal(loc));
    const seen = new Set<string>();
    const out: DirEntry[] = [];
    for (const d of dirs) {
      const raw = readdirPath(d);
      for (let pos = 0; pos < raw.length;) {
        const ino = raw.readUInt32LE(pos) + raw.readUInt32LE(pos + 4) * 4294967296;
        const type = raw[pos + 8]!;
        const len = raw.readUInt16LE(pos + 9);
        const name = raw.subarray(pos + 11, pos + 11 + len);
        pos += 11 + len;
        const k = nameKey(name);
        if (seen.has(k)) continue;
        seen.add(k);
        if (type === DT_CHR || type === DT_UNKNOWN) {
          const st = lstatOrNull(join(d, name));
          if (!st || isWhiteout(st)) continue;
        }
        out.push({ name, ino, type: type === DT_UNKNOWN ? 0 : type });
      }
    }
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
    const node = this.node(nodeid);
    this.requireUpper();
    this.copyUp(node);
    native.setxattrAt(AT_FDCWD, this.upperPath(node), escapeXattr(nameKey(name)), value, flags);
  }

  getxattr(_c: Caller, nodeid: number, name: Buffer): Buffer {
    const v = native.getxattrAt(AT_FDCWD, this.topPath(this.node(nodeid)), escapeXattr(nameKey(name)));
    if (v === null) fail('ENODATA');
    return v;
  }

  listxattr(c: Caller, nodeid: number): Buffer {
    let list = '';
    for (const n of xattrNames(this.topPath(this.node(nodeid)))) {
      // The daemon reads as root; like the kernel for a local filesystem, list trusted.*
      // only to root.
      if (c.uid !== 0 && n.startsWith('trusted.')) continue;
      const shown = unescapeXattr(n);
      if (shown !== null) list += shown + '\0';
    }
    return Buffer.from(list, 'latin1');
  }

  xattrFree(nodeid: number): boolean {
    // the union's own marks are never seen through the mount
    return xattrNames(this.topPath(this.node(nodeid))).every((n) => unescapeXattr(n) === null);
  }

  removexattr(_c: Caller, nodeid: number, name: Buffer): void {
    const node = this.node(nodeid);
    this.requireUpper();
    const real = escapeXattr(nameKey(name));
    // removing what is not there needs no copy-up
    if (!node.upper && native.getxattrAt(AT_FDCWD, this.topPath(node), real) === null) fail('ENODATA');
    this.copyUp(node);
    native.removexattrAt(AT_FDCWD, this.upperPath(node), real);
  }

  destroy(): void {
    for (const h of this.handles.values()) {
      try { fs.closeSync(h.fd); } catch { /* closing anyway */ }
    }
    this.handles.clear();
  }
}

function validRedirect(r: { absolute: boolean; path: string }): boolean {
  const parts = r.absolute ? r.path.split('/') : [r.path];
  return parts.every((p) => p !== '' && p !== '.' && p !== '..' && !p.includes('/'));
}

function findLoc(locs: Loc[], layer: number): Loc | undefined {
  for (const l of locs) if (l.layer === layer) return l;
  return undefined;
}

/** The names of a real object's xattrs (llistxattr's NUL-separated list, split; latin1). */
function xattrNames(p: Buffer): string[] {
  const raw = native.listxattrAt(AT_FDCWD, p);
  return raw.length === 0 ? [] : raw.toString('latin1').split('\0').filter((n) => n.length > 0);
}

/** Owner, mode, xattrs and times of `src` onto `dst`, in the order that keeps each:
 *  chown clears setuid and capabilities, so it goes first; times go last. */
function copyMetadata(src: Buffer, dst: Buffer, st: RealStat): void {
  fs.lchownSync(dst, st.uid, st.gid);
  if ((st.mode & S_IFMT) !== S_IFLNK) fs.chmodSync(dst, st.mode & 0o7777);
  for (const n of xattrNames(src)) {
    // the union's own marks stay behind; escaped names given through a mount travel
    if (isInternalXattr(n)) continue;
    const v = native.getxattrAt(AT_FDCWD, src, n);
    if (v !== null) native.setxattrAt(AT_FDCWD, dst, n, v, 0);
  }
  native.utimensAt(AT_FDCWD, dst, st.atime, st.atimeNs, st.mtime, st.mtimeNs);
}

function readdirPath(p: Buffer): Buffer {
  const fd = native.openDirAt(AT_FDCWD, p);
  if (fd < 0) fail(errnoName(fd));
  try {
    return native.readdirFd(fd);
  } finally {
    fs.closeSync(fd);
  }
}
