// Starting strata-fs as a detached daemon and waiting until its mount is live. Shared by
// the mount helper (bin/strata-fs) and `strata mount`, which starts the daemon itself
// rather than through the helper: one Node start-up less per mount.
import type * as childProcess from 'node:child_process';
import * as path from 'node:path';

/** Set in the daemon's environment: "you are the daemon; report readiness over IPC". */
export const DAEMON_ENV = 'STRATA_FS_DAEMON';

/** What the daemon sends its starter once: the mount is live, or why it is not. */
export interface DaemonReport {
  ok?: boolean;
  error?: string;
}

/** bin/strata-fs of this installation (dist/src/launch.js -> repo root). */
export function strataFsBin(): string {
  return path.resolve(__dirname, '..', '..', 'bin', 'strata-fs');
}

export interface LaunchOptions {
  /** the argv that runs the daemon's argv elsewhere (e.g. in the user's namespace) */
  wrap?: (argv: string[]) => string[];
  /** descriptors passed down: the daemon's fd number -> ours (3 is the IPC channel; 4 is
   *  the namespace launcher's own, see userns.ts) */
  fds?: Record<number, number>;
}

/** The fd a daemon in the user's namespace gets its /dev/fuse descriptor as. */
export const PASSED_FUSE_FD = 5;

/** Runs `strata-fs ARGV` as a detached daemon; resolves once its mount is live, rejects
 *  with the daemon's one-line reason otherwise. */
export function launchDaemon(argv: string[], lo: LaunchOptions = {}): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    // a small young generation: the daemon's garbage is short-lived per-request objects;
    // --optimize-for-size: V8 grows the old generation in smaller steps and gives memory
    // back sooner (after a 100,000-entry walk 79 instead of 90 MB, near the start-up
    // figure right after the FORGETs), for the same CPU time
    // required here: the daemon imports this file for DAEMON_ENV, and needs no child_process
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { spawn } = require('node:child_process') as typeof childProcess;
    const full = [process.execPath, '--max-semi-space-size=2', '--optimize-for-size', strataFsBin(), ...argv];
    const run = lo.wrap ? lo.wrap(full) : full;
    const stdio: Array<'ignore' | 'pipe' | 'ipc' | number> = ['ignore', 'ignore', lo.wrap ? 'pipe' : 'ignore', 'ipc'];
    for (const [theirs, ours] of Object.entries(lo.fds ?? {})) {
      const n = Number(theirs);
      if (n < 4) throw new Error(`fd ${n} cannot be passed to the daemon (0-3 are its own): use -f, or another fd`);
      while (stdio.length < n) stdio.push('ignore');
      stdio[n] = ours;
    }
    const child = spawn(run[0]!, run.slice(1), {
      detached: true,
      // a launcher says on stderr why it could not start the daemon
      stdio,
      env: { ...process.env, [DAEMON_ENV]: '1' },
    });
    let done = false;
    let said = '';
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (said += d));
    const finish = (err: string | null): void => {
      if (done) return;
      done = true;
      child.stderr?.destroy();
      child.unref();
      if (child.connected) child.disconnect();
      if (err === null) resolve();
      else reject(new Error(err));
    };
    child.on('message', (m: DaemonReport) => finish(m.ok ? null : (m.error ?? 'the daemon failed without saying why')));
    child.on(lo.wrap ? 'close' : 'exit', (code: number | null, sig: string | null) => {
      const why = said.trim().split('\n').filter(Boolean).pop()?.replace(/^strata: /, '');
      finish(why ?? `daemon exited before the mount was live (${sig ?? `exit ${code}`})`);
    });
    child.on('error', (e) => finish(`cannot start daemon: ${e.message}`));
  });
}
