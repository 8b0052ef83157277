// Supervising a container process the way conmon does: the supervisor is a child
// subreaper, runs `runc run --detach` (or `runc exec --detach`), which leaves the container's
// process behind as the supervisor's child once runc exits, and reaps it for its exit
// status. Plain stdio are pipes handed through runc to the process; with a terminal,
// runc sends the pty master over --console-socket. Output goes to the attached terminal
// and/or the container's log; the exit code is the process's (128+N after signal N).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as net from 'node:net';
import * as tty from 'node:tty';
import { spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { native } from '../native';
import { Runtime, RuntimeError, errorFrom, startFailureCode } from './runc';

let subreaper = false;
const watched = new Map<number, (status: number) => void>();
let pollTimer: NodeJS.Timeout | null = null;

function checkReaped(): void {
  for (const [pid, done] of watched) {
    let r: [number, number] | null;
    try {
      r = native.reap(pid);
    } catch {
      r = [255, -1]; // not our child any more: nothing to learn
    }
    if (r === null) continue;
    watched.delete(pid);
    done(r[1] >= 0 ? 128 + r[1] : r[0]);
  }
  if (watched.size === 0 && pollTimer) {
    clearInterval(pollTimer);
    pollTimer = null;
    process.removeListener('SIGCHLD', checkReaped);
  }
}

/** Resolves with the exit status of pid, a child of this process (through the subreaper). */
function reapLater(pid: number): Promise<number> {
  return new Promise((resolve) => {
    watched.set(pid, resolve);
    if (!pollTimer) {
      process.on('SIGCHLD', checkReaped);
      // SIGCHLD can be coalesced with one for a child Node reaps itself: look now and then too
      pollTimer = setInterval(checkReaped, 250);
    }
    checkReaped();
  });
}

export interface Launched {
  pid: number;
  /** the process's stdin (a pipe, or the pty), null when it has /dev/null */
  stdin: Writable | null;
  outputs: Array<{ stream: 'stdout' | 'stderr'; from: Readable }>;
  ptyFd: number | null;
  /** exit status: the code, or 128+signal */
  exited: Promise<number>;
}

export interface LaunchOptions {
  runtime: Runtime;
  logFile: string;
  /** the runtime command after the global options, given the --console-socket/--pid-file options to put in */
  command(extra: string[]): string[];
  tty: boolean;
  openStdin: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts the runtime command and returns once it has exited, leaving the process to us. */
export async function launch(o: LaunchOptions): Promise<Launched> {
  if (!subreaper) {
    native.becomeSubreaper();
    subreaper = true;
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-proc-'));
  const pidFile = path.join(tmp, 'pid');
  let listenFd: number | null = null;
  const extra = ['--pid-file', pidFile];
  try {
    if (o.tty) {
      const sock = path.join(tmp, 'console.sock');
      listenFd = native.consoleListen(sock);
      extra.push('--console-socket', sock);
    }
    fs.mkdirSync(o.runtime.stateRoot, { recursive: true, mode: 0o700 });
    fs.rmSync(o.logFile, { force: true });
    // the process's stdio are real pipes (runc hands its own fds through)
    const pipes = o.tty ? null : { in: o.openStdin ? native.pipe() : null, out: native.pipe(), err: native.pipe() };
    let child;
    try {
      child = spawn(o.runtime.bin, o.runtime.args(o.logFile, ...o.command(extra)), {
        stdio: pipes ? [pipes.in ? pipes.in[0] : 'ignore', pipes.out[1], pipes.err[1]] : ['ignore', 'ignore', 'ignore'],
      });
    } finally {
      if (pipes) for (const fd of [pipes.in?.[0], pipes.out[1], pipes.err[1]]) if (fd !== undefined) fs.closeSync(fd);
    }
    const done = new Promise<{ code: number | null; error?: Error }>((resolve) => {
      child.on('exit', (code) => resolve({ code }));
      child.on('error', (error) => resolve({ code: null, error }));
    });
    let status: { code: number | null; error?: Error } | null = null;
    void done.then((s) => (status = s));
    let ptyFd: number | null = null;
    if (listenFd !== null) {
      while (status === null) {
        const fd = native.consoleReceive(listenFd, 5);
        if (fd >= 0) {
          ptyFd = fd;
          break;
        }
        await sleep(1);
      }
    }
    const st = await done;
    if (st.error || st.code !== 0) {
      if (ptyFd !== null) fs.closeSync(ptyFd);
      if (pipes) for (const fd of [pipes.in?.[1], pipes.out[0], pipes.err[0]]) if (fd !== undefined) fs.closeSync(fd);
      if (st.error) throw new RuntimeError(`cannot run ${o.runtime.bin}: ${(st.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'not installed' : st.error.message}`);
      const msg = errorFrom(o.logFile);
      throw new RuntimeError(msg, startFailureCode(msg));
    }
    const pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 0) throw new RuntimeError(`${o.runtime.bin} wrote no pid`);
    const exited = reapLater(pid);
    if (ptyFd !== null) {
      const pty = new tty.ReadStream(ptyFd);
      // once every slave is closed the master reads EIO: that is the end of the output
      pty.on('error', () => pty.push(null));
      return { pid, stdin: pty as unknown as Writable, outputs: [{ stream: 'stdout', from: pty }], ptyFd, exited };
    }
    const p = pipes as NonNullable<typeof pipes>;
    return {
      pid,
      stdin: p.in ? new net.Socket({ fd: p.in[1], readable: false, writable: true }) : null,
      outputs: [
        { stream: 'stdout', from: new net.Socket({ fd: p.out[0], readable: true, writable: false }) },
        { stream: 'stderr', from: new net.Socket({ fd: p.err[0], readable: true, writable: false }) },
      ],
      ptyFd: null,
      exited,
    };
  } finally {
    if (listenFd !== null) fs.closeSync(listenFd);
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** Resolves once every output stream has ended, or after graceMs once exited has. */
export async function drained(l: Launched, graceMs: number): Promise<void> {
  const ends = l.outputs.map((o) => new Promise<void>((r) => (o.from.readableEnded || o.from.destroyed ? r() : (o.from.once('end', r), o.from.once('close', r)))));
  const all = Promise.all(ends).then(() => undefined);
  await l.exited;
  let t: NodeJS.Timeout | undefined;
  await Promise.race([all, new Promise<void>((r) => (t = setTimeout(r, graceMs)))]);
  if (t) clearTimeout(t);
  for (const o of l.outputs) o.from.destroy();
  l.stdin?.destroy();
}

export function isAlive(pid: number, start: string | null): boolean {
  const now = procStart(pid);
  return now !== null && (start === null || start === now);
}

export function procStart(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (rest[0] === 'Z' || rest[0] === 'X') return null; // a zombie has exited
    return rest[19] ?? null;
  } catch {
    return null;
  }
}
