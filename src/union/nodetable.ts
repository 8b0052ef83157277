// The storage behind the union's nodes: every per-inode field in a typed array indexed by
// a slot number, every name in one byte arena, and the (parent, name) index an open-
// addressing hash over a Uint32Array. A walk of a big tree makes a node per entry; as
// JavaScript objects (a node, its lower Loc, its name string and two Map entries) that
// was some 300 bytes each on the heap, here it is under 100, outside the garbage
// collector's heap, and given back to the allocator when the kernel forgets the nodes.
//
// A slot is freed when its node is dropped and reused, the lowest free one first (so the
// arrays can shrink once the nodes at the top are gone). The number the kernel holds is
// the slot and a per-slot generation, bumped at each reuse: never the same number for
// two nodes while the generation has not wrapped (2^21 reuses of one slot).
import type { Loc } from './node';

/** A name after the first (a hard link): parent slot and name (latin1). Few nodes have any. */
export interface SlotLink {
  parent: number;
  name: string;
}

// bits
export const UPPER = 1;
export const UNLINKED = 2;
export const DETACHED = 4;
/** the non-directory's lower name is the bytes of its first name (one copy for both) */
const SHARED = 8;
/** the file type's bits (mode & S_IFMT, which is 0o170000) sit above the flags */
const TYPE_SHIFT = 4;
const S_IFDIR_BITS = 0o040000 >>> 12;

const MIN_SLOTS = 1024;
const MIN_HASH = 1024;
const MIN_ARENA = 16384;
const EMPTY = 0;
const TOMB = 0xffffffff;
const GEN_MASK = 0x1fffff;
const TWO32 = 4294967296;

function grown<T extends Float64Array | Uint32Array | Int32Array | Uint16Array | Uint8Array>(a: T, n: number): T {
  const b = new (a.constructor as new (n: number) => T)(n);
  b.set(a.length <= n ? a : (a.subarray(0, n) as T));
  return b;
}

function nextPow2(n: number): number {
  let c = MIN_HASH;
  while (c < n) c *= 2;
  return c;
}

function hashStr(parent: number, s: string): number {
  let h = (0x811c9dc5 ^ parent) >>> 0;
  h = Math.imul(h, 0x01000193);
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  h ^= h >>> 15;
  return h >>> 0;
}

function hashBytes(parent: number, b: Uint8Array, off: number, len: number): number {
  let h = (0x811c9dc5 ^ parent) >>> 0;
  h = Math.imul(h, 0x01000193);
  for (let i = off; i < off + len; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  h ^= h >>> 15;
  return h >>> 0;
}

export class NodeTable {
  private cap = MIN_SLOTS;
  /** slots below top have been handed out at some time; slot 0 never is (nodeid 0 is no inode) */
  private top = 1;
  private hint = 1;
  /** live nodes */
  count = 0;
  /** a bit per slot; slot 0's is set for good (it is never handed out) */
  private live = Uint32Array.of(1, ...new Array<number>(MIN_SLOTS / 32 - 1).fill(0));
  private gen = new Uint32Array(MIN_SLOTS);
  nlookup = new Float64Array(MIN_SLOTS);
  kids = new Uint32Array(MIN_SLOTS);
  key = new Float64Array(MIN_SLOTS);
  /** the flags and the file type */
  bits = new Uint8Array(MIN_SLOTS);
  /** the first name: its parent's slot (0: no name)... */
  parent = new Uint32Array(MIN_SLOTS);
  /** ...and its bytes in the arena */
  private nameOff = new Uint32Array(MIN_SLOTS);
  private nameLen = new Uint8Array(MIN_SLOTS);
  /** a non-directory's one lower object: its directory (an interned Loc; 0: none), and
   *  its name there: the bytes of its first name (SHARED), else in lowNames */
  private lowParent = new Uint32Array(MIN_SLOTS);
  private readonly lowNames = new Map<number, string>();
  /** open files, by slot: few nodes have any */
  readonly opens = new Map<number, number>();
  readonly lowerOpens = new Map<number, number>();
  /** st_ino where it is not the key (an object copied up here keeps its number) */
  private readonly inos = new Map<number, number>();
  /** a directory's lower directories (most have none) */
  readonly dirLowers = new Map<number, Loc[]>();
  /** names after the first, by slot */
  readonly moreLinks = new Map<number, SlotLink[]>();

  private arena = Buffer.allocUnsafe(MIN_ARENA);
  private arenaUsed = 0;
  private arenaDead = 0;

  /** (parent, first name) -> slot; the other names of hard-linked nodes are in `extra` */
  private hash = new Uint32Array(MIN_HASH);
  private hashCount = 0;
  private hashUsed = 0;
  private readonly extra = new Map<string, number>();

  /** the lower directories non-directories name, by number (0 is none) */
  private readonly locs: (Loc | null)[] = [null];
  private readonly locRefs: number[] = [0];
  private readonly locIds = new Map<Loc, number>();
  private readonly locFree: number[] = [];

  // ---------- slots ----------

  idOf(slot: number): number {
    return this.gen[slot]! * TWO32 + slot;
  }

  /** The live slot of a node id, or 0. */
  slotOf(id: number): number {
    const slot = id % TWO32;
    if (slot <= 0 || slot >= this.top || !Number.isInteger(id) || !this.isLive(slot)) return 0;
    return this.gen[slot] === Math.floor(id / TWO32) ? slot : 0;
  }

  isLive(slot: number): boolean {
    return (this.live[slot >>> 5]! & (1 << (slot & 31))) !== 0;
  }

  /** A fresh slot, every field zero: the lowest free one. */
  alloc(): number {
    let slot = 0;
    const words = (this.top + 31) >>> 5;
    for (let w = this.hint >>> 5; w < words; w++) {
      const word = this.live[w]!;
      if (word === 0xffffffff) continue;
      const s = w * 32 + 31 - Math.clz32(~word & (word + 1));
      if (s < this.top) slot = s;
      break;
    }
    if (slot === 0) {
      if (this.top === this.cap) this.resize(Math.ceil(this.cap * 1.5));
      slot = this.top++;
    }
    this.hint = slot + 1;
    this.live[slot >>> 5]! |= 1 << (slot & 31);
    this.count++;
    return slot;
  }

  /** The slot's node is gone: its names and lower go, the slot is free for another node. */
  free(slot: number): void {
    this.takeLinks(slot);
    this.setLower(slot, null, '');
    this.dirLowers.delete(slot);
    this.opens.delete(slot);
    this.lowerOpens.delete(slot);
    this.inos.delete(slot);
    this.live[slot >>> 5]! &= ~(1 << (slot & 31));
    this.count--;
    this.gen[slot] = (this.gen[slot]! + 1) & GEN_MASK;
    this.nlookup[slot] = 0;
    this.kids[slot] = 0;
    this.key[slot] = 0;
    this.bits[slot] = 0;
    if (slot < this.hint) this.hint = slot;
    if (slot === this.top - 1) {
      while (this.top > 1 && !this.isLive(this.top - 1)) this.top--;
      if (this.hint > this.top) this.hint = this.top;
      if (this.top < this.cap / 4 && this.cap > MIN_SLOTS) this.resize(Math.max(MIN_SLOTS, this.top * 2));
    }
    if (this.arenaDead > 65536 && this.arenaDead * 2 > this.arenaUsed) this.compactArena();
    if (this.hashCount * 8 < this.hash.length && this.hash.length > MIN_HASH) this.rehash(nextPow2(this.hashCount * 2));
  }

  /** Grow or shrink every per-slot array to n slots (n >= top). The generations of the
   *  slots cut off are forgotten: their numbers may come again, for nodes the kernel
   *  forgot long ago. */
  private resize(n: number): void {
    n = Math.ceil(n / 32) * 32;
    this.cap = n;
    this.live = grown(this.live, n / 32);
    this.gen = grown(this.gen, n);
    this.nlookup = grown(this.nlookup, n);
    this.kids = grown(this.kids, n);
    this.key = grown(this.key, n);
    this.bits = grown(this.bits, n);
    this.parent = grown(this.parent, n);
    this.nameOff = grown(this.nameOff, n);
    this.nameLen = grown(this.nameLen, n);
    this.lowParent = grown(this.lowParent, n);
  }

  /** slots the arrays have room for (for tests and the memory figures) */
  get capacity(): number {
    return this.cap;
  }

  // ---------- names ----------

  private putName(name: string): number {
    const len = name.length;
    if (len > 255) throw new Error(`a name of ${len} bytes`);
    if (this.arenaUsed + len > this.arena.length) {
      const live = this.arenaUsed - this.arenaDead;
      if (this.arenaDead > live) this.compactArena();
      if (this.arenaUsed + len > this.arena.length) {
        const b = Buffer.allocUnsafe(Math.max(MIN_ARENA, Math.ceil((this.arenaUsed + len) * 1.5)));
        this.arena.copy(b, 0, 0, this.arenaUsed);
        this.arena = b;
      }
    }
    const off = this.arenaUsed;
    this.arena.write(name, off, len, 'latin1');
    this.arenaUsed += len;
    return off;
  }

  private nameEquals(off: number, len: number, s: string): boolean {
    if (len !== s.length) return false;
    const a = this.arena;
    for (let i = 0; i < len; i++) if (a[off + i] !== s.charCodeAt(i)) return false;
    return true;
  }

  /** Copies the live names into a fresh arena sized for them. */
  private compactArena(): void {
    const live = this.arenaUsed - this.arenaDead;
    const b = Buffer.allocUnsafe(Math.max(MIN_ARENA, Math.ceil(live * 1.25)));
    let at = 0;
    const old = this.arena;
    for (let s = 1; s < this.top; s++) {
      if (!this.isLive(s)) continue;
      const len = this.nameLen[s]!;
      const off = this.nameOff[s]!;
      if (len > 0) old.copy(b, at, off, off + len);
      this.nameOff[s] = at;
      at += len;
    }
    this.arena = b;
    this.arenaUsed = at;
    this.arenaDead = 0;
  }

  /** The first name (latin1), '' if none. */
  name(slot: number): string {
    const len = this.nameLen[slot]!;
    if (len === 0) return '';
    const off = this.nameOff[slot]!;
    return this.arena.toString('latin1', off, off + len);
  }

  /** The first name's bytes go (a lower name that shares them is copied out first). */
  private dropName(slot: number): void {
    if (this.bits[slot]! & SHARED) {
      this.lowNames.set(slot, this.name(slot));
      this.bits[slot]! &= ~SHARED;
    }
    this.arenaDead += this.nameLen[slot]!;
    this.nameLen[slot] = 0;
    this.nameOff[slot] = 0;
  }

  private setFirst(slot: number, parent: number, name: string): void {
    this.dropName(slot);
    this.parent[slot] = parent;
    this.nameOff[slot] = this.putName(name);
    this.nameLen[slot] = name.length;
  }

  // ---------- the other fields ----------

  /** mode & S_IFMT */
  type(slot: number): number {
    return (this.bits[slot]! >>> TYPE_SHIFT) << 12;
  }

  isDir(slot: number): boolean {
    return this.bits[slot]! >>> TYPE_SHIFT === S_IFDIR_BITS;
  }

  setType(slot: number, type: number): void {
    this.bits[slot] = (this.bits[slot]! & ((1 << TYPE_SHIFT) - 1)) | ((type >>> 12) << TYPE_SHIFT);
  }

  flag(slot: number, bit: number): boolean {
    return (this.bits[slot]! & bit) !== 0;
  }

  setFlag(slot: number, bit: number, v: boolean): void {
    this.bits[slot] = v ? this.bits[slot]! | bit : this.bits[slot]! & ~bit;
  }

  ino(slot: number): number {
    return this.inos.get(slot) ?? this.key[slot]!;
  }

  setIno(slot: number, ino: number): void {
    if (ino === this.key[slot]) this.inos.delete(slot);
    else this.inos.set(slot, ino);
  }

  /** A new key; the inode number stays. */
  setKey(slot: number, key: number): void {
    const ino = this.ino(slot);
    this.key[slot] = key;
    this.setIno(slot, ino);
  }

  /** Adds d to a count kept in a map (nothing kept for zero). */
  static bump(m: Map<number, number>, slot: number, d: number): void {
    const v = (m.get(slot) ?? 0) + d;
    if (v === 0) m.delete(slot);
    else m.set(slot, v);
  }

  // ---------- a non-directory's lower object ----------

  hasLower(slot: number): boolean {
    return this.lowParent[slot] !== 0;
  }

  lowName(slot: number): string {
    return this.bits[slot]! & SHARED ? this.name(slot) : this.lowNames.get(slot)!;
  }

  lowDir(slot: number): Loc {
    return this.locs[this.lowParent[slot]!]!;
  }

  /** dir null: none */
  setLower(slot: number, dir: Loc | null, name: string): void {
    if (this.lowParent[slot] !== 0) {
      this.bits[slot]! &= ~SHARED;
      this.lowNames.delete(slot);
      this.unrefLoc(this.lowParent[slot]!);
      this.lowParent[slot] = 0;
    }
    if (dir === null) return;
    if (this.parent[slot] !== 0 && this.nameEquals(this.nameOff[slot]!, this.nameLen[slot]!, name)) this.bits[slot]! |= SHARED;
    else this.lowNames.set(slot, name);
    this.lowParent[slot] = this.refLoc(dir);
  }

  private refLoc(loc: Loc): number {
    let id = this.locIds.get(loc);
    if (id === undefined) {
      id = this.locFree.pop() ?? this.locs.length;
      this.locs[id] = loc;
      this.locRefs[id] = 0;
      this.locIds.set(loc, id);
    }
    this.locRefs[id]!++;
    return id;
  }

  private unrefLoc(id: number): void {
    if (id === 0) return;
    if (--this.locRefs[id]! > 0) return;
    this.locIds.delete(this.locs[id]!);
    this.locs[id] = null;
    this.locFree.push(id);
  }

  // ---------- names and the (parent, name) index ----------

  linkCount(slot: number): number {
    if (this.parent[slot] === 0) return 0;
    const more = this.moreLinks.get(slot);
    return more ? 1 + more.length : 1;
  }

  /** Its names, first first (a fresh array). */
  links(slot: number): SlotLink[] {
    if (this.parent[slot] === 0) return [];
    const first: SlotLink = { parent: this.parent[slot]!, name: this.name(slot) };
    const more = this.moreLinks.get(slot);
    return more ? [first, ...more] : [first];
  }

  linkIndex(slot: number, parent: number, name: string): number {
    if (this.parent[slot] === 0) return -1;
    if (this.parent[slot] === parent && this.nameEquals(this.nameOff[slot]!, this.nameLen[slot]!, name)) return 0;
    const more = this.moreLinks.get(slot);
    if (!more) return -1;
    const i = more.findIndex((l) => l.parent === parent && l.name === name);
    return i < 0 ? -1 : i + 1;
  }

  /** A name after the ones it has. */
  pushLink(slot: number, parent: number, name: string): void {
    if (this.parent[slot] === 0) {
      this.setFirst(slot, parent, name);
      return;
    }
    const more = this.moreLinks.get(slot);
    if (more) more.push({ parent, name });
    else this.moreLinks.set(slot, [{ parent, name }]);
  }

  /** Name i becomes parent/name, in its place. The caller has taken the old name out of
   *  the index. */
  setLink(slot: number, i: number, parent: number, name: string): void {
    if (i === 0) this.setFirst(slot, parent, name);
    else this.moreLinks.get(slot)![i - 1] = { parent, name };
  }

  /** Name i goes; the ones after it move up. The caller has taken it out of the index. */
  removeLink(slot: number, i: number): void {
    const more = this.moreLinks.get(slot);
    if (i === 0) {
      const next = more ? more.shift() : undefined;
      // an index entry for the name that becomes the first moves to the main hash
      const child = next ? this.extra.get(extraKey(next.parent, next.name)) : undefined;
      if (next && child === slot) this.extra.delete(extraKey(next.parent, next.name));
      this.dropName(slot);
      this.parent[slot] = 0;
      if (next) this.setFirst(slot, next.parent, next.name);
      if (next && child === slot) this.childSet(next.parent, next.name, slot);
    } else more!.splice(i - 1, 1);
    if (more && more.length === 0) this.moreLinks.delete(slot);
  }

  /** All its names go (the caller has taken them out of the index); returns them. */
  takeLinks(slot: number): SlotLink[] {
    const all = this.links(slot);
    if (this.parent[slot] !== 0) this.dropName(slot);
    this.parent[slot] = 0;
    this.moreLinks.delete(slot);
    return all;
  }

  /** The hash bucket of the entry whose slot's first name is parent/name, or -1. */
  private find(parent: number, name: string): number {
    const h = this.hash;
    const mask = h.length - 1;
    for (let i = hashStr(parent, name) & mask; ; i = (i + 1) & mask) {
      const s = h[i]!;
      if (s === EMPTY) return -1;
      if (s !== TOMB && this.parent[s] === parent && this.nameEquals(this.nameOff[s]!, this.nameLen[s]!, name)) return i;
    }
  }

  /** The node the index holds under parent/name, or 0 (a Map's get). */
  childGet(parent: number, name: string): number {
    const i = this.find(parent, name);
    if (i >= 0) return this.hash[i]!;
    if (this.extra.size === 0) return 0;
    return this.extra.get(extraKey(parent, name)) ?? 0;
  }

  /** parent/name -> slot, in place of whatever the index held under it (a Map's set). The
   *  slot has that name already. */
  childSet(parent: number, name: string, slot: number): void {
    this.childDelete(parent, name);
    if (this.parent[slot] !== parent || !this.nameEquals(this.nameOff[slot]!, this.nameLen[slot]!, name)) {
      // not its first name: a hard link's other name
      this.extra.set(extraKey(parent, name), slot);
      return;
    }
    if ((this.hashUsed + 1) * 10 > this.hash.length * 6) this.rehash(nextPow2((this.hashCount + 1) * 2));
    const h = this.hash;
    const mask = h.length - 1;
    let i = hashStr(parent, name) & mask;
    while (h[i] !== EMPTY && h[i] !== TOMB) i = (i + 1) & mask;
    if (h[i] === EMPTY) this.hashUsed++;
    h[i] = slot;
    this.hashCount++;
  }

  /** Takes parent/name out of the index (a Map's delete). */
  childDelete(parent: number, name: string): void {
    const i = this.find(parent, name);
    if (i >= 0) {
      this.hash[i] = TOMB;
      this.hashCount--;
      return;
    }
    if (this.extra.size !== 0) this.extra.delete(extraKey(parent, name));
  }

  private rehash(n: number): void {
    const old = this.hash;
    const h = new Uint32Array(n);
    const mask = n - 1;
    for (let k = 0; k < old.length; k++) {
      const s = old[k]!;
      if (s === EMPTY || s === TOMB) continue;
      let i = hashBytes(this.parent[s]!, this.arena, this.nameOff[s]!, this.nameLen[s]!) & mask;
      while (h[i] !== EMPTY) i = (i + 1) & mask;
      h[i] = s;
    }
    this.hash = h;
    this.hashUsed = this.hashCount;
  }

  /** Bytes held outside the JavaScript heap's objects (for tests and the memory figures). */
  get bytes(): number {
    return this.cap * 34 + this.live.byteLength + this.hash.byteLength + this.arena.length;
  }
}

function extraKey(parent: number, name: string): string {
  return parent + '/' + name;
}
