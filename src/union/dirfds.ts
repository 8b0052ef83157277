// Directory descriptors for the layers, so that every operation names its object relative
// to the parent directory, as libfuse's passthrough_hp keeps a descriptor per inode:
// no path is ever longer than one name, however deep the tree.
//
// A bounded LRU of them, keyed by what a directory is to the union: a merged directory
// node (its upper directory; the merged path is the upper path) or a Loc (a directory in
// a lower layer). One evicted or never opened is reopened from the nearest cached
// ancestor, walking down by name, never through a symlink (openDirAt). A descriptor
// follows its directory across renames, so an upper one stays right when the directory
// or an ancestor moves; the caller forgets an entry whose directory is replaced or removed.
import * as fs from 'node:fs';
import { native } from '../native';
import { fail } from './errors';
import type { LayerStack } from './layers';
import { errnoName } from './real';
import { Loc, Node, ROOT_ID } from './node';

/** How many directories stay open: well below the descriptor limit, which open files,
 *  the FUSE device and Node itself share. */
export function dirFdBudget(nofileLimit: number): number {
  return Math.min(4096, Math.max(64, Math.floor(nofileLimit / 8)));
}

/** a merged directory by its node's id, a lower one by its Loc */
type Key = number | Loc;

/** Least recently used first, by a Map's insertion order; every value that leaves (pushed
 *  out, deleted, replaced, cleared) goes to dispose. */
class Lru<K, V> {
  private readonly map = new Map<K, V>();

  constructor(private readonly max: number, private readonly dispose: (v: V) => void) {}

  get(k: K): V | undefined {
    const v = this.map.get(k);
    if (v !== undefined) {
      this.map.delete(k);
      this.map.set(k, v);
    }
    return v;
  }

  set(k: K, v: V): void {
    const old = this.map.get(k);
    if (old !== undefined) {
      this.map.delete(k);
      if (old !== v) this.dispose(old);
    }
    this.map.set(k, v);
    if (this.map.size > this.max) {
      const [oldest, ov] = this.map.entries().next().value as [K, V];
      this.map.delete(oldest);
      this.dispose(ov);
    }
  }

  delete(k: K): void {
    const v = this.map.get(k);
    if (v === undefined) return;
    this.map.delete(k);
    this.dispose(v);
  }

  get size(): number {
    return this.map.size;
  }

  clear(): void {
    const vs = [...this.map.values()];
    this.map.clear();
    for (const v of vs) this.dispose(v);
  }
}

export class DirFds {
  private readonly cache: Lru<Key, number>;
  /** Evicted descriptors are closed when the next request begins (settle) or the event
   *  loop is idle, whichever is first: the current request may still hold one (a rename
   *  holds two directories while it opens more), and a closed number would be reused by
   *  the very next open, for another directory. */
  private retired: number[] = [];
  private closing = false;
  /** descriptors read to the end once: a listing must seek back first */
  private readonly read = new Set<number>();
  /** a walk caches at most this many of the directories it passes through */
  private readonly walkCache: number;

  constructor(private readonly stack: LayerStack, readonly max: number) {
    this.cache = new Lru<Key, number>(max, (fd) => this.retire(fd));
    this.walkCache = Math.max(8, Math.floor(max / 4));
  }

  /** The upper directory of a merged directory node that exists in the upper layer. */
  upper(node: Node): number {
    const hit = this.cache.get(node.id);
    if (hit !== undefined) return hit;
    // the uncached ancestors, nearest first; the root's is the layer's own
    const chain: Node[] = [];
    let n: Node = node;
    let fd: number;
    for (;;) {
      const p = n.parent;
      if (!p) {
        if (n.id !== ROOT_ID) fail('ESTALE', 'directory has no name');
        fd = this.stack.upper!.rootFd;
        break;
      }
      chain.push(n);
      const c = this.cache.get(p.id);
      if (c !== undefined) {
        fd = c;
        break;
      }
      n = p;
    }
    return this.walkDown(chain, fd, (k) => k.name, (k) => k.id);
  }

  /** A directory in a lower layer. */
  lower(loc: Loc): number {
    if (loc.parent === null) return this.stack.lower(loc.layer).rootFd;
    const hit = this.cache.get(loc);
    if (hit !== undefined) return hit;
    const chain: Loc[] = [];
    let l: Loc = loc;
    let fd: number;
    for (;;) {
      chain.push(l);
      const p = l.parent!;
      if (p.parent === null) {
        fd = this.stack.lower(p.layer).rootFd;
        break;
      }
      const c = this.cache.get(p);
      if (c !== undefined) {
        fd = c;
        break;
      }
      l = p;
    }
    return this.walkDown(chain, fd, (k) => k.name, (k) => k);
  }

  /** The entries of a directory held here (a layer root or a cached one), in getdents form. */
  readdir(fd: number): Buffer {
    const rewind = this.read.has(fd);
    this.read.add(fd);
    return native.readdirFd(fd, rewind);
  }

  /** The directory holding a node's upper object (the layer root for the root itself). */
  upperParent(node: Node): number {
    const p = node.parent;
    if (p) return this.upper(p);
    if (node.id === ROOT_ID) return this.stack.upper!.rootFd;
    fail('ESTALE', 'node has no name');
  }

  /** The parent directory of a lower object (its layer root's for the root itself). */
  lowerParent(loc: Loc): number {
    return loc.parent === null ? this.stack.lower(loc.layer).rootFd : this.lower(loc.parent);
  }

  /** Opens chain (nearest first) from fd, the directory of the farthest one's parent. */
  private walkDown<K>(chain: K[], fd: number, nameOf: (k: K) => string, keyOf: (k: K) => Key): number {
    let temporary = false;
    for (let i = chain.length - 1; i >= 0; i--) {
      const k = chain[i]!;
      const next = native.openDirAt(fd, nameOf(k));
      // a very long walk caches its lower end only: the rest would push out what is in
      // use; those it passes through are nobody else's and are closed at once
      if (temporary) fs.closeSync(fd);
      if (next < 0) fail(errnoName(next), 'opening a layer directory');
      temporary = i >= this.walkCache;
      if (!temporary) this.cache.set(keyOf(k), next);
      fd = next;
    }
    return fd;
  }

  /** The descriptor of a directory found in a walk from a layer root, cached under key. */
  add(key: Loc, fd: number): void {
    this.cache.set(key, fd);
  }

  /** The directory of key was removed or replaced, or its node is gone. */
  forget(key: Node | Loc): void {
    this.cache.delete(key instanceof Loc ? key : key.id);
  }

  private retire(fd: number): void {
    this.retired.push(fd);
    if (this.closing) return;
    this.closing = true;
    queueMicrotask(() => this.settle());
  }

  /** A request begins: the descriptors earlier ones retired are nobody's now. Every
   *  request that uses directory descriptors calls this first. */
  settle(): void {
    this.closing = false;
    if (this.retired.length === 0) return;
    const fds = this.retired;
    this.retired = [];
    for (const fd of fds) {
      this.read.delete(fd);
      try {
        fs.closeSync(fd);
      } catch {
        // closed already: nothing to do
      }
    }
  }

  get size(): number {
    return this.cache.size;
  }

  /** Close everything now (the union is done). */
  clear(): void {
    this.cache.clear();
    this.settle();
  }
}
