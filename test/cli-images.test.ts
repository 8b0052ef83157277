import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { makeTar, mkTmp, writeOciLayout, strata, DRIVER, treeManifest } from './image-helpers';
import { sha256 } from '../src/image/digest';

async function twoImages(d: string): Promise<string> {
  const root = path.join(d, 'store');
  const base = await makeTar([{ name: 'etc/', type: 'directory' }, { name: 'etc/os', body: 'base' }]);
  const top = await makeTar([{ name: 'etc/app', body: 'app', pax: { mtime: '1700000000.123456789', 'SCHILY.xattr.user.k': 'v' } }, { name: 'etc/.wh.os', body: '' }]);
  writeOciLayout(path.join(d, 'oci'), [
    { ref: 'base:1', layers: [{ tar: base }] },
    { ref: 'me/app:2', layers: [{ tar: base }, { tar: top, compression: 'zstd' }], history: ['base', 'app'] },
  ]);
  const r = strata(root, ['load', path.join(d, 'oci')]);
  if (r.code !== 0) throw new Error(r.stderr);
  return root;
}

test('images: docker columns, filters, json', async (t) => {
  const d = mkTmp(t);
  const root = await twoImages(d);
  const out = strata(root, ['images']).stdout.split('\n');
  t.regex(out[0], /^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/);
  t.is(out.filter((l) => /^me\/app\s+2\s+[0-9a-f]{12}\s+.+ago\s+\d/.test(l)).length, 1);
  t.is(out.filter((l) => /^base\s+1\s+/.test(l)).length, 1);
  const f = strata(root, ['images', '--json', 'me/app']);
  t.deepEqual((JSON.parse(f.stdout) as Array<{ repository: string; tag: string }>).map((r) => `${r.repository}:${r.tag}`), ['me/app:2']);
  t.deepEqual(JSON.parse(strata(root, ['images', '--json', 'me/app:3']).stdout), []);
  t.deepEqual((JSON.parse(strata(root, ['images', '--json', 'docker.io/library/base:1']).stdout) as unknown[]).length, 1);
});

test('tag, rmi: Untagged/Deleted lines, layers shared with other images stay', async (t) => {
  const d = mkTmp(t);
  const root = await twoImages(d);
  t.is(strata(root, ['tag', 'me/app:2', 'other']).code, 0);
  t.is(strata(root, ['images', '--json', 'other:latest']).stdout.includes('"latest"'), true);
  t.regex(strata(root, ['tag', 'me/app:2', 'Bad Name']).stderr, /invalid/);
  t.regex(strata(root, ['tag', 'nothere', 'x']).stderr, /no such image/);
  const layersBefore = fs.readdirSync(path.join(root, 'layers')).length;
  const r1 = strata(root, ['rmi', 'other']);
  t.is(r1.stdout, 'Untagged: other:latest\n', 'still tagged me/app:2: only untag');
  t.is(fs.readdirSync(path.join(root, 'layers')).length, layersBefore);
  const r2 = strata(root, ['rmi', 'me/app:2']);
  t.is(r2.code, 0, r2.stderr);
  const lines = r2.stdout.trim().split('\n');
  t.is(lines[0], 'Untagged: me/app:2');
  t.regex(lines[1], /^Deleted: sha256:[0-9a-f]{64}$/);
  t.is(lines.length, 3, 'image + its own top layer; the base layer is still used by base:1');
  t.is(fs.readdirSync(path.join(root, 'layers')).length, layersBefore - 1);
  t.regex(strata(root, ['rmi', 'me/app:2']).stderr, /no such image/);
  t.is(strata(root, ['rmi', 'base:1']).code, 0);
  t.deepEqual(fs.readdirSync(path.join(root, 'layers')), []);
  t.deepEqual(fs.readdirSync(path.join(root, 'blobs', 'sha256')), [], 'blobs nothing uses are gone');
});

test('inspect and history', async (t) => {
  const d = mkTmp(t);
  const root = await twoImages(d);
  const i = JSON.parse(strata(root, ['inspect', 'me/app:2']).stdout) as Array<{ Id: string; RepoTags: string[]; Layers: Array<{ dir: string }>; RootFS: { Layers: string[] } }>;
  t.regex(i[0].Id, /^sha256:/);
  t.deepEqual(i[0].RepoTags, ['me/app:2']);
  t.is(i[0].Layers.length, 2);
  t.true(fs.statSync(i[0].Layers[1].dir).isDirectory());
  t.is(i[0].RootFS.Layers.length, 2);
  const h = strata(root, ['history', 'me/app:2']).stdout.split('\n');
  t.regex(h[0], /^IMAGE\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT$/);
  t.regex(h[1], /^[0-9a-f]{12}\s+.*app/);
  t.regex(h[2], /^<missing>\s+.*base/);
  t.regex(strata(root, ['inspect', 'nothing']).stderr, /no such image or container/);
});

for (const format of ['docker-archive', 'oci-archive']) {
  test(`save --format ${format} round-trips through load`, async (t) => {
    const d = mkTmp(t);
    const root = await twoImages(d);
    const out = path.join(d, `saved-${format}.tar`);
    const s = strata(root, ['save', '--format', format, '-o', out, 'me/app:2', 'base:1']);
    t.is(s.code, 0, s.stderr);
    const listing = execFileSync('tar', ['-tf', out], { encoding: 'utf8' });
    if (format === 'docker-archive') {
      t.regex(listing, /^manifest\.json$/m);
      // docker-archive layers are uncompressed, so their sha256 is the diff_id
      const manifest = JSON.parse(execFileSync('tar', ['-xOf', out, 'manifest.json'], { encoding: 'utf8' })) as Array<{ Config: string; Layers: string[]; RepoTags: string[] }>;
      t.deepEqual(manifest.map((m) => m.RepoTags), [['me/app:2'], ['base:1']]);
      const cfg = JSON.parse(execFileSync('tar', ['-xOf', out, manifest[0].Config], { encoding: 'utf8' })) as { rootfs: { diff_ids: string[] } };
      const layer = execFileSync('tar', ['-xOf', out, manifest[0].Layers[1]], { maxBuffer: 1 << 26 });
      t.is(sha256(layer), cfg.rootfs.diff_ids[1]);
    } else {
      t.regex(listing, /^oci-layout$/m);
      t.regex(listing, /^index\.json$/m);
    }
    const root2 = path.join(d, 'store2');
    const l = strata(root2, ['load', out]);
    t.is(l.code, 0, l.stderr);
    t.is(l.stdout, 'Loaded image: me/app:2\nLoaded image: base:1\n');
    const id1 = (JSON.parse(strata(root, ['inspect', 'me/app:2']).stdout) as Array<{ Id: string }>)[0].Id;
    const id2 = (JSON.parse(strata(root2, ['inspect', 'me/app:2']).stdout) as Array<{ Id: string }>)[0].Id;
    t.is(id2, id1, 'same config, same image id');
    const trees: string[] = [];
    for (const [r, n] of [[root, 'a'], [root2, 'b']]) {
      t.is(strata(r, ['create', '--name', n, 'me/app:2']).code, 0);
      const m = strata(r, ['mount', '--driver', DRIVER, n, path.join(d, `mnt-${n}`)]);
      t.is(m.code, 0, m.stderr);
      trees.push(treeManifest(path.join(d, `mnt-${n}`)));
      t.is(strata(r, ['rm', '-f', n]).code, 0);
    }
    t.is(trees[1], trees[0]);
    t.regex(trees[0], /\/etc\/app type=file .*xattrs=user\.k=76 mtime=1700000000\.123456789/);
    t.notRegex(trees[0], /\/etc\/os /);
  });
}

test('save refuses unknown images and leaves no partial file', async (t) => {
  const d = mkTmp(t);
  const root = await twoImages(d);
  const out = path.join(d, 'x.tar');
  const r = strata(root, ['save', '-o', out, 'base:1', 'ghost:9']);
  t.not(r.code, 0);
  t.regex(r.stderr, /no such image: ghost:9/);
  t.false(fs.existsSync(out));
  t.deepEqual(fs.readdirSync(d).filter((f) => f.includes('strata-tmp')), []);
});
