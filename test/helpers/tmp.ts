import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { mountsUnder, unmount } from './mount';

// World-searchable so that tests acting as another uid can reach the mounts inside.
export function makeTempDir(prefix = 'strata-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.chmodSync(dir, 0o755);
  return dir;
}

// Unmounts whatever is still mounted below dir (deepest first) before deleting it,
// so a failed test never makes rm descend into a live mount.
export function removeTempDir(dir: string): void {
  for (const m of mountsUnder(dir)) unmount(m);
  if (mountsUnder(dir).length > 0) throw new Error(`mounts left under ${dir}; not removing it`);
  try {
    fs.rmSync(dir, { recursive: true, force: true });
  } catch (e) {
    // Node removes by whole paths; rm(1) also removes trees deeper than PATH_MAX
    if ((e as NodeJS.ErrnoException).code !== 'ENAMETOOLONG') throw e;
    const r = spawnSync('rm', ['-rf', '--one-file-system', dir], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`rm -rf ${dir}: ${r.stderr}`);
  }
}

export interface Teardownable {
  teardown(fn: () => void | Promise<void>): void;
}

export function tempDirFor(t: Teardownable, prefix?: string): string {
  const dir = makeTempDir(prefix);
  t.teardown(() => removeTempDir(dir));
  return dir;
}
