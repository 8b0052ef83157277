import * as fs from 'node:fs';
import * as path from 'node:path';

/** The repository root: the nearest directory above this file holding package.json
 *  (this file runs from dist/scripts/bench/, so a fixed "../.." would break if moved). */
export function repoRoot(): string {
  let dir = __dirname;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`cannot find the repository root above ${__dirname}`);
    dir = up;
  }
}

/** Fixtures and tools shared by all checkouts live next to the repository, never in it. */
export function sharedDir(): string {
  return path.resolve(repoRoot(), '..', 'shared');
}

let binDir: string | null = null;

/** Where strata and strata-fs come from: this checkout's bin/ unless --bin-dir says otherwise. */
export function setBinDir(dir: string): void {
  binDir = dir;
}

export function binPath(name: string): string {
  return path.join(binDir ?? path.join(repoRoot(), 'bin'), name);
}

/** Absolute path of an executable on PATH, or null. */
export function which(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (!dir) continue;
    const p = path.join(dir, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch {
      /* not here */
    }
  }
  return null;
}
