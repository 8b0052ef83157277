// Setup and teardown shared by the reliability tests that mount one union by hand
// (rel-quota, rel-faulty-lower, rel-daemon-faults).
import type { ExecutionContext } from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fstypeAt, unmount } from './mount';

export function writeTree(root: string, files: Record<string, Buffer | string>): void {
  for (const [p, data] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, p)), { recursive: true, mode: 0o755 });
    fs.writeFileSync(path.join(root, p), data, { mode: 0o644 });
  }
}

export function workEntries(work: string): string[] {
  const w = path.join(work, 'work');
  return fs.existsSync(w) ? fs.readdirSync(w) : [];
}

/** Unmounts at teardown; register after whatever the mount sits on (teardowns run last-first). */
export function unmountAtTeardown(t: ExecutionContext, mnt: string): void {
  t.teardown(() => {
    if (fstypeAt(mnt)) unmount(mnt);
  });
}
