// The inode table: the nodes the kernel holds by number, the names each is known by
// (links), one node per directory and per hard-linked file, and forgetting them.
import type { DirFds } from './dirfds';
import { fail } from './errors';
import type { LayerStack } from './layers';
import { Loc, Node, NO_LOWERS, Resolved, ROOT_ID, sameLoc, smallInt } from './node';
import { S_IFDIR, S_IFMT } from './real';

export class Inodes {
  private readonly nodes = new Map<number, Node>();
  /** hard-linked non-directories by the identity of their real object: one node for all names */
  private readonly byKey = new Map<number, Node>();
  /** st_ino an object had before this mount copied it up, by its upper identity */
  private readonly originIno = new Map<number, number>();
  private nextId = ROOT_ID + 1;
  /** nodes forgotten so far: a hint for when returning memory is worth a collection */
  dropped = 0;
  /** told of every node forgotten (its listing, say, goes with it) */
  onDrop: (node: Node) => void = () => {};
  readonly root: Node;

  constructor(private readonly stack: LayerStack, private readonly fds: DirFds, rootIno: number, rootLowers: Loc[]) {
    this.root = new Node(ROOT_ID, rootIno, S_IFDIR, stack.upper !== null, rootLowers);
    this.root.key = smallInt(rootIno);
    this.root.nlookup = 1;
    this.nodes.set(ROOT_ID, this.root);
  }

  get(id: number): Node {
    const n = this.nodes.get(id);
    if (!n) fail('ESTALE', `unknown node ${id}`);
    return n;
  }

  dir(id: number): Node {
    const n = this.get(id);
    if (!n.isDir) fail('ENOTDIR');
    return n;
  }

  /** Find or make the node for a resolved name, keeping one node per directory and per hard-linked file. */
  nodeFor(dir: Node, k: string, r: Resolved): Node {
    const type = r.st.mode & S_IFMT;
    const layer = r.layer === 0 ? this.stack.upper! : this.stack.lower(r.layer);
    const key = smallInt(this.stack.inodeNumber(layer, r.st.ino));
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

  /** A node for an upper file without a name (O_TMPFILE), until link(2) gives it one. */
  unnamed(type: number, key: number): Node {
    const node = new Node(this.nextId++, key, type, true, NO_LOWERS);
    node.key = key;
    node.unlinked = true;
    this.nodes.set(node.id, node);
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

  /** The node's object now has an upper copy, with this identity. */
  copiedUp(node: Node, key: number): void {
    this.originIno.set(key, node.ino);
    this.rekey(node, key);
    node.upper = true;
    if (!node.isDir) node.lowers = NO_LOWERS;
  }

  private rekey(node: Node, key: number): void {
    key = smallInt(key);
    const shared = this.byKey.get(node.key) === node;
    if (shared) this.byKey.delete(node.key);
    node.key = key;
    if (shared) this.byKey.set(key, node);
  }

  addLink(node: Node, parent: Node, name: string): void {
    node.pushLink(parent, name);
    parent.children!.set(name, node);
    parent.kids++;
    node.unlinked = false;
  }

  /** A new name made for an existing file (link(2)): from now on found by its identity too. */
  addHardLink(node: Node, parent: Node, name: string): void {
    this.addLink(node, parent, name);
    this.byKey.set(node.key, node);
  }

  dropLink(node: Node, parent: Node, name: string): void {
    const i = node.linkIndex(parent, name);
    if (i < 0) return;
    node.removeLink(i);
    if (parent.children!.get(name) === node) parent.children!.delete(name);
    parent.kids--;
    if (node.linkCount === 0) node.unlinked = true;
    this.maybeDrop(parent);
    this.maybeDrop(node);
  }

  moveLink(node: Node, from: Node, name: string, to: Node, newName: string): void {
    const i = node.linkIndex(from, name);
    if (from.children!.get(name) === node) from.children!.delete(name);
    if (i >= 0) node.setLink(i, to, newName);
    else node.pushLink(to, newName);
    to.children!.set(newName, node);
    to.kids++;
    if (i >= 0) from.kids--;
    this.maybeDrop(from);
  }

  /** Give a node's names to a fresh node at the next lookup; the old one keeps serving
   *  the files already open on it. */
  detach(node: Node): void {
    const links = node.takeLinks();
    node.detached = true;
    if (this.byKey.get(node.key) === node) this.byKey.delete(node.key);
    for (const l of links) {
      if (l.parent.children!.get(l.name) === node) l.parent.children!.delete(l.name);
      l.parent.kids--;
      this.maybeDrop(l.parent);
    }
  }

  /** The kernel dropped n references (to a node it may no longer know, after a crash of ours). */
  forget(id: number, n: number): void {
    const node = this.nodes.get(id);
    if (!node) return;
    node.nlookup = Math.max(0, node.nlookup - n);
    this.maybeDrop(node);
  }

  /** Forget a node nobody holds: not the kernel, not an open file, not a child. */
  maybeDrop(node: Node): void {
    if (node.nlookup > 0 || node.opens > 0 || node.kids > 0 || node.id === ROOT_ID) return;
    if (!this.nodes.has(node.id)) return;
    this.nodes.delete(node.id);
    this.dropped++;
    this.onDrop(node);
    if (node.isDir) {
      this.fds.forget(node);
      for (const l of node.lowers) this.fds.forget(l);
    }
    if (this.byKey.get(node.key) === node) this.byKey.delete(node.key);
    const links = node.takeLinks();
    for (const l of links) {
      if (l.parent.children!.get(l.name) === node) l.parent.children!.delete(l.name);
      l.parent.kids--;
      this.maybeDrop(l.parent);
    }
  }
}
