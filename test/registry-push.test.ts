// strata push to a real registry, read back by skopeo and unpacked by umoci: the same
// trees; an unchanged pulled image keeps its manifest digest; a second tag pushes no
// blob; a blob known in another repository is mounted; committed and docker-archive
// images; chunked uploads.
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { FIXTURES, DRIVER, mkTmp, strata, treeManifest } from './image-helpers';
import { skopeoCopy, startRegistry, strataAsync } from './helpers/registry';

const truth = (img: string) => fs.readFileSync(path.join(FIXTURES, 'truth', `${img}.mtime.manifest`), 'utf8');
const uploads = (reqs: string[]) => reqs.filter((r) => /^(POST|PATCH|PUT) \/v2\/.*\/blobs\/uploads/.test(r));

/** skopeo copies the image out of the registry; umoci unpacks it; the rootfs tree. */
function unpacked(d: string, src: string, name: string, noRootMeta = false): string {
  const layout = path.join(d, `back-${name}`);
  skopeoCopy(`docker://${src}`, `oci:${layout}:back`);
  const bundle = path.join(d, `bundle-${name}`);
  execFileSync('umoci', ['unpack', '--image', `${layout}:back`, bundle], { stdio: 'ignore' });
  return treeManifest(path.join(bundle, 'rootfs'), noRootMeta ? ['--no-root-meta'] : []);
}

function remoteDigest(ref: string): string {
  return (JSON.parse(execFileSync('skopeo', ['inspect', '--tls-verify=false', `docker://${ref}`], { encoding: 'utf8' })) as { Digest: string }).Digest;
}

test('push of a pulled image: same digest, same tree through skopeo+umoci; a second tag pushes no blob; another repo mounts', async (t) => {
  const d = mkTmp(t);
  const a = await startRegistry(t, path.join(d, 'reg-a'));
  const b = await startRegistry(t, path.join(d, 'reg-b'));
  skopeoCopy(`oci:${FIXTURES}/oci:grandchild`, `docker://${a.host}/gc:1`);
  const root = path.join(d, 'store');
  const p = await strataAsync(root, ['pull', `${a.host}/gc:1`]);
  t.is(p.code, 0, p.stderr);
  const pulledDigest = /Digest: (sha256:[0-9a-f]{64})/.exec(p.stdout)![1];

  t.is(strata(root, ['tag', `${a.host}/gc:1`, `${b.host}/team/app:1`]).code, 0);
  const r = await strataAsync(root, ['push', `${b.host}/team/app:1`]);
  t.is(r.code, 0, r.stderr);
  t.is(
    r.stdout.replace(/^[0-9a-f]{12}: /gm, 'ID: '),
    [`The push refers to repository [${b.host}/team/app]`, 'ID: Pushed', 'ID: Pushed', 'ID: Pushed', `1: digest: ${pulledDigest} size: ${fs.statSync(path.join(FIXTURES, 'oci', 'blobs', 'sha256', pulledDigest.slice(7))).size}`, ''].join('\n'),
  );
  t.is(remoteDigest(`${b.host}/team/app:1`), pulledDigest, 'an unchanged pulled image keeps its manifest digest');
  t.true(unpacked(d, `${b.host}/team/app:1`, 'app1') === truth('grandchild'), 'umoci unpacks what strata pushed to the truth tree');
  const insp = JSON.parse(strata(root, ['inspect', `${b.host}/team/app:1`]).stdout) as Array<{ RepoDigests: string[] }>;
  t.deepEqual(insp[0].RepoDigests.sort(), [`${a.host}/gc@${pulledDigest}`, `${b.host}/team/app@${pulledDigest}`].sort());

  // a second tag of the same image: every blob is already there
  t.is(strata(root, ['tag', `${b.host}/team/app:1`, `${b.host}/team/app:2`]).code, 0);
  const before = uploads(b.requests()).length;
  const r2 = await strataAsync(root, ['push', `${b.host}/team/app:2`]);
  t.is(r2.code, 0, r2.stderr);
  t.is((r2.stdout.match(/: Layer already exists\n/g) ?? []).length, 3);
  t.is(uploads(b.requests()).length, before, 'no blob upload for a second tag');
  t.is(remoteDigest(`${b.host}/team/app:2`), pulledDigest);

  // another repository of the same registry: mounted from team/app, not uploaded
  t.is(strata(root, ['tag', `${b.host}/team/app:1`, `${b.host}/other/copy:1`]).code, 0);
  const r3 = await strataAsync(root, ['push', `${b.host}/other/copy:1`]);
  t.is(r3.code, 0, r3.stderr);
  t.is((r3.stdout.match(/: Mounted from team\/app\n/g) ?? []).length, 3, r3.stdout);
  t.true(b.requests().some((q) => /^POST \/v2\/other\/copy\/blobs\/uploads\/\?mount=sha256%3A[0-9a-f]{64}&from=team%2Fapp 201$/.test(q)));
  t.false(b.requests().some((q) => /^(PATCH|PUT) \/v2\/other\/copy\/blobs\/uploads/.test(q)), 'nothing uploaded to other/copy');
  t.is(remoteDigest(`${b.host}/other/copy:1`), pulledDigest);

  // -a: every tag of the repository
  const all = await strataAsync(root, ['push', '-a', `${b.host}/team/app`]);
  t.is(all.code, 0, all.stderr);
  t.regex(all.stdout, /^1: digest: sha256:[0-9a-f]{64} size: \d+\n(?:[0-9a-f]{12}: Layer already exists\n){3}2: digest: /m);
  const none = await strataAsync(root, ['push', `${b.host}/team/app`]);
  t.is(none.code, 1);
  t.is(none.stderr, `strata: An image does not exist locally with the tag: ${b.host}/team/app:latest (it has the tags 1, 2: name one, or push all with -a)\n`);
  t.is(strata(root, ['check']).code, 0);
});

test('push of a committed image and of a docker-archive image; chunked uploads', async (t) => {
  const d = mkTmp(t);
  const reg = await startRegistry(t, path.join(d, 'reg'));
  const root = path.join(d, 'store');
  t.is(strata(root, ['load', path.join(FIXTURES, 'oci')]).code, 0);
  t.is(strata(root, ['create', '--name', 'c', 'child']).code, 0);
  const mnt = path.join(d, 'mnt');
  t.is(strata(root, ['mount', '--driver', DRIVER, 'c', mnt]).code, 0);
  fs.writeFileSync(path.join(mnt, 'etc', 'pushed-by-strata'), 'hello registry\n');
  fs.rmSync(path.join(mnt, 'etc', 'hostname'), { force: true });
  fs.rmSync(path.join(mnt, 'usr', 'share', 'doc'), { recursive: true, force: true });
  const want = treeManifest(mnt, ['--no-root-meta']);
  t.is(strata(root, ['commit', 'c', `${reg.host}/committed:v1`]).code, 0);
  t.is(strata(root, ['rm', '-f', 'c']).code, 0);
  // 1 MiB chunks: the 30 MB base layer goes in many PATCH requests
  const r = await strataAsync(root, ['push', `${reg.host}/committed:v1`], { env: { STRATA_PUSH_CHUNK_SIZE: String(1 << 20) } });
  t.is(r.code, 0, r.stderr);
  t.true(reg.requests().filter((q) => q.startsWith('PATCH /v2/committed/blobs/uploads/')).length > 20, 'chunked upload');
  t.true(unpacked(d, `${reg.host}/committed:v1`, 'committed', true) === want, 'the committed tree, through skopeo and umoci');

  // docker-archive layers are stored (and pushed) uncompressed, as the manifest strata wrote for them says
  const root2 = path.join(d, 'store2');
  t.is(strata(root2, ['load', path.join(FIXTURES, 'docker-archive', 'base.docker.tar')]).code, 0);
  t.is(strata(root2, ['tag', 'localhost/fixture-base', `${reg.host}/from-archive`]).code, 0);
  const r2 = await strataAsync(root2, ['push', '-q', `${reg.host}/from-archive`]);
  t.is(r2.code, 0, r2.stderr);
  t.is(r2.stdout, `${reg.host}/from-archive:latest\n`, '-q: the name only');
  const raw = JSON.parse(execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/from-archive`], { encoding: 'utf8' })) as { layers: Array<{ mediaType: string }> };
  t.is(raw.layers[0].mediaType, 'application/vnd.oci.image.layer.v1.tar');
  t.true(unpacked(d, `${reg.host}/from-archive`, 'archive') === truth('base'));

  const missing = await strataAsync(root2, ['push', `${reg.host}/nothing:here`]);
  t.is(missing.code, 1);
  t.is(missing.stderr, `strata: An image does not exist locally with the tag: ${reg.host}/nothing:here\n`);
  const dig = await strataAsync(root2, ['push', `${reg.host}/x@sha256:${'a'.repeat(64)}`]);
  t.is(dig.code, 1);
  t.regex(dig.stderr, /push by digest is not supported/);
});
