import { LayerEntry } from './layers';
import { Rng } from './rng';

// Random lower layers and random operation sequences for the differential test.

// Names are bytes: two are not valid UTF-8 on purpose.
export const NAMES: Buffer[] = ['a', 'b', 'c', 'dd', 'e.txt', 'sub', 'x y', 'ünï'].map((s) => Buffer.from(s))
  .concat([Buffer.from([0x63, 0x61, 0x66, 0xe9]), Buffer.from([0xff, 0xfe, 0x41])]);
export const MODES_FILE = [0o644, 0o600, 0o755, 0o700, 0o444, 0o4755, 0o2755, 0o666, 0o000];
export const MODES_DIR = [0o755, 0o700, 0o1777, 0o2775, 0o777, 0o555];
export const OWNERS = [0, 1000, 1001];
// Symlink targets stay inside the tree or point below a directory that does not
// exist, so following them (chmod, O_CREAT, ...) can never touch the host.
export const TARGETS = ['a', 'sub/b', 'dd', 'sub', '/nonexistent-strata-test-dir/x', 'missing'];
// Lower hard links live here and are never modified: kernel overlayfs (index=off,
// the default) breaks a lower hard-link group on copy-up, which is not what
// strata-fs must imitate when it keeps links together.
export const HARDLINK_DIR = 'hl';

// The merged view while layers are generated (hex keys): what kind each path is
// and, for dirs, the entry that defines their metadata.
interface Node { kind: 'file' | 'dir' | 'other'; dir?: LayerEntry }
type Tree = Map<string, Node>;

export const key = (b: Buffer) => b.toString('hex');
export const unkey = (k: string) => Buffer.from(k, 'hex');
export const join = (dir: Buffer, name: Buffer) => (dir.length ? Buffer.concat([dir, Buffer.from('/'), name]) : name);
const isUnder = (child: string, parent: string) => child.startsWith(parent + '2f'); // "/" is 0x2f

function randomFile(rng: Rng, p: Buffer): LayerEntry {
  const e: LayerEntry = {
    p, t: 'file', mode: rng.pick(MODES_FILE), uid: rng.pick(OWNERS), gid: rng.pick(OWNERS),
    data: rng.bytes(rng.int(0, 3000)),
  };
  if (rng.chance(0.15)) {
    e.chunks = [[rng.int(8192, 65536), rng.bytes(100)]];
    e.size = 200_000;
  }
  if (rng.chance(0.3)) e.xattrs = { 'user.k1': rng.bytes(rng.int(0, 8)), 'user.k2': 'v' };
  if (rng.chance(0.3)) e.mtime = BigInt(rng.int(1, 2_000_000_000)) * 1_000_000_000n + BigInt(rng.int(0, 999_999_999));
  return e;
}

function randomDir(rng: Rng, p: Buffer, opaque = false): LayerEntry {
  return {
    p, t: 'dir', mode: rng.pick(MODES_DIR), uid: rng.pick(OWNERS), gid: rng.pick(OWNERS), opaque,
    xattrs: rng.chance(0.2) ? { 'user.dir': 'x' } : undefined,
  };
}

// One layer being written. Every dir a layer holds gets explicit metadata copied
// from the merged view (as layers-to-overlay does for implicit parents); otherwise
// a parent created on the way would be a root-owned 0755 dir hiding the lower one.
class LayerWriter {
  readonly out: LayerEntry[] = [];
  readonly written = new Set<string>(); // paths this layer already holds an entry for
  private dirs = new Set<string>();
  constructor(private tree: Tree, private upper: boolean) {}

  private parents(p: Buffer): void {
    if (!this.upper) return;
    const parts = p.toString('latin1').split('/');
    for (let i = 1; i < parts.length; i++) {
      const d = Buffer.from(parts.slice(0, i).join('/'), 'latin1');
      const k = key(d);
      if (this.dirs.has(k)) continue;
      this.dirs.add(k);
      const n = this.tree.get(k);
      if (!n?.dir) throw new Error(`generator: parent ${d.toString('latin1')} is not a dir`);
      this.out.push({ ...n.dir, p: d, opaque: false } as LayerEntry);
    }
  }

  add(e: LayerEntry, kind: Node['kind']): void {
    const p = e.p as Buffer;
    this.parents(p);
    this.written.add(key(p));
    if (e.t === 'dir') {
      this.dirs.add(key(p));
      this.tree.set(key(p), { kind, dir: e });
    } else if (e.t === 'whiteout') {
      removeSubtree(this.tree, key(p));
    } else {
      this.tree.set(key(p), { kind });
    }
    this.out.push(e);
  }
}

function fillDir(rng: Rng, tree: Tree, w: LayerWriter, dir: Buffer, depth: number): void {
  const n = rng.int(1, 5);
  for (let i = 0; i < n; i++) {
    const p = join(dir, rng.pick(NAMES));
    if (tree.has(key(p))) continue;
    const r = rng.next();
    if (r < 0.45) {
      w.add(randomFile(rng, p), 'file');
    } else if (r < 0.7 && depth < 3) {
      w.add(randomDir(rng, p), 'dir');
      fillDir(rng, tree, w, p, depth + 1);
    } else if (r < 0.9) {
      w.add({ p, t: 'symlink', target: rng.pick(TARGETS), uid: rng.pick(OWNERS), gid: 0 }, 'other');
    } else {
      w.add({ p, t: 'fifo', mode: 0o644 }, 'other');
    }
  }
}

function removeSubtree(tree: Tree, k: string): void {
  tree.delete(k);
  for (const c of [...tree.keys()]) if (isUnder(c, k)) tree.delete(c);
}

// Bottom layer: a random tree plus the fixed hard-link group. Upper layers:
// whiteouts, opaque dirs, rewritten files, type changes and new entries over it.
export function generateLayers(rng: Rng): LayerEntry[][] {
  const tree: Tree = new Map();
  const base = new LayerWriter(tree, false);
  for (const top of ['d1', 'd2', 'd3'].map((s) => Buffer.from(s))) {
    base.add(randomDir(rng, top), 'dir');
    fillDir(rng, tree, base, top, 1);
  }
  base.add({ p: Buffer.from('sticky'), t: 'dir', mode: 0o1777 }, 'dir');
  for (const u of OWNERS) {
    base.add({ p: Buffer.from(`sticky/of${u}`), t: 'file', uid: u, gid: u, mode: 0o666, data: `owned by ${u}` }, 'file');
  }
  base.out.push({ p: `${HARDLINK_DIR}/one`, t: 'file', data: 'linked' }, { p: `${HARDLINK_DIR}/two`, t: 'link', target: `${HARDLINK_DIR}/one` });
  const layers = [base.out];
  for (let l = 1; l < 3; l++) {
    const w = new LayerWriter(tree, true);
    for (const k of [...tree.keys()].sort()) {
      const node = tree.get(k);
      // removed earlier in this layer, or already (re)written by it
      if (!node || w.written.has(k)) continue;
      const p = unkey(k);
      if (p.toString() === 'sticky') continue; // stays a sticky dir for the uid 1000 batch
      // top-level dirs survive (they may turn opaque), so the tree never ends up empty
      const r = p.includes(0x2f) ? rng.next() : 0.09 + rng.next() * 0.91;
      if (r < 0.06) {
        w.add({ p, t: 'whiteout' }, 'other');
      } else if (r < 0.09) {
        removeSubtree(tree, k);
        if (node.kind === 'dir') {
          w.add(randomFile(rng, p), 'file');
        } else {
          w.add(randomDir(rng, p), 'dir');
          fillDir(rng, tree, w, p, 2);
        }
      } else if (node.kind === 'dir' && r < 0.2) {
        removeSubtree(tree, k);
        w.add(randomDir(rng, p, true), 'dir');
        fillDir(rng, tree, w, p, 2);
      } else if (node.kind === 'dir' && r < 0.35) {
        w.add(randomDir(rng, p), 'dir');
        fillDir(rng, tree, w, p, 2);
      } else if (node.kind === 'file' && r < 0.3) {
        w.add(randomFile(rng, p), 'file');
      }
    }
    layers.push(w.out);
  }
  return layers;
}

export interface Op { op: string; args: Record<string, unknown>; user?: boolean }

export type Kind = 'file' | 'dir' | 'other';

// Picks operands from a model of the tree that follows kernel overlayfs's results
// (deterministic for a seed), so most operations hit real objects; a share still
// aims at wrong types and missing names to compare the errnos.
export class OpGen {
  private live = new Map<string, Kind>();

  constructor(private rng: Rng, initial: Array<[Buffer, Kind]>) {
    for (const [p, k] of initial) this.live.set(key(p), k);
  }

  get size(): number {
    return this.live.size;
  }

  private existing(kind?: Kind): Buffer {
    const all = [...this.live.entries()];
    const want = kind && this.rng.chance(0.85) ? all.filter(([, k]) => k === kind) : all;
    const from = want.length ? want : all;
    if (!from.length) return this.rng.pick(NAMES);
    return unkey(this.rng.pick(from)[0]);
  }

  private fresh(): Buffer {
    const parent = this.rng.chance(0.2) ? Buffer.alloc(0) : this.existing('dir');
    return join(parent, this.rng.pick(NAMES));
  }

  private time(): string {
    return (BigInt(this.rng.int(1, 2_000_000_000)) * 1_000_000_000n + BigInt(this.rng.int(0, 999_999_999))).toString();
  }

  next(): Op {
    const r = this.rng;
    const flags = (...f: string[]) => f.filter(() => r.chance(0.3));
    const any = () => this.existing();
    switch (r.int(0, 27)) {
      case 0: case 1: return { op: 'create', args: { p: r.chance(0.8) ? this.fresh() : this.existing('file'), mode: r.pick(MODES_FILE), flags: flags('EXCL', 'TRUNC', 'APPEND') } };
      case 2: case 3: {
        const a: Record<string, unknown> = { p: this.existing('file'), data: r.bytes(r.int(1, 5000)), flags: flags('APPEND', 'TRUNC') };
        if (r.chance(0.6)) a.off = r.int(0, 70_000);
        return { op: 'write', args: a };
      }
      case 4: return { op: 'truncate', args: { p: this.existing('file'), n: r.pick([0, 1, 100, 4096, 100_000]) } };
      case 5: return { op: 'chmod', args: { p: any(), mode: r.pick([...MODES_FILE, ...MODES_DIR]) } };
      case 6: return { op: 'chown', args: { p: any(), uid: r.pick([...OWNERS, -1]), gid: r.pick([...OWNERS, -1]), nofollow: r.chance(0.5) } };
      case 7: return { op: 'utimens', args: { p: any(), atime: r.chance(0.2) ? 'omit' : this.time(), mtime: this.time(), nofollow: r.chance(0.5) } };
      case 8: return { op: 'link', args: { p: this.existing('file'), p2: r.chance(0.85) ? this.fresh() : any() } };
      case 9: return { op: 'symlink', args: { target: r.pick(TARGETS), p: this.fresh() } };
      case 10: case 11: {
        const src = r.chance(0.5) ? this.existing('dir') : any();
        const dst = r.chance(0.5) ? this.fresh() : this.existing(this.live.get(key(src)));
        return { op: 'rename', args: { p: src, p2: dst, flags: r.chance(0.75) ? [] : [r.pick(['NOREPLACE', 'EXCHANGE'])] } };
      }
      case 12: case 13: return { op: 'unlink', args: { p: r.chance(0.8) ? this.existing('file') : any() } };
      case 14: return { op: 'rmdir', args: { p: this.existing('dir') } };
      case 15: case 16: return { op: 'mkdir', args: { p: this.fresh(), mode: r.pick(MODES_DIR) } };
      case 17: return { op: 'setxattr', args: { p: any(), name: r.pick(['user.k1', 'user.k3', 'user.new']), value: r.bytes(r.int(0, 20)), flag: r.pick(['', '', 'CREATE', 'REPLACE']) } };
      case 18: return { op: 'removexattr', args: { p: any(), name: r.pick(['user.k1', 'user.k2', 'user.dir', 'user.new']) } };
      case 19: return { op: 'listxattr', args: { p: any() } };
      case 20: return { op: 'getxattr', args: { p: any(), name: r.pick(['user.k1', 'user.k2', 'user.new']) } };
      case 21: return { op: 'mknod', args: { p: this.fresh(), kind: 'fifo', mode: 0o644 } };
      case 22: case 23: return { op: 'read', args: { p: this.existing('file') } };
      case 24: return { op: 'readdir', args: { p: r.chance(0.2) ? Buffer.alloc(0) : this.existing('dir') } };
      case 25: case 26: return { op: 'lstat', args: { p: any() } };
      default: return { op: 'create', args: { p: this.existing('file'), mode: 0o644, flags: ['EXCL'] } };
    }
  }

  private moveTree(from: string, to: string | undefined): Array<[string, Kind]> {
    const moved: Array<[string, Kind]> = [];
    for (const [k, v] of [...this.live]) {
      if (k === from || isUnder(k, from)) {
        this.live.delete(k);
        moved.push([to === undefined ? k : to + k.slice(from.length), v]);
      }
    }
    return moved;
  }

  // Keeps the model in step with what the oracle did.
  observe(op: Op, ok: boolean): void {
    if (!ok) return;
    const p = key(op.args.p as Buffer);
    const p2 = op.args.p2 ? key(op.args.p2 as Buffer) : '';
    switch (op.op) {
      case 'create': case 'mknod': case 'symlink':
        if (!this.live.has(p)) this.live.set(p, op.op === 'create' ? 'file' : 'other');
        break;
      case 'mkdir': this.live.set(p, 'dir'); break;
      case 'link': this.live.set(p2, this.live.get(p) ?? 'file'); break;
      case 'unlink': case 'rmdir': this.moveTree(p, undefined); break;
      case 'rename': {
        if (p === p2) break;
        const a = this.moveTree(p, p2);
        const b = this.moveTree(p2, p);
        for (const [k, v] of a) this.live.set(k, v);
        if ((op.args.flags as string[]).includes('EXCHANGE')) for (const [k, v] of b) this.live.set(k, v);
        break;
      }
      default: break;
    }
  }
}

