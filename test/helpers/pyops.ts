import { spawn, spawnSync, ChildProcess } from 'node:child_process';
import * as readline from 'node:readline';
import { PY_SRC } from './pysrc';
import { python } from './paths';
import { Creds, asUserArgv } from './asuser';

export type PathLike = string | Buffer;
export interface OpResult { ok: boolean; v?: any; err?: string }

const PATH_KEYS = ['p', 'p2', 'target'];

function encodeArgs(args: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(args)) {
    if (PATH_KEYS.includes(k) || k === 'data' || k === 'value') {
      out[k] = Buffer.isBuffer(v) ? v.toString('hex') : Buffer.from(String(v)).toString('hex');
    } else {
      out[k] = v;
    }
  }
  return out;
}

// Buffers print as latin-1 text (JSON.stringify would list their bytes).
export function describeArgs(args: Record<string, unknown>): string {
  return JSON.stringify(args, (_k, v) =>
    v && v.type === 'Buffer' && Array.isArray(v.data) ? Buffer.from(v.data).toString('latin1') : v);
}

// A long-lived python process that performs filesystem calls on request, as root
// or as another uid; results are {ok, v} or {ok:false, err:'ENOENT'}.
export class PyOps {
  private proc: ChildProcess;
  private pending: Array<(r: OpResult) => void> = [];
  private dead: string | undefined;

  constructor(readonly creds?: Creds) {
    const argv = [python, '-c', PY_SRC, 'serve'];
    const full = creds ? asUserArgv(creds, argv) : argv;
    this.proc = spawn(full[0], full.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    this.proc.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
    const rl = readline.createInterface({ input: this.proc.stdout! });
    rl.on('line', (line) => {
      const cb = this.pending.shift();
      if (cb) cb(JSON.parse(line) as OpResult);
    });
    this.proc.on('exit', (code) => {
      this.dead = `python op server exited ${code}${this.dead ? ` (${this.dead})` : ''}: ${stderr.trim()}`;
      for (const cb of this.pending.splice(0)) cb({ ok: false, err: `DEAD ${this.dead}` });
    });
  }

  // A call that hangs (a filesystem deadlock) kills the server instead of the whole
  // test run, so the test still reaches its cleanup and reports what happened.
  call(op: string, args: Record<string, unknown> = {}, timeoutMs = 60_000): Promise<OpResult> {
    if (this.dead) return Promise.reject(new Error(this.dead));
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.dead = `${op} did not return within ${timeoutMs} ms`;
        this.proc.kill('SIGKILL');
      }, timeoutMs);
      this.pending.push((r) => {
        clearTimeout(timer);
        resolve(r);
      });
      this.proc.stdin!.write(JSON.stringify({ op, ...encodeArgs(args) }) + '\n');
    });
  }

  // For calls that must succeed: returns the value or throws with the errno.
  async must(op: string, args: Record<string, unknown> = {}): Promise<any> {
    const r = await this.call(op, args);
    if (!r.ok) throw new Error(`${op} ${describeArgs(args)} failed: ${r.err}`);
    return r.v;
  }

  // Result with the volatile parts left out: "ok" or the errno name.
  async res(op: string, args: Record<string, unknown> = {}): Promise<string> {
    const r = await this.call(op, args);
    return r.ok ? 'ok' : String(r.err);
  }

  close(): Promise<void> {
    if (this.dead || this.proc.exitCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      this.proc.once('exit', () => resolve());
      this.proc.stdin!.end();
    });
  }
}

// One call in a fresh process, for code that is not async.
export function pyOnce(op: string, args: Record<string, unknown> = {}, creds?: Creds): OpResult {
  const argv = [python, '-c', PY_SRC, 'serve'];
  const full = creds ? asUserArgv(creds, argv) : argv;
  const r = spawnSync(full[0], full.slice(1), {
    encoding: 'utf8',
    input: JSON.stringify({ op, ...encodeArgs(args) }) + '\n',
  });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`python exited ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout.trim()) as OpResult;
}
