// What strata writes must be readable by other tools, and what they write readable by
// strata: skopeo reads our archives, umoci unpacks a committed image to the same tree.
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { makeTar, mkTmp, writeOciLayout, strata, DRIVER, treeManifest } from './image-helpers';

test('saved archives go through skopeo and umoci and come back the same', async (t) => {
  const d = mkTmp(t);
  const root = path.join(d, 'store');
  const base = await makeTar([
    { name: 'etc/', type: 'directory' },
    { name: 'etc/a', body: 'a' },
    { name: 'etc/gone', body: 'g' },
    { name: 'srv/', type: 'directory' },
    { name: 'srv/old', body: 'o' },
  ]);
  writeOciLayout(path.join(d, 'oci'), [{ ref: 'interop:1', layers: [{ tar: base }] }]);
  t.is(strata(root, ['load', path.join(d, 'oci')]).code, 0);
  t.is(strata(root, ['create', '--name', 'c', 'interop:1']).code, 0);
  const mnt = path.join(d, 'mnt');
  t.is(strata(root, ['mount', '--driver', DRIVER, 'c', mnt]).code, 0);
  fs.rmSync(path.join(mnt, 'etc/gone'));
  fs.writeFileSync(path.join(mnt, 'etc/b'), 'b');
  fs.rmSync(path.join(mnt, 'srv'), { recursive: true });
  fs.mkdirSync(path.join(mnt, 'srv'));
  fs.writeFileSync(path.join(mnt, 'srv/new'), 'n');
  fs.linkSync(path.join(mnt, 'etc/b'), path.join(mnt, 'etc/b2'));
  t.is(strata(root, ['commit', 'c', 'interop:2']).code, 0);
  const want = treeManifest(mnt, ['--no-root-meta']);
  t.is(strata(root, ['rm', '-f', 'c']).code, 0);

  for (const format of ['docker-archive', 'oci-archive']) {
    const arc = path.join(d, `x.${format}.tar`);
    t.is(strata(root, ['save', '--format', format, '-o', arc, 'interop:2']).code, 0);
    const src = format === 'docker-archive' ? `docker-archive:${arc}` : `oci-archive:${arc}:interop:2`;
    const layout = path.join(d, `skopeo-${format}`);
    execFileSync('skopeo', ['copy', '--quiet', src, `oci:${layout}:back`]);
    // umoci unpacks the layers its own way (whiteouts applied onto one rootfs)
    const bundle = path.join(d, `bundle-${format}`);
    execFileSync('umoci', ['unpack', '--image', `${layout}:back`, bundle], { stdio: 'ignore' });
    t.is(treeManifest(path.join(bundle, 'rootfs'), ['--no-root-meta']), want, `${format} via skopeo+umoci`);
    // and strata loads what skopeo wrote
    const root2 = path.join(d, `store-${format}`);
    const l = strata(root2, ['load', layout]);
    t.is(l.code, 0, l.stderr);
    t.is(strata(root2, ['create', '--name', 'r', 'back']).code, 0);
    const m2 = path.join(d, `mnt-${format}`);
    t.is(strata(root2, ['mount', '--driver', DRIVER, 'r', m2]).code, 0);
    t.is(treeManifest(m2, ['--no-root-meta']), want, `${format} via skopeo back into strata`);
    t.is(strata(root2, ['rm', '-f', 'r']).code, 0);
  }
});
