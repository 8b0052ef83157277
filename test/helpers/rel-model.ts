// A sequential model of a file tree and the crash scenarios' operation lists. The child
// that runs the operations and the checker that judges the tree after a crash share it.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Rng } from './rng';
import { sha256File } from '../../src/image/digest';

/** File content: `big` means "the lower big file's bytes first", then `tail`. */
export interface Content { big: boolean; tail: string } // tail as hex, so states are plain JSON
export type Entry = { t: 'dir' } | { t: 'file'; c: Content };
export type State = Map<string, Entry>;

export type Op =
  | { k: 'create'; p: string; data: string }
  | { k: 'append'; p: string; data: string }
  | { k: 'rename'; p: string; p2: string }
  | { k: 'unlink'; p: string }
  | { k: 'mkdir'; p: string }
  | { k: 'rmdir'; p: string };

export interface Scenario {
  name: string;
  /** the lower layer's tree; `big` files are written from random bytes of bigBytes */
  lower: State;
  ops: Op[];
}

export const SCENARIOS = ['copyup', 'rename', 'burst', 'fsync'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

const hex = (s: string | Buffer): string => (Buffer.isBuffer(s) ? s : Buffer.from(s)).toString('hex');
const file = (data: string | Buffer): Entry => ({ t: 'file', c: { big: false, tail: hex(data) } });

export function applyOp(s: State, op: Op): void {
  switch (op.k) {
    case 'create':
      s.set(op.p, { t: 'file', c: { big: false, tail: op.data } });
      return;
    case 'append': {
      const e = s.get(op.p);
      if (!e || e.t !== 'file') throw new Error(`model: append to ${op.p}, not a file`);
      s.set(op.p, { t: 'file', c: { big: e.c.big, tail: e.c.tail + op.data } });
      return;
    }
    case 'rename': {
      const moved: Array<[string, Entry]> = [];
      for (const [p, e] of s) if (p === op.p || p.startsWith(op.p + '/')) moved.push([p, e]);
      for (const [p] of moved) s.delete(p);
      for (const [p, e] of moved) s.set(op.p2 + p.slice(op.p.length), e);
      return;
    }
    case 'unlink':
    case 'rmdir':
      s.delete(op.p);
      return;
    case 'mkdir':
      s.set(op.p, { t: 'dir' });
      return;
  }
}

export function stateAfter(sc: Scenario, n: number): State {
  const s: State = new Map(sc.lower);
  for (let i = 0; i < n && i < sc.ops.length; i++) applyOp(s, sc.ops[i]!);
  return s;
}

/** The states a crash during op n may leave: before it, after it, and for a create the
 *  empty file that exists between open(O_CREAT) and the write. */
export function crashStates(sc: Scenario, completed: number): Array<{ what: string; s: State }> {
  const before = stateAfter(sc, completed);
  const out = [{ what: `after ${completed} ops`, s: before }];
  const op = sc.ops[completed];
  if (!op) return out;
  const after = new Map(before);
  applyOp(after, op);
  out.push({ what: `after ${completed + 1} ops`, s: after });
  if (op.k === 'create') {
    const empty = new Map(before);
    empty.set(op.p, { t: 'file', c: { big: false, tail: '' } });
    out.push({ what: `op ${completed} created ${op.p} but did not write it yet`, s: empty });
  }
  return out;
}

function parentsExist(s: State, p: string): boolean {
  const d = path.posix.dirname(p);
  return d === '.' || s.get(d)?.t === 'dir';
}

function filesUnder(s: State, dir: string): string[] {
  return [...s].filter(([p, e]) => e.t === 'file' && path.posix.dirname(p) === dir).map(([p]) => p);
}

function childrenOf(s: State, dir: string): string[] {
  return [...s.keys()].filter((p) => path.posix.dirname(p) === dir);
}

/** Builds one scenario; the same seed gives the same lower tree and operations. */
export function makeScenario(name: ScenarioName, seed: number): Scenario {
  const rng = new Rng(seed);
  const lower: State = new Map();
  const ops: Op[] = [];
  const m: State = new Map();
  const push = (op: Op): void => {
    // a generator bug, not a filesystem bug
    if (op.k !== 'create' && op.k !== 'mkdir' && !m.has(op.p)) throw new Error(`scenario ${name}: op ${ops.length} on missing ${op.p}`);
    const target = op.k === 'rename' ? op.p2 : op.p;
    if ((op.k === 'create' || op.k === 'mkdir' || op.k === 'rename') && (!parentsExist(m, target) || m.has(target))) throw new Error(`scenario ${name}: op ${ops.length} makes ${target} without its parent or over an existing name`);
    ops.push(op);
    applyOp(m, op);
  };
  const data = (n: number): string => hex(rng.bytes(n));
  if (name === 'copyup') {
    lower.set('big', { t: 'file', c: { big: true, tail: '' } });
    lower.set('big2', { t: 'file', c: { big: true, tail: '' } });
    lower.set('small', file('a small lower file\n'));
    for (const [p, e] of lower) m.set(p, e);
    // the first write copies the whole big file up; the kill lands mostly inside that copy
    push({ k: 'append', p: 'big', data: data(100) });
    push({ k: 'append', p: 'small', data: data(10) });
    push({ k: 'append', p: 'big', data: data(4096) });
    push({ k: 'append', p: 'big2', data: data(7) });
    push({ k: 'create', p: 'new', data: data(50) });
  } else if (name === 'rename') {
    for (let d = 0; d < 3; d++) {
      lower.set(`d${d}`, { t: 'dir' });
      for (let s = 0; s < 4; s++) {
        lower.set(`d${d}/s${s}`, { t: 'dir' });
        for (let f = 0; f < 10; f++) lower.set(`d${d}/s${s}/f${f}`, file(`d${d}/s${s}/f${f} ${'x'.repeat(f * 37)}`));
      }
    }
    for (const [p, e] of lower) m.set(p, e);
    let n = 0;
    for (let i = 0; i < 60; i++) {
      const tops = childrenOf(m, '.').filter((p) => m.get(p)!.t === 'dir');
      const choice = rng.int(0, 9);
      const top = rng.pick(tops);
      if (choice < 4) {
        push({ k: 'rename', p: top, p2: `r${n++}` });
      } else if (choice < 7) {
        const subs = childrenOf(m, top).filter((p) => m.get(p)!.t === 'dir');
        const to = rng.pick(tops);
        if (subs.length) push({ k: 'rename', p: rng.pick(subs), p2: `${to}/m${n++}` });
      } else if (choice < 9) {
        const subs = [...m].filter(([p, e]) => e.t === 'dir' && p.includes('/')).map(([p]) => p);
        if (!subs.length) continue;
        const files = filesUnder(m, rng.pick(subs));
        if (files.length) push({ k: 'rename', p: rng.pick(files), p2: `${rng.pick(subs)}/g${n++}` });
      } else {
        push({ k: 'create', p: `${top}/c${n++}`, data: data(rng.int(0, 300)) });
      }
    }
  } else if (name === 'burst') {
    lower.set('b', { t: 'dir' });
    for (let i = 0; i < 100; i++) lower.set(`b/l${i}`, file(`lower file ${i}\n`));
    for (const [p, e] of lower) m.set(p, e);
    const dirs: string[] = [];
    for (let i = 0; i < 4000; i++) {
      const r = rng.int(0, 19);
      if (r < 10) {
        push({ k: 'create', p: `b/n${i}`, data: data(rng.int(0, 200)) });
      } else if (r < 17) {
        const files = filesUnder(m, 'b');
        if (files.length) push({ k: 'unlink', p: rng.pick(files) });
      } else if (r < 18) {
        push({ k: 'mkdir', p: `b/d${i}` });
        dirs.push(`b/d${i}`);
      } else {
        const empty = dirs.filter((d) => m.has(d) && childrenOf(m, d).length === 0);
        if (empty.length) push({ k: 'rmdir', p: rng.pick(empty) });
        else if (dirs.length && m.has(dirs[dirs.length - 1]!)) push({ k: 'create', p: `${dirs[dirs.length - 1]}/f${i}`, data: data(20) });
      }
    }
  } else {
    lower.set('log', file(Buffer.alloc(1 << 20, 0x2e)));
    lower.set('rec', { t: 'dir' });
    for (const [p, e] of lower) m.set(p, e);
    for (let i = 0; i < 3000; i++) {
      push({ k: 'append', p: 'log', data: hex(Buffer.from(`record ${String(i).padStart(8, '0')} `.padEnd(4096, String.fromCharCode(97 + (i % 26))))) });
      if (i % 8 === 7) push({ k: 'create', p: `rec/r${i}`, data: data(rng.int(1, 5000)) });
    }
  }
  return { name, lower, ops };
}

/** Writes the lower tree; big files get bigBytes of random data (shared by all of them). */
export function writeLower(sc: Scenario, dir: string, bigBytes: number): void {
  let bigFile: string | null = null;
  for (const [p, e] of [...sc.lower].sort(([a], [b]) => a.split('/').length - b.split('/').length)) {
    const real = path.join(dir, p);
    if (e.t === 'dir') {
      fs.mkdirSync(real, { mode: 0o755 });
      continue;
    }
    if (e.c.big) {
      if (bigFile) {
        fs.copyFileSync(bigFile, real);
      } else {
        const fd = fs.openSync(real, 'w', 0o644);
        const chunk = 8 << 20;
        for (let off = 0; off < bigBytes; off += chunk) fs.writeSync(fd, crypto.randomBytes(Math.min(chunk, bigBytes - off)));
        fs.closeSync(fd);
        bigFile = real;
      }
    }
    fs.appendFileSync(real, Buffer.from(e.c.tail, 'hex'), { mode: 0o644 });
  }
}


/** Expected digests, given the lower big file (hashed once, then extended per tail). */
export class Digester {
  private bigHash: crypto.Hash | null = null;
  private memo = new Map<string, string>();
  constructor(private readonly bigPath: string | null) {}
  of(c: Content): string {
    const key = `${c.big ? 'B' : ''}:${c.tail}`;
    let d = this.memo.get(key);
    if (d) return d;
    let h: crypto.Hash;
    if (c.big) {
      if (!this.bigPath) throw new Error('no big file');
      if (!this.bigHash) {
        this.bigHash = crypto.createHash('sha256');
        const fd = fs.openSync(this.bigPath, 'r');
        const buf = Buffer.allocUnsafe(4 << 20);
        for (;;) {
          const n = fs.readSync(fd, buf, 0, buf.length, null);
          if (n === 0) break;
          this.bigHash.update(buf.subarray(0, n));
        }
        fs.closeSync(fd);
      }
      h = this.bigHash.copy();
    } else {
      h = crypto.createHash('sha256');
    }
    h.update(Buffer.from(c.tail, 'hex'));
    d = h.digest('hex');
    this.memo.set(key, d);
    return d;
  }
}

/** The tree as seen at `root`: "dir" or a file's sha256, per relative path. */
export function readTree(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string): void => {
    for (const name of fs.readdirSync(path.join(root, rel))) {
      const r = rel ? `${rel}/${name}` : name;
      const st = fs.lstatSync(path.join(root, r));
      if (st.isDirectory()) {
        out.set(r, 'dir');
        walk(r);
      } else if (st.isFile()) {
        out.set(r, sha256File(path.join(root, r)));
      } else {
        out.set(r, `other mode=${st.mode.toString(8)}`);
      }
    }
  };
  walk('');
  return out;
}

export function expectedTree(s: State, dg: Digester): Map<string, string> {
  const out = new Map<string, string>();
  for (const [p, e] of s) out.set(p, e.t === 'dir' ? 'dir' : dg.of(e.c));
  return out;
}

export function treeDiff(actual: Map<string, string>, expected: Map<string, string>, max = 12): string[] {
  const out: string[] = [];
  for (const p of [...new Set([...actual.keys(), ...expected.keys()])].sort()) {
    const a = actual.get(p);
    const e = expected.get(p);
    if (a === e) continue;
    out.push(`${p}: expected ${e === undefined ? 'absent' : e.slice(0, 12)}, found ${a === undefined ? 'absent' : a.slice(0, 12)}`);
    if (out.length >= max) {
      out.push('...');
      break;
    }
  }
  return out;
}
