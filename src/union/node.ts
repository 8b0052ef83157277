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

export class Node {
  nlookup = 0;
  opens = 0;
  /** live child nodes naming this one as parent: a parent outlives its children */
  kids = 0;
  links: Link[] = [];
  children: Map<string, Node> | null;
  /** true once the object exists in the upper layer (its path there is its merged path) */
  upper: boolean;
  /** dirs: the lower dirs merged below the upper one, topmost first;
   *  non-dirs: the lower object while it is not copied up */
  lowers: Loc[];
  /** identity of the real object on top (its inode number, made unique across filesystems) */
  key = 0;
  /** set when the last name is gone while the kernel or an open file still holds it */
  unlinked = false;
  /** handed its names to a fresh node (see UnionFs.open); lives on for its open files */
  detached = false;
  /** open handles reading the lower object */
  lowerOpens = 0;

  constructor(readonly id: number, public ino: number, public type: number, upper: boolean, lowers: Loc[]) {
    this.upper = upper;
    this.lowers = lowers;
    this.children = type === 0o040000 ? new Map() : null;
  }

  get isDir(): boolean {
    return this.children !== null;
  }

  get parent(): Node | null {
    return this.links.length ? this.links[0]!.parent : null;
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
