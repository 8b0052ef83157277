import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { DRIVERS, Driver, mountUnion, unmount } from './helpers/mount';
import { makeTempDir, removeTempDir } from './helpers/tmp';
import { treeManifest, manifestDiff } from './helpers/manifest';
import { fixturesDir, layersToOverlayBin } from './helpers/paths';
import { pyOnce } from './helpers/pyops';
import { useDropCachesStressor } from './helpers/dropcaches';

useDropCachesStressor(test);

const IMAGES = ['base', 'child', 'grandchild'] as const;
type Image = (typeof IMAGES)[number];
const OCI = path.join(fixturesDir, 'oci');
const XATTR_FILE = '/opt/fixture/xattr-file';

let root = '';
const lowersOf = new Map<Image, string[]>(); // topmost first
let allLayers: string[] = [];
const lowerHashes = new Map<string, string>();

function layerDigests(tag: Image): string[] {
  const blob = (d: string) => path.join(OCI, 'blobs', ...d.split(':'));
  const index = JSON.parse(fs.readFileSync(path.join(OCI, 'index.json'), 'utf8'));
  const m = index.manifests.find((x: any) => x.annotations?.['org.opencontainers.image.ref.name'] === tag);
  if (!m) throw new Error(`tag ${tag} not in ${OCI}`);
  return JSON.parse(fs.readFileSync(blob(m.digest), 'utf8')).layers.map((l: any) => l.digest);
}

function extract(tag: Image, dest: string): string[] {
  const r = spawnSync(layersToOverlayBin, [OCI, tag, dest], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`layers-to-overlay ${tag} failed: ${r.stderr}`);
  return r.stdout.trim().split(':');
}

// Extraction takes a while, so it happens once per run: grandchild's layers are
// a superset of child's and base's (checked by digest), which then reuse them.
test.before(() => {
  root = makeTempDir('strata-fixtures-');
  const g = layerDigests('grandchild');
  const gl = extract('grandchild', path.join(root, 'grandchild'));
  lowersOf.set('grandchild', gl);
  for (const tag of ['child', 'base'] as const) {
    const d = layerDigests(tag);
    const isPrefix = d.every((x, i) => g[i] === x);
    lowersOf.set(tag, isPrefix ? gl.slice(gl.length - d.length) : extract(tag, path.join(root, tag)));
  }
  allLayers = [...new Set([...lowersOf.values()].flat())];
  for (const l of allLayers) lowerHashes.set(l, treeManifest(l, { mtime: true, allXattrs: true }));
});

test.after.always(() => {
  if (root) removeTempDir(root);
});

// The truth follows umoci, which drops the PAX xattr with an empty value; GNU tar
// (layers-to-overlay) keeps it, so the lower really holds user.fixture.empty="".
// The union must show what the lower holds: exactly that one xattr added to that one line.
function expectedManifest(tag: Image): { text: string; patched: number } {
  const truth = fs.readFileSync(path.join(fixturesDir, 'truth', `${tag}.mtime.manifest`), 'utf8');
  // Only the topmost layer holding the file counts (grandchild's layer 3 rewrote it).
  const top = lowersOf.get(tag)!.find((l) => pyOnce('exists', { p: path.join(l, XATTR_FILE) }).v === true);
  const r = top ? pyOnce('getxattr', { p: path.join(top, XATTR_FILE), name: 'user.fixture.empty' }) : undefined;
  if (!(r?.ok && r.v === '')) return { text: truth, patched: 0 };
  let patched = 0;
  const lines = truth.split('\n').map((line) => {
    if (!line.startsWith(`${XATTR_FILE} `)) return line;
    const m = / xattrs=(\S+)/.exec(line);
    if (!m) throw new Error(`no xattrs field in truth line ${line}`);
    const names = m[1] === '-' ? [] : m[1].split(',');
    if (names.some((x) => x.startsWith('user.fixture.empty='))) throw new Error('truth unexpectedly has the empty xattr');
    names.push('user.fixture.empty=');
    names.sort((a, b) => (a.split('=')[0] < b.split('=')[0] ? -1 : 1));
    patched++;
    return line.replace(/ xattrs=\S+/, ` xattrs=${names.join(',')}`);
  });
  return { text: lines.join('\n'), patched };
}

function mountAndList(driver: Driver, tag: Image): string {
  const mnt = fs.mkdtempSync(path.join(root, `mnt-${driver}-${tag}-`));
  mountUnion(driver, { lowers: lowersOf.get(tag)!, mnt });
  try {
    return treeManifest(mnt, { mtime: true });
  } finally {
    unmount(mnt);
    fs.rmdirSync(mnt);
  }
}

for (const tag of IMAGES) {
  for (const driver of DRIVERS) {
    test.serial(`fixture ${tag} mounted read-only by ${driver} matches truth/${tag}.mtime.manifest`, (t) => {
      const exp = expectedManifest(tag);
      // The README documents the difference for child; grandchild's layer 3 rewrote the file without it.
      t.is(exp.patched, tag === 'child' ? 1 : 0, 'the empty-xattr exception must touch exactly the one documented line');
      const got = mountAndList(driver, tag);
      t.deepEqual(manifestDiff(got, exp.text), []);
      t.is(got.split('\n').length, exp.text.split('\n').length);
    });
  }
}

test.serial('read-only mount refuses writes with EROFS', (t) => {
  for (const driver of DRIVERS) {
    const mnt = fs.mkdtempSync(path.join(root, `mnt-ro-${driver}-`));
    mountUnion(driver, { lowers: lowersOf.get('child')!, mnt });
    try {
      t.is(pyOnce('create', { p: path.join(mnt, 'new-file') }).err, 'EROFS', driver);
      t.is(pyOnce('unlink', { p: path.join(mnt, 'etc/hostname') }).err, 'EROFS', driver);
      t.is(pyOnce('chmod', { p: path.join(mnt, 'etc'), mode: 0o700 }).err, 'EROFS', driver);
    } finally {
      unmount(mnt);
      fs.rmdirSync(mnt);
    }
  }
});

// Declared last: serial tests run in order, so this sees every mount above.
test.serial('lower layers are unchanged after being mounted', (t) => {
  t.true(allLayers.length >= 3);
  for (const l of allLayers) {
    t.deepEqual(manifestDiff(treeManifest(l, { mtime: true, allXattrs: true }), lowerHashes.get(l)!), [], l);
  }
});
