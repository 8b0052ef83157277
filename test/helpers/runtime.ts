// A store with the fixture images for tests that run real containers (runc on strata-fs),
// and the cleanup they need: every container killed and removed, no mount left.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { FIXTURES, STRATA, strata, RunResult } from '../image-helpers';

export interface RtStore {
  dir: string;
  root: string;
  run(args: string[], opts?: { input?: string; env?: Record<string, string> }): RunResult;
}

export function makeStore(prefix = 'strata-rt-'): RtStore {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.chmodSync(dir, 0o755);
  const root = path.join(dir, 'store');
  const r = strata(root, ['load', path.join(FIXTURES, 'oci')]);
  if (r.code !== 0) throw new Error(`load failed: ${r.stderr}`);
  return {
    dir,
    root,
    run(args, opts = {}) {
      const p = spawnSync(process.execPath, [STRATA, '--root', root, ...args], { encoding: 'utf8', input: opts.input ?? '', env: { ...process.env, ...(opts.env ?? {}) }, timeout: 120_000 });
      return { code: p.status ?? -1, stdout: p.stdout, stderr: p.stderr };
    },
  };
}

/** Kills and removes every container of the store, then deletes it; throws if a mount stays. */
export function destroyStore(s: RtStore): void {
  const ids = (JSON.parse(strata(s.root, ['ps', '-a', '--json']).stdout || '[]') as Array<{ id: string }>).map((c) => c.id);
  if (ids.length) strata(s.root, ['rm', '-f', ...ids]);
  const mounts = () => fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).filter((m) => m && m.startsWith(s.dir + '/'));
  for (const m of mounts().sort().reverse()) spawnSync('umount', ['-l', m]);
  const runcRoot = path.join(s.root, 'runc');
  if (fs.existsSync(runcRoot)) for (const id of fs.readdirSync(runcRoot)) spawnSync('runc', ['--root', runcRoot, 'delete', '-f', id]);
  fs.rmSync(s.dir, { recursive: true, force: true });
}

/** What is left of a container's runtime: runc's records under the store, strata-fs mounts under it. */
export function leftovers(s: RtStore): { runc: string[]; mounts: string[] } {
  const runcRoot = path.join(s.root, 'runc');
  const runc = fs.existsSync(runcRoot) ? fs.readdirSync(runcRoot) : [];
  const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).filter((m) => m && m.startsWith(s.root + '/'));
  return { runc, mounts };
}

/** Runs strata under a real pseudo-terminal (python's pty module) and drives it with a script. */
export function underPty(s: RtStore, args: string[], script: string): Promise<{ out: string; code: number }> {
  const py = `
import os, pty, sys, time, select, struct, fcntl, termios, json
argv = json.loads(sys.argv[1])
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)
out = b''
def rd(t):
    global out
    end = time.time() + t
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.05)
        if r:
            try:
                out += os.read(fd, 65536)
            except OSError:
                return
def until(s, t=20):
    end = time.time() + t
    while s.encode() not in out and time.time() < end:
        rd(0.1)
def send(s):
    os.write(fd, s.encode())
def size(rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', rows, cols, 0, 0))
${script}
rd(0.5)
_, st = os.waitpid(pid, 0)
sys.stdout.write(json.dumps({'out': out.decode('utf8', 'replace'), 'code': os.waitstatus_to_exitcode(st)}))
`;
  return new Promise((resolve, reject) => {
    const p = spawn('/usr/bin/python3', ['-c', py, JSON.stringify([STRATA, '--root', s.root, ...args])], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    // each until() waits up to 20 s: a loaded CI machine needs them all
    const t = setTimeout(() => p.kill('SIGKILL'), 150_000);
    // 'close', not 'exit': the helper's JSON may still be unread when it exits
    p.on('close', () => {
      clearTimeout(t);
      try {
        resolve(JSON.parse(out) as { out: string; code: number });
      } catch {
        reject(new Error(`pty helper failed${p.signalCode ? ` (${p.signalCode})` : ''}: ${err || out}`));
      }
    });
  });
}
