// The union's inodes: what the kernel holds by number, where each one lives in the
// layers, and the names it is known by.
import { DETACHED, NodeTable, UNLINKED, UPPER } from './nodetable';
import type { RealStat } from './real';

export const ROOT_ID = 1;

/**
 * A real object in a lower layer: the Loc of its directory (null for the layer root) and
 * its name there. Lower layers never change, so a Loc stays right for the life of the
 * mount, whatever moves in the merged tree; directory descriptors are cached by it.
 */
export class Loc {
  constructor(readonly layer: number, readonly parent: Loc | null, readonly name: string) {}
}

/** Its path from the layer root ("a/b"), or null once longer than max bytes. */
export function locPath(loc: Loc, max = Infinity): string | null {
  const parts: string[] = [];
  let len = 0;
  for (let l: Loc | null = loc; l && l.parent; l = l.parent) {
    len += l.name.length + 1;
    if (len - 1 > max) return null;
    parts.push(l.name);
  }
  return parts.reverse().join('/');
}

/** Do a and b name the same object (the same names from the same layer root)? */
export function sameLoc(a: Loc | null, b: Loc | null): boolean {
  while (a !== b) {
    if (!a || !b || a.name !== b.name || a.layer !== b.layer) return false;
    a = a.parent;
    b = b.parent;
  }
  return true;
}

export interface Link {
  parent: Node;
  /** latin1 (one char per byte of the name) */
  name: string;
}

/**
 * One per inode the kernel holds: a handle on its slot in the NodeTable, where all its
 * fields are (a walk of a big tree makes a node per entry; see nodetable.ts). Handles are
 * made as needed and thrown away, so two handles of one node are two objects: compare
 * nodes by id, never by identity. A handle is good while its node lives: one held across
 * requests (an open file's) keeps its node alive.
 */
export class Node {
  constructor(private readonly t: NodeTable, readonly id: number, readonly slot: number) {}

  get nlookup(): number {
    return this.t.nlookup[this.slot]!;
  }

  set nlookup(v: number) {
    this.t.nlookup[this.slot] = v;
  }

  /** open files and directories */
  get opens(): number {
    return this.t.opens.get(this.slot) ?? 0;
  }

  set opens(v: number) {
    NodeTable.bump(this.t.opens, this.slot, v - this.opens);
  }

  /** live child nodes naming this one as parent: a parent outlives its children */
  get kids(): number {
    return this.t.kids[this.slot]!;
  }

  set kids(v: number) {
    this.t.kids[this.slot] = v;
  }

  /** open handles reading the lower object */
  get lowerOpens(): number {
    return this.t.lowerOpens.get(this.slot) ?? 0;
  }

  set lowerOpens(v: number) {
    NodeTable.bump(this.t.lowerOpens, this.slot, v - this.lowerOpens);
  }

  /** identity of the real object on top (its inode number, made unique across filesystems) */
  get key(): number {
    return this.t.key[this.slot]!;
  }

  /** (its st_ino stays) */
  set key(v: number) {
    this.t.setKey(this.slot, v);
  }

  /** the number the kernel is told (st_ino) */
  get ino(): number {
    return this.t.ino(this.slot);
  }

  /** the first of its names (null: it has none): its parent... */
  get parent(): Node | null {
    const p = this.t.parent[this.slot]!;
    return p === 0 ? null : new Node(this.t, this.t.idOf(p), p);
  }

  /** ...and the name there (latin1, one char per byte) */
  get name(): string {
    return this.t.name(this.slot);
  }

  /** dirs: the lower dirs merged below the upper one, topmost first;
   *  non-dirs: the lower object while it is not copied up (at most one). Made on each
   *  read: where it is hot, topLower and lowerCount are used. */
  get lowers(): Loc[] {
    if (this.isDir) return this.t.dirLowers.get(this.slot) ?? NO_LOWERS;
    if (!this.t.hasLower(this.slot)) return NO_LOWERS;
    const dir = this.t.lowDir(this.slot);
    return [new Loc(dir.layer, dir, this.t.lowName(this.slot))];
  }

  set lowers(v: Loc[]) {
    if (this.isDir) {
      if (v.length) this.t.dirLowers.set(this.slot, v);
      else this.t.dirLowers.delete(this.slot);
    } else if (v.length > 1) throw new Error('a non-directory has one lower object at most');
    else if (v.length === 0) this.t.setLower(this.slot, null, '');
    else if (v[0]!.parent === null || v[0]!.parent.layer !== v[0]!.layer) throw new Error('a lower file is in a directory of its layer');
    else this.t.setLower(this.slot, v[0]!.parent, v[0]!.name);
  }

  /** lowers[0] */
  get topLower(): Loc | undefined {
    if (this.isDir) return this.lowers[0];
    if (!this.t.hasLower(this.slot)) return undefined;
    const dir = this.t.lowDir(this.slot);
    return new Loc(dir.layer, dir, this.t.lowName(this.slot));
  }

  /** lowers.length */
  get lowerCount(): number {
    if (this.isDir) return this.lowers.length;
    return this.t.hasLower(this.slot) ? 1 : 0;
  }

  /** mode & S_IFMT */
  get type(): number {
    return this.t.type(this.slot);
  }

  get isDir(): boolean {
    return this.t.isDir(this.slot);
  }

  /** true once the object exists in the upper layer (its path there is its merged path) */
  get upper(): boolean {
    return this.t.flag(this.slot, UPPER);
  }

  set upper(v: boolean) {
    this.flag(UPPER, v);
  }

  /** set when the last name is gone while the kernel or an open file still holds it */
  get unlinked(): boolean {
    return this.t.flag(this.slot, UNLINKED);
  }

  set unlinked(v: boolean) {
    this.flag(UNLINKED, v);
  }

  /** handed its names to a fresh node (see UnionFs.open); lives on for its open files */
  get detached(): boolean {
    return this.t.flag(this.slot, DETACHED);
  }

  set detached(v: boolean) {
    this.flag(DETACHED, v);
  }

  private flag(bit: number, v: boolean): void {
    this.t.setFlag(this.slot, bit, v);
  }

  /** How many names it has. */
  get linkCount(): number {
    return this.t.linkCount(this.slot);
  }

  /** Its names, first first (a fresh array). */
  links(): Link[] {
    return this.t.links(this.slot).map((l) => ({ parent: new Node(this.t, this.t.idOf(l.parent), l.parent), name: l.name }));
  }
}

/** shared by every node that merges no lower object; frozen, so a push would throw */
export const NO_LOWERS = Object.freeze([]) as unknown as Loc[];

export function nameKey(name: Buffer): string {
  return name.toString('latin1');
}

export interface Resolved {
  upper: boolean;
  lowers: Loc[];
  /** stat of the object on top */
  st: RealStat;
  /** layer index of the object on top (0 = upper) */
  layer: number;
}
