import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { strataFsBin } from './paths';

export type Driver = 'overlay' | 'strata';
export const DRIVERS: readonly Driver[] = ['overlay', 'strata'];

export interface UnionSpec {
  lowers: string[]; // topmost first, as in lowerdir=
  upper?: string;
  work?: string;
  mnt: string;
}

// Validation mode only: lets the whole suite run overlay-vs-overlay before strata-fs exists.
export const strataIsOverlay = process.env.STRATA_TEST_AS_OVERLAY === '1';

interface MountInfo { target: string; fstype: string; dev: string }

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export function listMounts(): MountInfo[] {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean).map((line) => {
    const f = line.split(' ');
    const sep = f.indexOf('-');
    return { target: unescapeMount(f[4]), fstype: f[sep + 1], dev: f[2] };
  });
}

export function mountsUnder(dir: string): string[] {
  const base = path.resolve(dir);
  return listMounts()
    .map((m) => m.target)
    .filter((t) => t === base || t.startsWith(base + '/'))
    .sort((a, b) => b.length - a.length);
}

export function fstypeAt(mnt: string): string | undefined {
  const t = path.resolve(mnt);
  const ms = listMounts().filter((m) => m.target === t);
  return ms.length ? ms[ms.length - 1].fstype : undefined;
}

function run(cmd: string, args: string[], timeout = 60_000, env?: NodeJS.ProcessEnv): { status: number; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout, env });
  if (r.error && (r.error as NodeJS.ErrnoException).code !== 'ETIMEDOUT') throw r.error;
  return { status: r.status ?? -1, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? ` (${r.error.message})` : ''}`.trim() };
}

// A FUSE daemon that stopped answering would leave every later access (and the
// test run) hanging: abort its connection so the mount can go.
function abortFuse(target: string): void {
  const m = listMounts().filter((x) => x.target === target && x.fstype.startsWith('fuse')).pop();
  if (!m) return;
  const minor = m.dev.split(':')[1];
  try {
    fs.writeFileSync(`/sys/fs/fuse/connections/${minor}/abort`, '1');
  } catch {
    // connection already gone
  }
}

// Kernel overlayfs refuses a single lowerdir without upperdir; strata-fs takes it.
// An extra empty bottom layer changes nothing in the merged view.
const emptyLowers = new Map<string, string>();

function overlayOptions(spec: UnionSpec, extra: string[]): string {
  const lowers = [...spec.lowers];
  if (!spec.upper && lowers.length === 1) {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-empty-lower-'));
    emptyLowers.set(path.resolve(spec.mnt), empty);
    lowers.push(empty);
  }
  const opts = [`lowerdir=${lowers.join(':')}`];
  if (spec.upper) {
    if (!spec.work) throw new Error('upper without work');
    opts.push(`upperdir=${spec.upper}`, `workdir=${spec.work}`);
  }
  // redirect_dir=on: directory renames without EXDEV, which is what strata-fs does.
  opts.push('redirect_dir=on', ...extra);
  return opts.join(',');
}

export function strataOptions(spec: UnionSpec, extra: string[] = []): string {
  const opts = [`lowerdir=${spec.lowers.join(':')}`];
  if (spec.upper) opts.push(`upperdir=${spec.upper}`, `workdir=${spec.work}`);
  return [...opts, ...extra].join(',');
}

/** Mounts strata-fs and returns once the mount is live. `extra`: more -o options; `env`
 *  (default: ours) reaches the daemon. */
export function mountStrataFs(spec: UnionSpec, extra: string[] = [], env?: NodeJS.ProcessEnv): void {
  if (!fs.existsSync(strataFsBin)) throw new Error(`${strataFsBin} does not exist (build first)`);
  const r = run(strataFsBin, ['-o', strataOptions(spec, extra), 'strata', spec.mnt], 60_000, env);
  if (r.status !== 0) throw new Error(`strata-fs failed (${r.status}): ${r.out}`);
  const fstype = fstypeAt(spec.mnt);
  if (fstype !== 'fuse.strata-fs') {
    throw new Error(`strata-fs returned 0 but ${spec.mnt} shows fstype ${fstype ?? '(none)'}`);
  }
}

/** `options`: more -o options for either (mount flags: noatime, ...); `strataOnly`: more
 *  for strata-fs alone (passthrough=off, ...). */
export function mountUnion(driver: Driver, spec: UnionSpec, options: string[] = [], strataOnly: string[] = []): void {
  if (driver === 'overlay' || strataIsOverlay) {
    const r = run('mount', ['-t', 'overlay', 'overlay', '-o', overlayOptions(spec, options), spec.mnt]);
    if (r.status !== 0) {
      dropEmptyLower(spec.mnt);
      throw new Error(`mount -t overlay failed (${r.status}): ${r.out}`);
    }
    return;
  }
  mountStrataFs(spec, [...options, ...strataOnly]);
}

export function unmount(mnt: string): void {
  const target = path.resolve(mnt);
  if (fstypeAt(target) !== undefined) {
    let r = run('umount', [target], 30_000);
    // The daemon may still hold the mount busy for a moment after a test's last close.
    for (let i = 0; r.status !== 0 && i < 20 && !r.out.includes('ETIMEDOUT'); i++) {
      spawnSync('sleep', ['0.1']);
      r = run('umount', [target], 30_000);
    }
    if (r.status !== 0) {
      abortFuse(target);
      const l = run('umount', ['-l', target]);
      if (l.status !== 0) throw new Error(`cannot unmount ${target}: ${r.out}; ${l.out}`);
    }
  }
  dropEmptyLower(target);
}

function dropEmptyLower(mnt: string): void {
  const target = path.resolve(mnt);
  const empty = emptyLowers.get(target);
  if (empty) {
    emptyLowers.delete(target);
    fs.rmSync(empty, { recursive: true, force: true });
  }
}
