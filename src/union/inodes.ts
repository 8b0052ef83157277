// The inode table: the nodes the kernel holds by number, the names each is known by
// (links), one node per directory and per hard-linked file, and forgetting them. The
// nodes' fields live in a NodeTable; a Node is a handle on one of its slots.
import type { DirFds } from './dirfds';
import { fail } from './errors';
import type { LayerStack } from './layers';
import { Loc, Node, NO_LOWERS, Resolved, ROOT_ID, sameLoc } from './node';
import { NodeTable, UNLINKED, UPPER } from './nodetable';
import { S_IFDIR, S_IFMT } from './real';

export class Inodes {
  readonly table = new NodeTable();
  /** hard-linked non-directories by the identity of their real object: one node for all names (slots) */
  private readonly byKey = new Map<number, number>();
  /** st_ino an object had before this mount copied it up, by its upper identity */
  private readonly originIno = new Map<number, number>();
  /** nodes forgotten so far: a hint for when returning memory is worth a collection */
  dropped = 0;
  /** told of every node forgotten (its listing, say, goes with it) */
  onDrop: (node: Node) => void = () => {};
  readonly root: Node;

  constructor(private readonly stack: LayerStack, private readonly fds: DirFds, rootIno: number, rootLowers: Loc[]) {
    this.root = this.make(rootIno, rootIno, S_IFDIR, stack.upper !== null);
    if (this.root.id !== ROOT_ID) throw new Error('the root is not the first node');
    this.root.lowers = rootLowers;
    this.root.nlookup = 1;
  }

  private make(ino: number, key: number, type: number, upper: boolean): Node {
    const t = this.table;
    const slot = t.alloc();
    t.key[slot] = key;
    t.setIno(slot, ino);
    t.setType(slot, type);
    t.setFlag(slot, UPPER, upper);
    return new Node(t, t.idOf(slot), slot);
  }

  private node(slot: number): Node {
    return new Node(this.table, this.table.idOf(slot), slot);
  }

  get(id: number): Node {
    if (id === ROOT_ID) return this.root;
    const slot = this.table.slotOf(id);
    if (slot === 0) fail('ESTALE', `unknown node ${id}`);
    return new Node(this.table, id, slot);
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
    const key = this.stack.inodeNumber(layer, r.st.ino);
    const linked = type !== S_IFDIR && r.st.nlink > 1;
    const es = this.table.childGet(dir.slot, k);
    if (es !== 0) {
      const existing = this.node(es);
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
      const ss = this.byKey.get(key);
      const same = ss === undefined ? null : this.node(ss);
      if (same && !same.unlinked) {
        same.upper = r.upper;
        this.setLowers(same, r.lowers);
        this.addLink(same, dir, k);
        return same;
      }
    }
    // the key is the object's own inode number: reported unless it was copied up here
    const node = this.make(this.originIno.get(key) ?? key, key, type, r.upper);
    if (linked) this.byKey.set(key, node.slot);
    this.addLink(node, dir, k);
    // after the name: a lower name that is the same bytes is stored once
    node.lowers = r.lowers;
    return node;
  }

  /** A node for an upper file without a name (O_TMPFILE), until link(2) gives it one. */
  unnamed(type: number, key: number): Node {
    const node = this.make(key, key, type, true);
    node.unlinked = true;
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
    const shared = this.byKey.get(node.key) === node.slot;
    if (shared) this.byKey.delete(node.key);
    node.key = key;
    if (shared) this.byKey.set(key, node.slot);
  }

  addLink(node: Node, parent: Node, name: string): void {
    const t = this.table;
    t.pushLink(node.slot, parent.slot, name);
    t.childSet(parent.slot, name, node.slot);
    t.kids[parent.slot]!++;
    t.setFlag(node.slot, UNLINKED, false);
  }

  /** A new name made for an existing file (link(2)): from now on found by its identity too. */
  addHardLink(node: Node, parent: Node, name: string): void {
    this.addLink(node, parent, name);
    this.byKey.set(node.key, node.slot);
  }

  /** Takes parent/name out of the children index if it names this node there. */
  private unindex(slot: number, parent: number, name: string): void {
    const t = this.table;
    if (t.childGet(parent, name) === slot) t.childDelete(parent, name);
  }

  dropLink(node: Node, parent: Node, name: string): void {
    const t = this.table;
    const i = t.linkIndex(node.slot, parent.slot, name);
    if (i < 0) return;
    this.unindex(node.slot, parent.slot, name);
    t.removeLink(node.slot, i);
    t.kids[parent.slot]!--;
    if (t.linkCount(node.slot) === 0) node.unlinked = true;
    this.maybeDrop(parent);
    this.maybeDrop(node);
  }

  moveLink(node: Node, from: Node, name: string, to: Node, newName: string): void {
    const t = this.table;
    const i = t.linkIndex(node.slot, from.slot, name);
    this.unindex(node.slot, from.slot, name);
    if (i >= 0) t.setLink(node.slot, i, to.slot, newName);
    else t.pushLink(node.slot, to.slot, newName);
    t.childSet(to.slot, newName, node.slot);
    t.kids[to.slot]!++;
    if (i >= 0) t.kids[from.slot]!--;
    this.maybeDrop(from);
  }

  /** Its names go: out of the children index, each parent holding one child less. */
  private unlinkAll(node: Node): void {
    const t = this.table;
    const links = t.links(node.slot);
    for (const l of links) this.unindex(node.slot, l.parent, l.name);
    t.takeLinks(node.slot);
    for (const l of links) {
      t.kids[l.parent]!--;
      this.maybeDrop(this.node(l.parent));
    }
  }

  /** Give a node's names to a fresh node at the next lookup; the old one keeps serving
   *  the files already open on it. */
  detach(node: Node): void {
    node.detached = true;
    if (this.byKey.get(node.key) === node.slot) this.byKey.delete(node.key);
    this.unlinkAll(node);
  }

  /** The kernel dropped n references (to a node it may no longer know, after a crash of ours). */
  forget(id: number, n: number): void {
    const slot = this.table.slotOf(id);
    if (slot === 0) return;
    const node = new Node(this.table, id, slot);
    node.nlookup = Math.max(0, node.nlookup - n);
    this.maybeDrop(node);
  }

  /** Forget a node nobody holds: not the kernel, not an open file, not a child. */
  maybeDrop(node: Node): void {
    if (node.nlookup > 0 || node.opens > 0 || node.kids > 0 || node.id === ROOT_ID) return;
    if (this.table.slotOf(node.id) !== node.slot) return;
    this.dropped++;
    this.onDrop(node);
    if (node.isDir) {
      this.fds.forget(node);
      for (const l of node.lowers) this.fds.forget(l);
    }
    if (this.byKey.get(node.key) === node.slot) this.byKey.delete(node.key);
    // its names first: they lead to its parents, which may go with it
    const t = this.table;
    const links = t.links(node.slot);
    for (const l of links) this.unindex(node.slot, l.parent, l.name);
    t.free(node.slot);
    for (const l of links) {
      t.kids[l.parent]!--;
      this.maybeDrop(this.node(l.parent));
    }
  }
}
