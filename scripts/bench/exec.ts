import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { which } from './paths';

export class Interrupted extends Error {
  constructor() {
    super('interrupted');
  }
}

/** Set by SIGINT: every running and future child is stopped so cleanup can run. */
export const interrupt = new AbortController();

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** 'ignore' sends stdout to /dev/null, so tools still do all their work (cat, ls, find, dd all write it). */
  stdout?: 'ignore' | 'pipe';
  timeoutMs?: number;
  /** Cleanup commands (umount, kill) still run after Ctrl-C, and are not stopped by it. */
  cleanup?: boolean;
  /** Time the command inside a small bash wrapper instead of around node's spawn (see preciseTimer). */
  precise?: boolean;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Wall time of the command, in seconds. */
  seconds: number;
  timedOut: boolean;
}

const MAX_CAPTURE = 256 * 1024;

/**
 * node's spawn() of even `true` took 5-10 ms on the 2-core test machine (fork of a
 * large process, exec handshake), more than some warm workloads take. So timed
 * commands run under bash, which reads its microsecond clock ($EPOCHREALTIME, bash
 * >= 5) right before forking the command and right after reaping it, and reports
 * both on fd 3 (closed for the command itself). process.hrtime.bigint() around the
 * spawn remains the fallback.
 */
const TIMER = 's=$EPOCHREALTIME; "$@" 3>&-; rc=$?; e=$EPOCHREALTIME; printf "%s %s\\n" "$s" "$e" >&3; exit $rc';
let timerOk: boolean | null = null;

function preciseTimer(): boolean {
  if (timerOk === null) {
    try {
      timerOk = /^\d+[.,]\d+$/.test(execFileSync('bash', ['-c', 'printf %s "$EPOCHREALTIME"'], { encoding: 'utf8' }));
    } catch {
      timerOk = false;
    }
  }
  return timerOk;
}

function parseTimer(text: string): number | null {
  const m = /^(\d+)[.,](\d+) (\d+)[.,](\d+)$/m.exec(text);
  if (!m) return null;
  const us = (whole: string, frac: string) => BigInt(whole) * 1_000_000n + BigInt(frac.padEnd(6, '0').slice(0, 6));
  return Number(us(m[3], m[4]) - us(m[1], m[2])) / 1e6;
}

/**
 * Spawns argv[0] and resolves at its exit. We do not wait for its stdio to close:
 * a mount helper that daemonizes may hand our pipes to the daemon, which keeps
 * them open for the life of the mount.
 */
export function run(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
  const abortable = !opts.cleanup;
  if (abortable && interrupt.signal.aborted) return Promise.reject(new Interrupted());
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let timerText = '';
    const precise = opts.precise === true && preciseTimer();
    // A path with a slash: bash must exec the program, not run its builtin of that name.
    const prog = precise && !argv[0].includes('/') ? (which(argv[0]) ?? argv[0]) : argv[0];
    const [file, ...args] = precise ? ['bash', '-c', TIMER, 'bash', prog, ...argv.slice(1)] : argv;
    const start = process.hrtime.bigint();
    const child = spawn(file, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', opts.stdout === 'pipe' ? 'pipe' : 'ignore', 'pipe', ...(precise ? ['pipe' as const] : [])],
      // Its own process group, so a timeout or Ctrl-C also stops what it started (sh -c, xargs).
      detached: true,
    });
    child.stdout?.on('data', (b: Buffer) => {
      if (stdout.length < MAX_CAPTURE) stdout += b.toString();
    });
    child.stderr?.on('data', (b: Buffer) => {
      if (stderr.length < MAX_CAPTURE) stderr += b.toString();
    });
    const timerPipe = precise ? (child.stdio[3] as NodeJS.ReadableStream | null) : null;
    timerPipe?.on('data', (b: Buffer) => {
      timerText += b.toString();
    });
    const signalGroup = (sig: NodeJS.Signals) => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, sig);
      } catch {
        child.kill(sig);
      }
    };
    const kill = () => {
      signalGroup('SIGTERM');
      setTimeout(() => signalGroup('SIGKILL'), 2000).unref();
    };
    const timer =
      opts.timeoutMs !== undefined
        ? setTimeout(() => {
            timedOut = true;
            kill();
          }, opts.timeoutMs)
        : undefined;
    const onAbort = () => kill();
    if (abortable) interrupt.signal.addEventListener('abort', onAbort);
    child.on('error', (err) => {
      if (timer) clearTimeout(timer);
      interrupt.signal.removeEventListener('abort', onAbort);
      reject(new Error(`cannot run ${argv[0]}: ${err.message}`));
    });
    child.on('exit', (code, signal) => {
      const outer = Number(process.hrtime.bigint() - start) / 1e9;
      if (timer) clearTimeout(timer);
      interrupt.signal.removeEventListener('abort', onAbort);
      const finish = () => {
        child.stdout?.destroy();
        child.stderr?.destroy();
        (timerPipe as unknown as { destroy?: () => void } | null)?.destroy?.();
        const seconds = (precise ? parseTimer(timerText) : null) ?? outer;
        if (abortable && interrupt.signal.aborted) reject(new Interrupted());
        else resolve({ code, signal, stdout, stderr, seconds, timedOut });
      };
      // Give the pipes a moment to deliver what the child wrote just before exiting.
      let done = false;
      const once = () => {
        if (!done) {
          done = true;
          finish();
        }
      };
      child.on('close', once);
      setTimeout(once, 100).unref();
    });
  });
}

/** The first meaningful line of a failed command's output, for a one-line note. */
/** "strata mount", "umoci unpack", "dd": the program, and its subcommand if it has one. */
function commandName(argv: string[]): string {
  let [prog, ...rest] = argv;
  if (prog === process.execPath && rest.length) [prog, ...rest] = rest;
  const base = prog.split('/').pop() ?? prog;
  return rest.length && /^[a-z][a-z-]*$/.test(rest[0]) ? `${base} ${rest[0]}` : base;
}

export function describeFailure(argv: string[], r: RunResult, name = commandName(argv)): string {
  const first = (r.stderr || r.stdout)
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l.length > 0);
  const how = r.timedOut ? 'timed out' : r.signal ? `killed by ${r.signal}` : `exit ${r.code}`;
  const msg = `${name}: ${first ?? '(no output)'} (${how})`;
  return msg.length > 200 ? msg.slice(0, 197) + '...' : msg;
}

/** Runs a command that must succeed; throws a one-line error otherwise. */
export async function must(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
  const r = await run(argv, opts);
  if (r.code !== 0) throw new Error(describeFailure(argv, r));
  return r;
}

/** Runs a command that must succeed and returns its wall time in seconds. */
export async function timed(argv: string[], opts: RunOptions = {}): Promise<number> {
  return (await must(argv, { ...opts, precise: true })).seconds;
}

let dropWarning: string | null = null;

/** Makes the next access "cold": flushes dirty data, then drops page cache, dentries and inodes. */
export async function dropCaches(what: '1' | '2' | '3' = '3'): Promise<void> {
  await must(['sync']);
  try {
    fs.writeFileSync('/proc/sys/vm/drop_caches', what);
  } catch (e) {
    dropWarning = `could not drop caches (${(e as Error).message}); "cold" figures are warm`;
  }
}

export function dropCachesWarning(): string | null {
  return dropWarning;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Quotes a string for sh -c. */
export function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
