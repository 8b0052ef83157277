import * as fs from 'node:fs';
import { spawn, ChildProcess } from 'node:child_process';

interface HookableTest {
  before(fn: () => void): void;
  after: { always(fn: () => void): void };
}

// With STRATA_DROP_CACHES=1 a test file runs under constant cache eviction, so
// that inode numbers, lookups and open files must survive the kernel forgetting
// everything it knew about the mount.
export function useDropCachesStressor(test: HookableTest): void {
  if (process.env.STRATA_DROP_CACHES !== '1') return;
  let child: ChildProcess | undefined;
  test.before(() => {
    child = spawn('sh', ['-c', 'while :; do echo 3 > /proc/sys/vm/drop_caches; sleep 2; done'], {
      stdio: 'ignore',
      detached: true, // own process group: the loop and its sleep end together
    });
  });
  test.after.always(() => {
    if (child?.pid !== undefined && child.exitCode === null) {
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
  });
}

export function dropCaches(): void {
  fs.writeFileSync('/proc/sys/vm/drop_caches', '3');
}
