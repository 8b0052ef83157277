// The real-tool fixtures, loaded and mounted through strata, must give exactly the
// ground-truth trees; the same layer dirs under kernel overlayfs must too.
import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { FIXTURES, strata, DRIVER, treeManifest } from './image-helpers';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-fx-'));
const mounts: string[] = [];

test.after.always(() => {
  for (const m of mounts.reverse()) spawnSync('umount', ['-l', m]);
  fs.rmSync(work, { recursive: true, force: true });
});

const truth = (img: string) => fs.readFileSync(path.join(FIXTURES, 'truth', `${img}.mtime.manifest`), 'utf8');

function checkImage(t: { is(a: unknown, b: unknown, m?: string): void; true(a: boolean, m?: string): void }, root: string, ref: string, img: string, tag: string): void {
  const id = strata(root, ['create', '--name', `${tag}-${img}`, ref]);
  t.is(id.code, 0, id.stderr);
  const mnt = path.join(work, `${tag}-${img}-mnt`);
  const m = strata(root, ['mount', '--driver', DRIVER, `${tag}-${img}`, mnt]);
  t.is(m.code, 0, m.stderr);
  mounts.push(mnt);
  t.true(treeManifest(mnt) === truth(img), `${ref} through strata mount (${DRIVER}) matches truth/${img}.mtime.manifest`);
  // the same layer dirs, read-only, under kernel overlayfs
  const insp = JSON.parse(strata(root, ['inspect', ref]).stdout) as Array<{ Layers: Array<{ dir: string }> }>;
  // read-only overlayfs wants two lowers at least: an empty dir at the bottom changes nothing
  const empty = path.join(work, 'empty');
  fs.mkdirSync(empty, { recursive: true });
  const lower = [...insp[0].Layers.map((l) => l.dir).reverse(), empty].join(':');
  const kmnt = path.join(work, `${tag}-${img}-kernel`);
  fs.mkdirSync(kmnt);
  const r = spawnSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower}`, kmnt], { encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  mounts.push(kmnt);
  t.true(treeManifest(kmnt, ['--no-root-meta']) === truth(img).replace(/^\/ .*\n/, '/ type=dir\n'), `${ref} layer dirs under kernel overlayfs match truth`);
  t.is(strata(root, ['rm', '-f', `${tag}-${img}`]).code, 0);
}

test.serial('OCI gzip fixtures: base, child, grandchild', (t) => {
  const root = path.join(work, 'oci');
  const r = strata(root, ['load', path.join(FIXTURES, 'oci')]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, 'Loaded image: base:latest\nLoaded image: child:latest\nLoaded image: grandchild:latest\n');
  t.is(fs.readdirSync(path.join(root, 'layers')).length, 3, 'shared layers extracted once');
  for (const img of ['base', 'child', 'grandchild']) checkImage(t, root, img, img, 'gz');
});

test.serial('OCI zstd fixture: grandchild', (t) => {
  const root = path.join(work, 'zstd');
  const r = strata(root, ['load', path.join(FIXTURES, 'oci-zstd')]);
  t.is(r.code, 0, r.stderr);
  checkImage(t, root, 'grandchild', 'grandchild', 'zst');
});

test.serial('docker-archive fixture: base', (t) => {
  const root = path.join(work, 'docker');
  const r = strata(root, ['load', path.join(FIXTURES, 'docker-archive', 'base.docker.tar')]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, 'Loaded image: localhost/fixture-base:latest\n');
  checkImage(t, root, 'localhost/fixture-base', 'base', 'docker');
});
