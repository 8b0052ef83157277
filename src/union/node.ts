// The union's inodes: what the kernel holds by number, where each one lives in the
// layers, and the names it is known by.
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
  /** latin1 (one char per byte of the name), also the key in the parent's children */
  name: string;
}

// Node's flag bits: one small integer in place of four fields
const UPPER = 1;
const UNLINKED = 2;
const DETACHED = 4;
/** the file type (mode & S_IFMT) sits above the flags */
const TYPE_SHIFT = 3;

/** A node's names after the first (hard links), in the order they were made: few nodes have any. */
const moreLinks = new WeakMap<Node, Link[]>();

/** A number as V8 keeps it in a small integer where it fits: stat fields arrive as doubles
 *  (from a Float64Array), and one double stored in a field makes that field a separate
 *  heap box in every node. */
export function smallInt(n: number): number {
  return n >= -0x40000000 && n < 0x40000000 && n === Math.floor(n) ? n | 0 : n;
}

/**
 * One per inode the kernel holds. A walk of a big tree makes one for every entry, so a
 * node is kept small: no per-node arrays or link objects for the common case of one name
 * (its first name is two fields; only further hard links take an array), the flags in one
 * integer, and nothing a node without lowers or children needs beyond a shared constant.
 */
export class Node {
  nlookup = 0;
  opens = 0;
  /** live child nodes naming this one as parent: a parent outlives its children */
  kids = 0;
  /** open handles reading the lower object */
  lowerOpens = 0;
  /** identity of the real object on top (its inode number, made unique across filesystems) */
  key = 0;
  private bits: number;
  /** the first of its names (null: it has none): the parent whose children hold it... */
  parent: Node | null = null;
  /** ...under this name (latin1, one char per byte, also the key in the parent's children) */
  name = '';
  children: Map<string, Node> | null;
  /** dirs: their lowers array; non-dirs: their one lower object, or null (no array per file) */
  private lw: Loc[] | Loc | null;

  /** the number the kernel is told (st_ino) */
  ino: number;

  constructor(readonly id: number, ino: number, type: number, upper: boolean, lowers: Loc[]) {
    this.ino = smallInt(ino);
    this.bits = (upper ? UPPER : 0) | (type << TYPE_SHIFT);
    this.children = type === 0o040000 ? new Map() : null;
    this.lw = null;
    this.lowers = lowers;
  }

  /** dirs: the lower dirs merged below the upper one, topmost first;
   *  non-dirs: the lower object while it is not copied up (at most one). A non-directory's
   *  array is made on each read: where it is hot, topLower and lowerCount are used. */
  get lowers(): Loc[] {
    const l = this.lw;
    if (this.children !== null) return l as Loc[];
    return l === null ? NO_LOWERS : [l as Loc];
  }

  set lowers(v: Loc[]) {
    if (this.children !== null) this.lw = v;
    else if (v.length > 1) throw new Error('a non-directory has one lower object at most');
    else this.lw = v.length ? v[0]! : null;
  }

  /** lowers[0] */
  get topLower(): Loc | undefined {
    const l = this.lw;
    if (this.children !== null) return (l as Loc[])[0];
    return l === null ? undefined : (l as Loc);
  }

  /** lowers.length */
  get lowerCount(): number {
    const l = this.lw;
    if (this.children !== null) return (l as Loc[]).length;
    return l === null ? 0 : 1;
  }

  /** mode & S_IFMT */
  get type(): number {
    return this.bits >>> TYPE_SHIFT;
  }

  get isDir(): boolean {
    return this.children !== null;
  }

  /** true once the object exists in the upper layer (its path there is its merged path) */
  get upper(): boolean {
    return (this.bits & UPPER) !== 0;
  }

  set upper(v: boolean) {
    this.bits = v ? this.bits | UPPER : this.bits & ~UPPER;
  }

  /** set when the last name is gone while the kernel or an open file still holds it */
  get unlinked(): boolean {
    return (this.bits & UNLINKED) !== 0;
  }

  set unlinked(v: boolean) {
    this.bits = v ? this.bits | UNLINKED : this.bits & ~UNLINKED;
  }

  /** handed its names to a fresh node (see UnionFs.open); lives on for its open files */
  get detached(): boolean {
    return (this.bits & DETACHED) !== 0;
  }

  set detached(v: boolean) {
    this.bits = v ? this.bits | DETACHED : this.bits & ~DETACHED;
  }

  /** How many names it has. */
  get linkCount(): number {
    if (this.parent === null) return 0;
    const more = moreLinks.get(this);
    return more ? 1 + more.length : 1;
  }

  /** Its names, first first (a fresh array). */
  links(): Link[] {
    if (this.parent === null) return [];
    const first: Link = { parent: this.parent, name: this.name };
    const more = moreLinks.get(this);
    return more ? [first, ...more] : [first];
  }

  /** Which of its names is parent/name: its index among links(), or -1. */
  linkIndex(parent: Node, name: string): number {
    if (this.parent === null) return -1;
    if (this.parent === parent && this.name === name) return 0;
    const more = moreLinks.get(this);
    if (!more) return -1;
    const i = more.findIndex((l) => l.parent === parent && l.name === name);
    return i < 0 ? -1 : i + 1;
  }

  /** A name after the ones it has. */
  pushLink(parent: Node, name: string): void {
    if (this.parent === null) {
      this.parent = parent;
      this.name = name;
      return;
    }
    const more = moreLinks.get(this);
    if (more) more.push({ parent, name });
    else moreLinks.set(this, [{ parent, name }]);
  }

  /** Name i becomes parent/name, in its place. */
  setLink(i: number, parent: Node, name: string): void {
    if (i === 0) {
      this.parent = parent;
      this.name = name;
    } else moreLinks.get(this)![i - 1] = { parent, name };
  }

  /** Name i goes; the ones after it move up. */
  removeLink(i: number): void {
    const more = moreLinks.get(this);
    if (i === 0) {
      const next = more ? more.shift() : undefined;
      this.parent = next ? next.parent : null;
      this.name = next ? next.name : '';
    } else more!.splice(i - 1, 1);
    if (more && more.length === 0) moreLinks.delete(this);
  }

  /** All its names go; returns them. */
  takeLinks(): Link[] {
    const all = this.links();
    this.parent = null;
    this.name = '';
    moreLinks.delete(this);
    return all;
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
