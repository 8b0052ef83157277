// One crash round: mount strata-fs, run a scenario in a child, kill -9 the daemon after a
// given delay, recover the mountpoint, remount, and judge what survived. Returns the
// problems found (empty: the round passed) so that the ava test and the stress script
// share it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { fstypeAt, mountUnion, unmount } from './mount';
import { treeManifest, manifestDiff } from './manifest';
import { mountStrata, run, statErr, waitDead, sleep, logTail } from './rel-daemon';
import {
  Digester, Scenario, ScenarioName, crashStates, expectedTree, makeScenario, readTree, treeDiff, writeLower,
} from './rel-model';

export interface CrashSetup {
  sc: Scenario;
  lowerDir: string;
  opsFile: string;
  digester: Digester;
  lowerBefore: string;
}

export function prepareScenario(root: string, name: ScenarioName, seed: number, bigBytes: number): CrashSetup {
  const sc = makeScenario(name, seed);
  const lowerDir = path.join(root, `lower-${name}`);
  fs.mkdirSync(lowerDir, { mode: 0o755 });
  writeLower(sc, lowerDir, bigBytes);
  const opsFile = path.join(root, `ops-${name}.json`);
  fs.writeFileSync(opsFile, JSON.stringify(sc.ops));
  const big = [...sc.lower].find(([, e]) => e.t === 'file' && e.c.big);
  return {
    sc, lowerDir, opsFile,
    digester: new Digester(big ? path.join(lowerDir, big[0]) : null),
    lowerBefore: treeManifest(lowerDir, { mtime: true, allXattrs: true }),
  };
}

export interface RoundResult {
  scenario: string;
  delayMs: number;
  completed: number;
  total: number;
  /** how the child's in-flight operation ended ("E 12 ECONNABORTED"), if it did not finish */
  childEnd: string;
  /** objects the dead daemon left in workdir/work (remount must clear them) */
  workLeftovers: number;
  matched: string;
  problems: string[];
}

const CHILD = path.join(__dirname, 'rel-crash-child.js');
const DEATH_ERRNOS = new Set(['ENOTCONN', 'ECONNABORTED']);

function parseLog(p: string): { completed: number; end: string } {
  let completed = 0;
  let end = '';
  for (const line of fs.existsSync(p) ? fs.readFileSync(p, 'utf8').split('\n') : []) {
    if (/^\d+$/.test(line)) completed = Number(line);
    else if (line) end = line;
  }
  return { completed, end };
}

async function runChild(mnt: string, opsFile: string, log: string, delayMs: number, kill: () => void): Promise<void> {
  const child = spawn(process.execPath, [CHILD, mnt, opsFile, log], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`crash child exited ${code} before it was ready`)));
  });
  await sleep(delayMs);
  kill();
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  await exited;
  clearTimeout(timer);
}

export async function crashRound(setup: CrashSetup, dir: string, delayMs: number, clearWith: 'umount-l' | 'fusermount3'): Promise<RoundResult> {
  const { sc } = setup;
  const upper = path.join(dir, 'upper');
  const work = path.join(dir, 'work');
  const mnt = path.join(dir, 'mnt');
  for (const d of [dir, upper, work, mnt]) fs.mkdirSync(d, { recursive: true, mode: 0o755 });
  const spec = { lowers: [setup.lowerDir], upper, work, mnt };
  const daemonLog = path.join(dir, 'strata-fs.log');
  const childLog = path.join(dir, 'child.log');
  const problems: string[] = [];
  const res: RoundResult = { scenario: sc.name, delayMs, completed: 0, total: sc.ops.length, childEnd: '', workLeftovers: 0, matched: '', problems };
  try {
    const pid = mountStrata(spec, daemonLog);
    await runChild(mnt, setup.opsFile, childLog, delayMs, () => process.kill(pid, 'SIGKILL'));
    if (!(await waitDead(pid))) problems.push(`daemon ${pid} still alive after SIGKILL`);
    const { completed, end } = parseLog(childLog);
    res.completed = completed;
    res.childEnd = end;
    const m = /^E \d+ (\S+)/.exec(end);
    if (m && !DEATH_ERRNOS.has(m[1]!)) problems.push(`operation ${completed} (${JSON.stringify(sc.ops[completed]).slice(0, 120)}) failed with ${m[1]} before/while the daemon died`);

    const dead = statErr(mnt);
    if (dead !== 'ENOTCONN') problems.push(`stat of the dead mount answered ${dead}, expected ENOTCONN`);
    const clear = clearWith === 'umount-l' ? run('umount', ['-l', mnt]) : run('fusermount3', ['-u', mnt]);
    if (clear.status !== 0) problems.push(`${clearWith} of the dead mount failed: ${clear.out}`);
    if (fstypeAt(mnt) !== undefined) {
      problems.push(`${mnt} still mounted after ${clearWith}`);
      run('umount', ['-l', mnt]);
    }
    res.workLeftovers = fs.existsSync(path.join(work, 'work')) ? fs.readdirSync(path.join(work, 'work')).length : 0;

    const pid2 = mountStrata(spec, daemonLog);
    const left = fs.readdirSync(path.join(work, 'work'));
    if (left.length) problems.push(`workdir/work not empty after remount: ${left.slice(0, 5).join(' ')}`);
    const actual = readTree(mnt);
    const cands = crashStates(sc, completed);
    const hit = cands.find((c) => treeDiff(actual, expectedTree(c.s, setup.digester)).length === 0);
    if (hit) {
      res.matched = hit.what;
    } else {
      problems.push(`tree after remount (${completed} ops completed) matches none of the allowed states`);
      for (const c of cands.slice(0, 2)) problems.push(`  vs ${c.what}:\n    ${treeDiff(actual, expectedTree(c.s, setup.digester)).join('\n    ')}`);
    }
    const strataView = treeManifest(mnt, { noRootMeta: true });
    unmount(mnt);
    if (!(await waitDead(pid2))) problems.push(`remounted daemon ${pid2} did not exit after umount`);

    // The upper must mean the same thing to kernel overlayfs.
    const ovWork = path.join(dir, 'ovwork');
    fs.mkdirSync(ovWork);
    mountUnion('overlay', { lowers: [setup.lowerDir], upper, work: ovWork, mnt });
    try {
      const d = manifestDiff(treeManifest(mnt, { noRootMeta: true }), strataView);
      if (d.length) problems.push(`kernel overlayfs shows another tree over the same upper (- strata, + overlay):\n    ${d.join('\n    ')}`);
    } finally {
      unmount(mnt);
    }
  } catch (e) {
    problems.push(`round aborted: ${(e as Error).message}`);
  } finally {
    if (fstypeAt(mnt) !== undefined) {
      try {
        unmount(mnt);
      } catch {
        run('umount', ['-l', mnt]);
      }
    }
  }
  if (problems.length) problems.push(`daemon log tail:\n${logTail(daemonLog, 8)}`);
  return res;
}

/** The lower layer must be exactly as it was: the crash rounds never write it. */
export function lowerUnchanged(setup: CrashSetup): string[] {
  return manifestDiff(treeManifest(setup.lowerDir, { mtime: true, allXattrs: true }), setup.lowerBefore);
}

