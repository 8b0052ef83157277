// Finding, measuring and killing the strata-fs daemon behind one mountpoint, and
// mounting with strata's own extra options (log=...), for the reliability tests.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { mountStrataFs, UnionSpec } from './mount';
import { strataDaemonsFor } from '../../src/store/containers';
import { errOf } from './rel-errs';

// The daemon is the process whose argv names the mountpoint as its last argument and
// runs bin/strata-fs; other helpers' mounts run on this machine at the same time.
export function daemonPids(mnt: string): number[] {
  return strataDaemonsFor(path.resolve(mnt));
}

export function daemonPid(mnt: string): number {
  const pids = daemonPids(mnt);
  if (pids.length !== 1) throw new Error(`expected one strata-fs daemon for ${mnt}, found ${JSON.stringify(pids)}`);
  return pids[0]!;
}

// The thread-group leader turns zombie before its other threads have exited, and those
// still hold /dev/fuse open: the process is dead only when every thread is.
export function alive(pid: number): boolean {
  let tasks: string[];
  try {
    tasks = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return false;
  }
  return tasks.some((tid) => {
    try {
      return !/^\d+ \(.*\) [ZX]/s.test(fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8'));
    } catch {
      return false;
    }
  });
}

export async function waitDead(pid: number, ms = 10_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (!alive(pid)) return true;
    await sleep(20);
  }
  return !alive(pid);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** VmRSS and VmHWM in KiB. */
export function memKb(pid: number): { rss: number; hwm: number } {
  const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const f = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN);
  return { rss: f('VmRSS'), hwm: f('VmHWM') };
}

/** Mounts strata-fs with its log in `log`; returns the daemon's pid. `env` (default: ours)
 *  reaches the daemon. */
export function mountStrata(spec: UnionSpec, log: string, extra: string[] = [], env?: NodeJS.ProcessEnv): number {
  mountStrataFs(spec, [`log=${log}`, ...extra], env);
  return daemonPid(spec.mnt);
}

export function run(cmd: string, args: string[]): { status: number; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw r.error;
  return { status: r.status ?? -1, out: `${r.stdout ?? ''}${r.stderr ?? ''}`.trim() };
}

/** What stat(2) of a path answers: "ok" or the errno name. */
export function statErr(p: string): string {
  return errOf(() => fs.statSync(p));
}

export function logTail(log: string, n = 20): string {
  try {
    return fs.readFileSync(log, 'utf8').trim().split('\n').slice(-n).join('\n');
  } catch {
    return '(no log)';
  }
}
