// The OCI runtime binary (runc; crun takes the same commands): one state root per store,
// errors taken from the runtime's JSON log and cut to one line.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirs } from '../store/root';

export class RuntimeError extends Error {
  constructor(message: string, readonly exitCode = 125) {
    super(message);
  }
}

export interface RuntimeState {
  id: string;
  pid: number;
  status: 'creating' | 'created' | 'running' | 'paused' | 'stopped';
  bundle: string;
}

export class Runtime {
  /** prefix: the argv that runs the runtime elsewhere (nsenter into a user's container's
   *  namespaces), [] for here */
  constructor(readonly bin: string, readonly stateRoot: string, readonly prefix: string[] = []) {}

  /** Global options: the state root, and a JSON log we read errors from. */
  args(logFile: string, ...rest: string[]): string[] {
    return ['--root', this.stateRoot, '--log', logFile, '--log-format', 'json', ...rest];
  }

  /** Runs a short runtime command; throws with the runtime's own one-line reason. */
  run(logFile: string, ...rest: string[]): string {
    mkdirs(this.stateRoot, 0o700);
    const argv = [...this.prefix, this.bin, ...this.args(logFile, ...rest)];
    const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    if (r.error) throw new RuntimeError(`cannot run ${this.bin}: ${(r.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'not installed' : r.error.message}`);
    if (r.status !== 0) throw new RuntimeError(`${this.bin} ${rest[0]} failed: ${errorFrom(logFile, r.stderr)}`);
    return r.stdout;
  }

  state(logFile: string, id: string): RuntimeState | null {
    if (!fs.existsSync(path.join(this.stateRoot, id))) return null;
    try {
      return JSON.parse(this.run(logFile, 'state', id)) as RuntimeState;
    } catch {
      return null;
    }
  }

  kill(logFile: string, id: string, signal: string, all = false): void {
    this.run(logFile, 'kill', ...(all ? ['--all'] : []), id, signal);
  }

  /**
   * delete --force, in the background: resolves when done. Its log goes nowhere: the
   * container's dir (where runtime.log lives) may be removed meanwhile (--rm), and runc
   * that cannot open its log does nothing at all.
   */
  deleteLater(id: string): Promise<void> {
    if (!fs.existsSync(path.join(this.stateRoot, id))) return Promise.resolve();
    return new Promise((resolve) => {
      const argv = [...this.prefix, this.bin, ...this.args('/dev/null', 'delete', '--force', id)];
      const p = spawn(argv[0]!, argv.slice(1), { stdio: 'ignore' });
      p.on('exit', () => resolve());
      p.on('error', () => resolve());
    });
  }

  /** Removes the runtime's record of the container (force: kills it first). Quiet when it has none. */
  delete(logFile: string, id: string, force = false): void {
    if (!fs.existsSync(path.join(this.stateRoot, id))) return;
    this.run(logFile, 'delete', ...(force ? ['--force'] : []), id);
  }
}

/** The runtime's reason for a failure: the last error in its JSON log, else its stderr. */
export function errorFrom(logFile: string, stderr = ''): string {
  let msg = '';
  try {
    for (const l of fs.readFileSync(logFile, 'utf8').split('\n')) {
      if (!l.trim()) continue;
      try {
        const j = JSON.parse(l) as { level?: string; msg?: string };
        if ((j.level === 'error' || j.level === 'fatal') && j.msg) msg = j.msg;
      } catch {
        /* not JSON: crun writes text */
        if (l.trim()) msg = l.trim();
      }
    }
  } catch {
    /* no log */
  }
  if (!msg) msg = stderr.trim().split('\n').filter(Boolean).pop() ?? 'unknown error';
  // runc nests its reasons: "runc run failed: unable to start container process: exec: ..."
  return msg.replace(/^(runc|crun) \w+ failed: /, '').replace(/\s+/g, ' ').trim();
}

/** docker's exit codes for a process that could not be started: 127 not found, 126 not executable. */
export function startFailureCode(msg: string): number {
  if (/executable file not found|no such file or directory/.test(msg)) return 127;
  if (/permission denied|exec format error/.test(msg)) return 126;
  return 125;
}
