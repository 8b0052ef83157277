import * as path from 'node:path';
import * as fs from 'node:fs';

// Compiled files live in <repo>/dist/test/helpers; sources in <repo>/test/helpers.
function findRepoRoot(): string {
  let dir = __dirname;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'test'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`cannot find the repository root above ${__dirname}`);
    dir = up;
  }
}

export const repoRoot = findRepoRoot();
export const sharedDir = path.resolve(repoRoot, '..', 'shared');
export const treeManifestBin = path.join(sharedDir, 'tools', 'tree-manifest');
export const layersToOverlayBin = path.join(sharedDir, 'tools', 'layers-to-overlay');
export const fixturesDir = path.join(sharedDir, 'fixtures');
export const strataFsBin = path.join(repoRoot, 'bin', 'strata-fs');
// The system interpreter: a uid other than root cannot reach root's pyenv shims.
export const python = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
