// Kill -9 of `strata load` and `strata commit` at random points. After each kill:
//  - `strata check` finds garbage at most (tmp leftovers, orphans, an interrupted
//    commit), never damage;
//  - `strata images` shows the load's or commit's images whole or not at all;
//  - the next command (the same load or commit again) succeeds, and after it
//    `strata check` is clean.
// Usage: node dist/scripts/store-crash.js [--rounds N] [--seed S] [--source DIR|FILE]
//   (default: 100 rounds, half load, half commit, of ../shared/fixtures/oci)
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { Rng } from '../test/helpers/rng';

const REPO = path.resolve(__dirname, '..', '..');
const STRATA = path.join(REPO, 'bin', 'strata');
const GARBAGE = new Set(['tmp-leftover', 'interrupted-commit', 'orphan-layer', 'orphan-blob', 'half-written-layer', 'half-written-container', 'dangling-link']);

export interface CrashReport {
  rounds: number;
  killed: number; // killed before finishing (the others completed first)
  violations: string[];
}

function run(root: string, args: string[]): { code: number; stdout: string; stderr: string } {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [STRATA, '--root', root, ...args], { encoding: 'utf8', timeout: 300_000 });
  if (process.env.STRATA_CRASH_DEBUG) process.stderr.write(`${args.join(' ')}: ${Date.now() - t0} ms, exit ${r.status}\n`);
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function rng(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next();
}

/** Runs strata with args and SIGKILLs it after delayMs; true if the kill came first. */
function runAndKill(root: string, args: string[], delayMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [STRATA, '--root', root, ...args], { stdio: 'ignore' });
    let exited = false;
    const timer = setTimeout(() => {
      if (!exited) child.kill('SIGKILL');
    }, delayMs);
    child.on('exit', (_code, signal) => {
      exited = true;
      clearTimeout(timer);
      resolve(signal === 'SIGKILL');
    });
  });
}

function timed(fn: () => void): number {
  const t0 = Date.now();
  fn();
  return Date.now() - t0;
}

interface Subject {
  name: string;
  root: string;
  /** ms the command takes when not killed */
  full: number;
  /** the command to kill and then repeat */
  args: string[];
  /** refs the command creates */
  refs: string[];
  /** puts the store back to "before"; returns the number of images then */
  reset(): number;
}

/** Tags and the number of distinct images `strata images` shows. */
function view(root: string): { tags: Set<string>; images: number } {
  const r = run(root, ['images', '--json']);
  if (r.code !== 0) throw new Error(`images failed: ${r.stderr.trim()}`);
  const rows = JSON.parse(r.stdout) as Array<{ repository: string; tag: string; id: string }>;
  return { tags: new Set(rows.map((x) => `${x.repository}:${x.tag}`)), images: new Set(rows.map((x) => x.id)).size };
}

async function round(s: Subject, r: () => number, violations: string[], n: number): Promise<boolean> {
  const root = s.root;
  const imagesBefore = s.reset();
  const delay = Math.floor(r() * s.full * 1.2);
  const killed = await runAndKill(root, s.args, delay);
  const where = `round ${n} (${s.name}, kill after ${delay} ms${killed ? '' : ', finished first'})`;
  const chk = run(root, ['check', '--json']);
  const problems = (JSON.parse(chk.stdout || '{"problems":[]}') as { problems: Array<{ kind: string; path: string; message: string }> }).problems;
  for (const p of problems) if (!GARBAGE.has(p.kind)) violations.push(`${where}: damage after the kill: ${p.kind}: ${p.path}: ${p.message}`);
  const v = view(root);
  const have = s.refs.filter((x) => v.tags.has(x)).length;
  if (have !== 0 && have !== s.refs.length) violations.push(`${where}: partial result: ${have} of ${s.refs.length} tags`);
  if (have === 0 && v.images !== imagesBefore) violations.push(`${where}: ${v.images - imagesBefore} untagged image(s) visible from an unfinished command`);
  if (!killed && have !== s.refs.length) violations.push(`${where}: the command finished but its result is missing`);
  const again = run(root, s.args);
  if (again.code !== 0) violations.push(`${where}: the next ${s.name} failed: ${again.stderr.trim()}`);
  const after = run(root, ['check']);
  if (after.code !== 0) violations.push(`${where}: check after the next command: ${after.stdout.trim().split('\n').join(' | ')}`);
  return killed;
}

/**
 * rounds/2 kills of `strata load SOURCE` and rounds/2 of `strata commit` of a container
 * with many files in its upper, in a fresh store under os.tmpdir().
 */
export async function crashRounds(o: { rounds: number; seed: number; source: string; refs: string[]; commitFiles?: number; onRound?: (n: number, v: number) => void }): Promise<CrashReport> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-crash-'));
  const violations: string[] = [];
  let killed = 0;
  try {
    const r = rng(o.seed);
    // loads go to a store of their own: a container would keep the loaded layers alive
    const loadRoot = path.join(dir, 'load-store');
    const untag = (root: string, refs: string[]): number => {
      const have = refs.filter((t) => view(root).tags.has(t));
      if (have.length) {
        const x = run(root, ['rmi', ...have]);
        if (x.code !== 0) throw new Error(`rmi ${have.join(' ')} failed: ${x.stderr.trim()}`);
      }
      return view(root).images;
    };
    const load: Subject = { name: 'load', root: loadRoot, full: 0, args: ['load', o.source], refs: o.refs, reset: () => untag(loadRoot, o.refs) };
    load.full = timed(() => {
      const x = run(loadRoot, load.args);
      if (x.code !== 0) throw new Error(`load ${o.source} failed: ${x.stderr.trim()}`);
    });

    const commitRoot = path.join(dir, 'commit-store');
    if (run(commitRoot, load.args).code !== 0) throw new Error('load for the commit store failed');
    const c = run(commitRoot, ['create', '--name', 'crashc', o.refs[0]]);
    if (c.code !== 0) throw new Error(`create failed: ${c.stderr.trim()}`);
    const upper = path.join(commitRoot, 'containers', c.stdout.trim(), 'upper');
    const files = o.commitFiles ?? 2000;
    for (let i = 0; i < files; i++) {
      const sub = path.join(upper, `d${i % 40}`);
      fs.mkdirSync(sub, { recursive: true });
      fs.writeFileSync(path.join(sub, `f${i}`), `file ${i}\n`.repeat(1 + (i % 64)));
    }
    fs.writeFileSync(path.join(upper, 'big'), Buffer.alloc(Math.max(1, files >> 8) << 20, 0x5a));
    const commit: Subject = { name: 'commit', root: commitRoot, full: 0, args: ['commit', 'crashc', 'crash/commit:1'], refs: ['crash/commit:1'], reset: () => untag(commitRoot, ['crash/commit:1']) };
    commit.full = timed(() => {
      const x = run(commitRoot, commit.args);
      if (x.code !== 0) throw new Error(`commit failed: ${x.stderr.trim()}`);
    });
    for (let n = 0; n < o.rounds; n++) {
      if (await round(n % 2 === 0 ? load : commit, r, violations, n + 1)) killed++;
      o.onRound?.(n + 1, violations.length);
    }
    run(commitRoot, ['rm', '-f', 'crashc']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return { rounds: o.rounds, killed, violations };
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  let rounds = 100;
  let seed = Date.now() % 1_000_000;
  let source = path.resolve(REPO, '..', 'shared', 'fixtures', 'oci');
  let refs = ['base:latest', 'child:latest', 'grandchild:latest'];
  for (let i = 0; i < args.length; i++) {
    const v = args[i + 1];
    if (args[i] === '--rounds' && /^\d+$/.test(v ?? '') && Number(v) > 0) rounds = Number(args[++i]);
    else if (args[i] === '--seed' && /^\d+$/.test(v ?? '')) seed = Number(args[++i]);
    else if (args[i] === '--source' && v) source = path.resolve(args[++i]);
    else if (args[i] === '--refs' && v) refs = args[++i].split(',');
    else {
      process.stderr.write(`store-crash: bad argument ${JSON.stringify(args[i])}; usage: store-crash [--rounds N] [--seed S] [--source DIR|FILE --refs REF,REF]\n`);
      return 2;
    }
  }
  const tty = process.stderr.isTTY;
  const t0 = Date.now();
  const rep = await crashRounds({ rounds, seed, source, refs, onRound: (n, v) => tty && process.stderr.write(`\rround ${n}/${rounds}, ${v} violation(s)`) });
  if (tty) process.stderr.write('\n');
  for (const v of rep.violations) process.stdout.write(`VIOLATION ${v}\n`);
  process.stdout.write(`store-crash: ${rep.rounds} rounds (seed ${seed}), ${rep.killed} killed mid-command, ${rep.violations.length} violations, ${Math.round((Date.now() - t0) / 1000)} s\n`);
  return rep.violations.length ? 1 : 0;
}

if (require.main === module) void main().then((c) => (process.exitCode = c));
