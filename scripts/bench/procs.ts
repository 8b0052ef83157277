import * as fs from 'node:fs';
import { sleep } from './exec';

export interface MountEntry {
  mountPoint: string;
  fsType: string;
}

/** mountinfo escapes space, tab, newline and backslash as octal. */
function unescapeMountPath(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export function mounts(): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    if (!line) continue;
    const [pre, post] = line.split(' - ');
    const f = pre.split(' ');
    out.push({ mountPoint: unescapeMountPath(f[4]), fsType: (post ?? '').split(' ')[0] });
  }
  return out;
}

export function mountAt(dir: string): MountEntry | undefined {
  // The last entry wins: mounts stacked on one point shadow the earlier ones.
  return mounts()
    .filter((m) => m.mountPoint === dir)
    .pop();
}

/** Mount points at or below dir, deepest first (the order to unmount them in). */
export function mountsUnder(dir: string): string[] {
  const prefix = dir.endsWith('/') ? dir : dir + '/';
  return mounts()
    .map((m) => m.mountPoint)
    .filter((p) => p === dir || p.startsWith(prefix))
    .sort((a, b) => b.length - a.length);
}

function alive(pid: number): boolean {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    // A daemon reparented to a subreaper may linger as a zombie: it has exited.
    return !/^State:\s+Z/m.test(status);
  } catch {
    return false;
  }
}

/**
 * The userspace daemon serving a FUSE mount: a process that has /dev/fuse open
 * and names the mount point in its argv. Daemonizing helpers fork, so the pid of
 * the command we ran is not the daemon's.
 */
export function fuseDaemonPid(mnt: string): number | null {
  let best: number | null = null;
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    try {
      const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (!argv.includes(mnt)) continue;
      const fds = fs.readdirSync(`/proc/${pid}/fd`);
      const hasFuse = fds.some((fd) => {
        try {
          return fs.readlinkSync(`/proc/${pid}/fd/${fd}`) === '/dev/fuse';
        } catch {
          return false;
        }
      });
      if (hasFuse && alive(pid)) best = best === null ? pid : Math.max(best, pid);
    } catch {
      /* the process went away while we looked */
    }
  }
  return best;
}

export interface Memory {
  rssMB: number;
  hwmMB: number;
}

/** VmRSS and VmHWM of a process, in MB (10^6 bytes). */
export function memoryOf(pid: number): Memory | null {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) => {
      const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status);
      return m ? Number(m[1]) : NaN;
    };
    const rss = kb('VmRSS');
    const hwm = kb('VmHWM');
    if (Number.isNaN(rss)) return null;
    return { rssMB: (rss * 1024) / 1e6, hwmMB: (hwm * 1024) / 1e6 };
  } catch {
    return null;
  }
}

/** Waits for a process to end; SIGKILLs it after timeoutMs. Returns false if it had to be killed. */
export async function waitExit(pid: number, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (!alive(pid)) return true;
    await sleep(20);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
  return false;
}
