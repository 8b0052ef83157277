import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';

/**
 * Counts the FUSE requests the kernel sends to one mount while a workload runs, for every
 * FUSE driver alike (strata-fs, fuse-overlayfs, a --driver command): the kernel's
 * fuse:fuse_request_send tracepoint (Linux 6.13 and later), filtered by the mount's
 * connection, in a tracing instance of our own so other users of tracefs are not disturbed.
 * The kernel has no per-connection request counters (/sys/fs/fuse/connections holds only
 * waiting/abort/limits), and strace on the daemon would slow every request down; a
 * tracepoint costs well under a microsecond next to a round trip of tens.
 */

const TRACEFS = '/sys/kernel/tracing';
const INSTANCE_PREFIX = 'strata-bench-';
/** Per CPU; a request record is ~40 bytes, so this holds about 800,000 per CPU. */
const BUFFER_KB = 32 * 1024;

export interface RequestCounts {
  total: number;
  /** Opcode name (LOOKUP, GETATTR, ...) -> requests. */
  byOpcode: Record<string, number>;
  /** The trace buffer overflowed: the counts are lower bounds. */
  lost: boolean;
}

/** st_dev as userspace sees it -> the kernel's dev_t (MAJOR << 20 | MINOR), which names the FUSE connection. */
export function kernelDev(userDev: number): number {
  const major = Math.floor(userDev / 256) & 0xfff;
  const minor = (userDev & 0xff) | (Math.floor(userDev / 4096) & 0xfff00);
  return major * 2 ** 20 + minor;
}

/** Opcode name -> count, from the text of a trace buffer. */
export function parseTrace(text: string): { total: number; byOpcode: Record<string, number> } {
  const byOpcode: Record<string, number> = {};
  let total = 0;
  const re = /fuse_request_send: .*? opcode \d+ \((?:FUSE|CUSE)_(\w+)\)/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    byOpcode[m[1]] = (byOpcode[m[1]] ?? 0) + 1;
    total++;
  }
  return { total, byOpcode };
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class FuseRequestTracer {
  private constructor(
    private readonly dir: string,
    private readonly mountedTracefs: boolean,
  ) {}

  /** A tracer, or the reason there is none (not root, kernel without the tracepoint, no tracefs). */
  static open(): FuseRequestTracer | string {
    let mounted = false;
    if (!fs.existsSync(path.join(TRACEFS, 'instances'))) {
      try {
        execFileSync('mount', ['-t', 'tracefs', 'nodev', TRACEFS], { stdio: 'ignore' });
        mounted = true;
      } catch {
        return `tracefs is not mounted on ${TRACEFS} and could not be mounted`;
      }
    }
    const unmount = () => {
      if (mounted) {
        try {
          execFileSync('umount', [TRACEFS], { stdio: 'ignore' });
        } catch {
          /* still in use by someone else: leave it */
        }
      }
    };
    if (!fs.existsSync(path.join(TRACEFS, 'events/fuse/fuse_request_send'))) {
      unmount();
      return 'this kernel has no fuse:fuse_request_send tracepoint (Linux 6.13 and later)';
    }
    FuseRequestTracer.removeLeftovers();
    const dir = path.join(TRACEFS, 'instances', `${INSTANCE_PREFIX}${process.pid}`);
    try {
      fs.mkdirSync(dir);
      fs.writeFileSync(path.join(dir, 'buffer_size_kb'), String(BUFFER_KB));
      fs.writeFileSync(path.join(dir, 'tracing_on'), '0');
    } catch (e) {
      try {
        fs.rmdirSync(dir);
      } catch {
        /* never made */
      }
      unmount();
      return `cannot make a tracing instance: ${(e as Error).message.split('\n')[0]}`;
    }
    return new FuseRequestTracer(dir, mounted);
  }

  /** Instances of bench runs that were killed before they could remove theirs. */
  static removeLeftovers(): void {
    const base = path.join(TRACEFS, 'instances');
    let names: string[] = [];
    try {
      names = fs.readdirSync(base);
    } catch {
      return;
    }
    for (const n of names) {
      if (!n.startsWith(INSTANCE_PREFIX)) continue;
      const pid = Number(n.slice(INSTANCE_PREFIX.length));
      if (Number.isInteger(pid) && pid !== process.pid && !pidAlive(pid)) {
        try {
          fs.rmdirSync(path.join(base, n));
        } catch {
          /* busy: left for the next run */
        }
      }
    }
  }

  private write(file: string, text: string): void {
    fs.writeFileSync(path.join(this.dir, file), text);
  }

  /** Starts counting the requests of the FUSE mount at mnt. */
  start(mnt: string): void {
    const conn = kernelDev(fs.statSync(mnt).dev);
    this.write('tracing_on', '0');
    this.write('events/fuse/fuse_request_send/enable', '0');
    this.write('trace', '');
    this.write('events/fuse/fuse_request_send/filter', `connection == ${conn}`);
    this.write('events/fuse/fuse_request_send/enable', '1');
    this.write('tracing_on', '1');
  }

  /** Stops counting and returns what was counted since start(). */
  stop(): RequestCounts {
    this.write('tracing_on', '0');
    this.write('events/fuse/fuse_request_send/enable', '0');
    const { total, byOpcode } = parseTrace(fs.readFileSync(path.join(this.dir, 'trace'), 'utf8'));
    let lost = false;
    for (const cpu of fs.readdirSync(path.join(this.dir, 'per_cpu'))) {
      const stats = fs.readFileSync(path.join(this.dir, 'per_cpu', cpu, 'stats'), 'utf8');
      if (/^overrun: [1-9]/m.test(stats)) lost = true;
    }
    this.write('trace', '');
    return { total, byOpcode, lost };
  }

  close(): void {
    try {
      this.write('tracing_on', '0');
      this.write('events/fuse/fuse_request_send/enable', '0');
      fs.rmdirSync(this.dir);
    } catch {
      /* removed on the next run */
    }
    if (this.mountedTracefs) {
      try {
        execFileSync('umount', [TRACEFS], { stdio: 'ignore' });
      } catch {
        /* in use */
      }
    }
  }
}
