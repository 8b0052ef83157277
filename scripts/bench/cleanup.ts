import { run } from './exec';
import { fuseDaemonPid, mountAt, mountsUnder, waitExit } from './procs';

/**
 * Unmounts mnt and waits for its daemon (if any) to end, so the next run does not
 * share the machine with a dying daemon. Escalates to SIGKILL of the daemon (which
 * aborts a FUSE connection) and a lazy unmount, so nothing is ever left behind.
 * Returns a note if it had to force anything.
 */
export async function forceUnmount(mnt: string, daemonPid: number | null): Promise<string | null> {
  let note: string | null = null;
  if (mountAt(mnt)) {
    const pid = daemonPid ?? fuseDaemonPid(mnt);
    const r = await run(['umount', mnt], { cleanup: true, timeoutMs: 30_000 });
    if (r.code !== 0 && mountAt(mnt)) {
      note = `umount ${mnt} failed (${(r.stderr.trim().split('\n')[0] || `exit ${r.code}`)}); forced`;
      if (pid !== null) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      await run(['umount', '-l', mnt], { cleanup: true, timeoutMs: 30_000 });
    }
    if (pid !== null && !(await waitExit(pid, 10_000))) {
      note = note ?? `daemon ${pid} did not exit after umount; killed`;
    }
  } else if (daemonPid !== null) {
    await waitExit(daemonPid, 10_000);
  }
  return note;
}

interface Active {
  mnt: string;
  daemonPid: number | null;
}

const active = new Map<string, Active>();

export function track(mnt: string, daemonPid: number | null): void {
  active.set(mnt, { mnt, daemonPid });
}

export function untrack(mnt: string): void {
  active.delete(mnt);
}

/** Last line of defence (finally blocks, Ctrl-C): nothing the bench mounted survives it. */
export async function cleanupAll(workdir: string): Promise<void> {
  for (const a of [...active.values()]) {
    await forceUnmount(a.mnt, a.daemonPid);
    active.delete(a.mnt);
  }
  for (const m of mountsUnder(workdir)) {
    await forceUnmount(m, null);
  }
}
