// One writer process of the load test and the soak: a deterministic sequence of file
// operations in its own directory of the mount, checked against an in-memory model as it
// goes (reads verify content) and at the end (the whole directory). The same seed gives
// the same operations on any filesystem, so a run can be replayed on kernel overlayfs.
//
// usage: node rel-writer.js DIR SEED NOPS            (NOPS operations, then verify)
//        node rel-writer.js DIR SEED 0 SECONDS       (until SECONDS have passed; progress
//                                                    lines "P <ops>" on stdout each second)
// Prints one JSON line {ops, errors} at the end; exit 1 if any error.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Rng } from './rng';

type Model = Map<string, Buffer | 'dir'>; // relative to DIR; subdirectories are one level deep

export interface WriterResult { ops: number; errors: string[] }

/** Files a writer's directory starts with in the lower layer (the writer copies them up). */
export function writerLowerFiles(seed: number): Array<[string, Buffer]> {
  const rng = new Rng(seed ^ 0x5eed);
  const out: Array<[string, Buffer]> = [];
  for (let i = 0; i < 20; i++) out.push([`l${i}`, rng.bytes(i % 5 === 0 ? 65536 : rng.int(0, 3000))]);
  return out;
}

class Writer {
  readonly errors: string[] = [];
  ops = 0;
  private readonly rng: Rng;
  private n = 0;
  constructor(private readonly dir: string, seed: number, private readonly m: Model) {
    this.rng = new Rng(seed);
  }

  private fail(what: string, e: unknown): void {
    if (this.errors.length < 50) this.errors.push(`op ${this.ops} ${what}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message ?? e}`);
  }

  private files(): string[] {
    return [...this.m].filter(([, v]) => v !== 'dir').map(([k]) => k);
  }

  private dirs(): string[] {
    return [...this.m].filter(([, v]) => v === 'dir').map(([k]) => k);
  }

  private freshName(): string {
    const dirs = this.dirs();
    const base = `n${this.n++}`;
    return dirs.length && this.rng.chance(0.3) ? `${this.rng.pick(dirs)}/${base}` : base;
  }

  private p(rel: string): string {
    return path.join(this.dir, rel);
  }

  step(): void {
    this.ops++;
    const files = this.files();
    // a bounded tree: past 150 files, removal wins
    const r = files.length > 150 ? 9 : this.rng.int(0, 19);
    const f = files.length ? this.rng.pick(files) : null;
    try {
      if (r <= 4 || !f) {
        const name = this.freshName();
        const data = this.rng.bytes(this.rng.int(0, 8192));
        fs.writeFileSync(this.p(name), data, { flag: 'wx' });
        this.m.set(name, data);
      } else if (r <= 6) {
        const data = this.rng.bytes(this.rng.int(1, 4096));
        fs.appendFileSync(this.p(f), data);
        this.m.set(f, Buffer.concat([this.m.get(f) as Buffer, data]));
      } else if (r === 7) {
        const old = this.m.get(f) as Buffer;
        const off = this.rng.int(0, old.length);
        const data = this.rng.bytes(this.rng.int(1, 2048));
        const fd = fs.openSync(this.p(f), 'r+');
        try {
          fs.writeSync(fd, data, 0, data.length, off);
        } finally {
          fs.closeSync(fd);
        }
        const next = Buffer.alloc(Math.max(old.length, off + data.length));
        old.copy(next);
        data.copy(next, off);
        this.m.set(f, next);
      } else if (r === 8) {
        const old = this.m.get(f) as Buffer;
        const n = this.rng.int(0, old.length + 100);
        fs.truncateSync(this.p(f), n);
        const next = Buffer.alloc(n);
        old.copy(next, 0, 0, Math.min(n, old.length));
        this.m.set(f, next);
      } else if (r <= 10) {
        fs.unlinkSync(this.p(f));
        this.m.delete(f);
      } else if (r <= 12) {
        // rename to a fresh name, or over another file
        const to = this.rng.chance(0.5) && files.length > 1 ? this.rng.pick(files.filter((x) => x !== f)) : this.freshName();
        fs.renameSync(this.p(f), this.p(to));
        this.m.set(to, this.m.get(f)!);
        this.m.delete(f);
      } else if (r === 13) {
        const d = `d${this.n++}`;
        fs.mkdirSync(this.p(d));
        this.m.set(d, 'dir');
      } else if (r === 14) {
        const empty = this.dirs().filter((d) => ![...this.m.keys()].some((k) => k.startsWith(d + '/')));
        if (empty.length) {
          const d = this.rng.pick(empty);
          fs.rmdirSync(this.p(d));
          this.m.delete(d);
        }
      } else {
        const got = fs.readFileSync(this.p(f));
        if (!got.equals(this.m.get(f) as Buffer)) this.errors.push(`op ${this.ops}: ${f} reads ${got.length} bytes that differ from the ${(this.m.get(f) as Buffer).length} written`);
      }
    } catch (e) {
      this.fail(`r=${r} on ${f}`, e);
    }
  }

  verifyAll(): void {
    const seen = new Set<string>();
    const walk = (rel: string): void => {
      for (const name of fs.readdirSync(this.p(rel))) {
        const r = rel ? `${rel}/${name}` : name;
        seen.add(r);
        const want = this.m.get(r);
        if (want === undefined) {
          this.errors.push(`verify: unexpected ${r}`);
        } else if (want === 'dir') {
          walk(r);
        } else if (!fs.readFileSync(this.p(r)).equals(want)) {
          this.errors.push(`verify: ${r} has other content than written`);
        }
      }
    };
    try {
      walk('');
    } catch (e) {
      this.fail('verify', e);
    }
    for (const k of this.m.keys()) if (!seen.has(k)) this.errors.push(`verify: ${k} is missing`);
  }
}

export function runWriter(dir: string, seed: number, nops: number, seconds = 0, progress?: (ops: number) => void): WriterResult {
  const m: Model = new Map();
  for (const [name, data] of writerLowerFiles(seed)) m.set(name, data);
  const w = new Writer(dir, seed, m);
  if (seconds > 0) {
    const end = Date.now() + seconds * 1000;
    let tick = Date.now() + 1000;
    let ticks = 0;
    while (Date.now() < end) {
      for (let i = 0; i < 50; i++) w.step();
      if (Date.now() >= tick) {
        tick += 1000;
        progress?.(w.ops);
        // the whole directory against the model every 10 s, not just what reads touch
        if (++ticks % 10 === 0) w.verifyAll();
      }
    }
  } else {
    for (let i = 0; i < nops; i++) w.step();
  }
  w.verifyAll();
  return { ops: w.ops, errors: w.errors };
}

if (require.main === module) {
  const [dir, seed, nops, seconds] = process.argv.slice(2);
  if (!dir || seed === undefined || nops === undefined) {
    process.stderr.write('usage: rel-writer DIR SEED NOPS [SECONDS]\n');
    process.exit(2);
  }
  const r = runWriter(dir, Number(seed), Number(nops), Number(seconds ?? 0), (ops) => process.stdout.write(`P ${ops}\n`));
  process.stdout.write(JSON.stringify(r) + '\n');
  process.exitCode = r.errors.length ? 1 : 0;
}
