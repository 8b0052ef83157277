// The benchmark's btrfs and vfs drivers lay overlay-format layers down as plain trees
// (scripts/bench/layers.ts). What they show must be what kernel overlayfs shows of the
// same layers, or those drivers would be measured on a different tree.
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { applyLayer } from '../scripts/bench/layers';
import { buildLayer, LayerEntry } from './helpers/layers';
import { manifestDiff, treeManifest } from './helpers/manifest';
import { mountUnion, unmount } from './helpers/mount';
import { fixturesDir, layersToOverlayBin } from './helpers/paths';
import { tempDirFor } from './helpers/tmp';

/** lowers topmost first; returns the manifest of the kernel's merged view and of the applied tree. */
function both(root: string, lowers: string[]): { overlay: string; applied: string } {
  const flat = path.join(root, 'flat');
  fs.mkdirSync(flat);
  for (const l of [...lowers].reverse()) applyLayer(l, flat);
  const mnt = path.join(root, 'mnt');
  fs.mkdirSync(mnt);
  mountUnion('overlay', { lowers, mnt });
  try {
    return { overlay: treeManifest(mnt, { mtime: true }), applied: treeManifest(flat, { mtime: true }) };
  } finally {
    unmount(mnt);
  }
}

test('the grandchild fixture laid down layer by layer reads as its kernel overlay mount', (t) => {
  const root = tempDirFor(t, 'strata-bench-layers-');
  const r = spawnSync(layersToOverlayBin, [path.join(fixturesDir, 'oci'), 'grandchild', path.join(root, 'layers')], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`layers-to-overlay failed: ${r.stderr}`);
  const lowers = r.stdout.trim().split(':');
  t.is(lowers.length, 3);
  const m = both(root, lowers);
  t.deepEqual(manifestDiff(m.applied, m.overlay), []);
  t.true(m.applied.split('\n').length > 4000);
});

test('whiteouts delete, opaque dirs empty, types replace, xattrs follow the top layer, links stay links', (t) => {
  const root = tempDirFor(t, 'strata-bench-layers-');
  const outside = path.join(root, 'outside');
  fs.mkdirSync(outside);
  const [l1, l2, l3] = ['l1', 'l2', 'l3'].map((n) => path.join(root, n));
  const bottom: LayerEntry[] = [
    { p: 'gone', t: 'dir' },
    { p: 'gone/f', t: 'file', data: 'x' },
    { p: 'opq', t: 'dir' },
    { p: 'opq/old', t: 'file', data: 'old' },
    { p: 'was-dir', t: 'dir' },
    { p: 'was-dir/f', t: 'file', data: 'f' },
    { p: 'was-file', t: 'file', data: 'f' },
    { p: 'xa', t: 'dir', xattrs: { 'user.lower': 'v' }, mode: 0o700 },
    { p: 'xa/keep', t: 'file', data: 'k' },
    // A symlink out of the tree, replaced by a directory above: nothing may be written through it.
    { p: 'esc', t: 'symlink', target: outside },
    { p: 'linked', t: 'file', data: 'one inode' },
  ];
  const middle: LayerEntry[] = [
    { p: 'gone', t: 'whiteout' },
    { p: 'opq', t: 'dir', opaque: true },
    { p: 'opq/new', t: 'file', data: 'new' },
    { p: 'was-dir', t: 'file', data: 'now a file' },
    { p: 'was-file', t: 'dir' },
    { p: 'was-file/sub', t: 'file', data: 's' },
    { p: 'xa', t: 'dir', mode: 0o755 },
    { p: 'esc', t: 'dir' },
    { p: 'esc/inside', t: 'file', data: 'i' },
    { p: 'pair', t: 'dir' },
    { p: 'pair/a', t: 'file', data: 'pair', mode: 0o640 },
    { p: 'pair/b', t: 'link', target: 'pair/a' },
  ];
  const top: LayerEntry[] = [
    { p: 'gone', t: 'dir' },
    { p: 'gone/again', t: 'file', data: 'back' },
    { p: 'pair', t: 'dir' },
    { p: 'pair/b', t: 'whiteout' },
    { p: 'linked', t: 'symlink', target: 'pair/a' },
  ];
  buildLayer(l1, bottom);
  buildLayer(l2, middle);
  buildLayer(l3, top);
  const m = both(root, [l3, l2, l1]);
  t.deepEqual(manifestDiff(m.applied, m.overlay), []);
  t.deepEqual(fs.readdirSync(outside), [], 'nothing written through the replaced symlink');
  t.deepEqual(fs.readdirSync(path.join(root, 'flat', 'opq')), ['new']);
  t.false(fs.existsSync(path.join(root, 'flat', 'gone', 'f')));
  t.true(fs.lstatSync(path.join(root, 'flat', 'esc')).isDirectory());
});

test('a hard-link pair inside one layer stays one inode', (t) => {
  const root = tempDirFor(t, 'strata-bench-layers-');
  const l1 = path.join(root, 'l1');
  buildLayer(l1, [
    { p: 'a', t: 'file', data: 'shared' },
    { p: 'b', t: 'link', target: 'a' },
  ]);
  const flat = path.join(root, 'flat');
  fs.mkdirSync(flat);
  applyLayer(l1, flat);
  t.is(fs.statSync(path.join(flat, 'a')).ino, fs.statSync(path.join(flat, 'b')).ino);
  t.is(fs.readFileSync(path.join(flat, 'b'), 'utf8'), 'shared');
});
