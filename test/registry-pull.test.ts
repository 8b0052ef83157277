// strata pull against a real registry (docker-registry, filled by skopeo): the fixtures
// come out as their ground truth through strata mount; by digest; zstd layers; a
// two-platform index; a second pull downloads nothing; -a; a Docker Hub mirror.
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FIXTURES, DRIVER, makeTar, mkTmp, strata, treeManifest, writeOciLayout } from './image-helpers';
import { skopeoCopy, startRegistry, strataAsync } from './helpers/registry';
import { sha256 } from '../src/image/digest';

const truth = (img: string) => fs.readFileSync(path.join(FIXTURES, 'truth', `${img}.mtime.manifest`), 'utf8');
const blobGets = (reqs: string[]) => reqs.filter((r) => /^GET \/v2\/.*\/blobs\/sha256:/.test(r));

function mountMatches(t: { is(a: unknown, b: unknown, m?: string): void; true(a: boolean, m?: string): void }, d: string, root: string, ref: string, img: string): void {
  const name = `c-${img}-${Math.random().toString(36).slice(2, 8)}`;
  const c = strata(root, ['create', '--name', name, ref]);
  t.is(c.code, 0, c.stderr);
  const mnt = path.join(d, `mnt-${name}`);
  const m = strata(root, ['mount', '--driver', DRIVER, name, mnt]);
  t.is(m.code, 0, m.stderr);
  t.true(treeManifest(mnt) === truth(img), `${ref} pulled and mounted matches truth/${img}.mtime.manifest`);
  t.is(strata(root, ['rm', '-f', name]).code, 0);
}

test('pull of each fixture mounts as its truth; a second pull is up to date and downloads nothing', async (t) => {
  const d = mkTmp(t);
  const reg = await startRegistry(t, path.join(d, 'reg'));
  for (const img of ['base', 'child', 'grandchild']) skopeoCopy(`oci:${FIXTURES}/oci:${img}`, `docker://${reg.host}/fixtures/${img}:1.0`);
  const root = path.join(d, 'store');
  const r = await strataAsync(root, ['pull', `${reg.host}/fixtures/grandchild:1.0`]);
  t.is(r.code, 0, r.stderr);
  const manifestDigest = sha256(fs.readFileSync(path.join(FIXTURES, 'oci', 'blobs', 'sha256', (JSON.parse(fs.readFileSync(path.join(FIXTURES, 'oci', 'index.json'), 'utf8')) as { manifests: Array<{ digest: string; annotations: Record<string, string> }> }).manifests.find((m) => m.annotations['org.opencontainers.image.ref.name'] === 'grandchild')!.digest.slice(7))));
  t.is(
    r.stdout.replace(/^[0-9a-f]{12}: /gm, 'ID: '),
    ['1.0: Pulling from fixtures/grandchild', 'ID: Pull complete', 'ID: Pull complete', 'ID: Pull complete', `Digest: ${manifestDigest}`, `Status: Downloaded newer image for ${reg.host}/fixtures/grandchild:1.0`, `${reg.host}/fixtures/grandchild:1.0`, ''].join('\n'),
  );
  t.is(r.stderr, '');
  mountMatches(t, d, root, `${reg.host}/fixtures/grandchild:1.0`, 'grandchild');

  // the other two share its lower layers: "Already exists"
  for (const img of ['base', 'child']) {
    const p = await strataAsync(root, ['pull', `${reg.host}/fixtures/${img}:1.0`]);
    t.is(p.code, 0, p.stderr);
    t.regex(p.stdout, /Already exists/);
    t.notRegex(p.stdout, /Pull complete/);
    mountMatches(t, d, root, `${reg.host}/fixtures/${img}:1.0`, img);
  }

  const before = blobGets(reg.requests()).length;
  const again = await strataAsync(root, ['pull', `${reg.host}/fixtures/grandchild:1.0`]);
  t.is(again.code, 0, again.stderr);
  t.regex(again.stdout, new RegExp(`Status: Image is up to date for ${reg.host}/fixtures/grandchild:1.0\n`));
  t.is((again.stdout.match(/Already exists/g) ?? []).length, 3);
  t.is(blobGets(reg.requests()).length, before, 'the second pull GETs no blob');

  const insp = JSON.parse(strata(root, ['inspect', `${reg.host}/fixtures/grandchild:1.0`]).stdout) as Array<{ RepoDigests: string[]; ManifestDigest: string }>;
  t.deepEqual(insp[0].RepoDigests, [`${reg.host}/fixtures/grandchild@${manifestDigest}`]);
  t.is(insp[0].ManifestDigest, manifestDigest);
  const imgs = strata(root, ['images', '--digests']);
  t.regex(imgs.stdout, /^REPOSITORY\s+TAG\s+DIGEST\s+IMAGE ID\s+CREATED\s+SIZE\n/);
  t.regex(imgs.stdout, new RegExp(`${reg.host}/fixtures/grandchild\\s+1\\.0\\s+${manifestDigest}\\s`));
  const ck = strata(root, ['check']);
  t.is(ck.code, 0, ck.stdout);
  t.is(fs.readdirSync(path.join(root, 'tmp', 'downloads')).length, 0, 'no partial download left');
});

test('pull by digest, quiet; zstd layers; -a pulls every tag', async (t) => {
  const d = mkTmp(t);
  const reg = await startRegistry(t, path.join(d, 'reg'));
  skopeoCopy(`oci:${FIXTURES}/oci-zstd:grandchild`, `docker://${reg.host}/zstd:latest`);
  skopeoCopy(`oci:${FIXTURES}/oci:base`, `docker://${reg.host}/many:a`);
  skopeoCopy(`oci:${FIXTURES}/oci:child`, `docker://${reg.host}/many:b`);
  const root = path.join(d, 'store');
  const z = await strataAsync(root, ['pull', '-q', `${reg.host}/zstd`]);
  t.is(z.code, 0, z.stderr);
  t.is(z.stdout, `${reg.host}/zstd:latest\n`, '-q prints only the name');
  const insp = JSON.parse(strata(root, ['inspect', `${reg.host}/zstd`]).stdout) as Array<{ Layers: Array<{ mediaType: string }>; ManifestDigest: string }>;
  t.true(insp[0].Layers.every((l) => l.mediaType.endsWith('+zstd')), 'layers kept as zstd');
  mountMatches(t, d, root, `${reg.host}/zstd`, 'grandchild');

  const root2 = path.join(d, 'store2');
  const byDigest = `${reg.host}/zstd@${insp[0].ManifestDigest}`;
  const p = await strataAsync(root2, ['pull', byDigest]);
  t.is(p.code, 0, p.stderr);
  t.regex(p.stdout, new RegExp(`^${insp[0].ManifestDigest}: Pulling from zstd\n`));
  t.regex(p.stdout, new RegExp(`Status: Downloaded newer image for ${byDigest.replace(/[.]/g, '\\.')}\n${byDigest.replace(/[.]/g, '\\.')}\n$`));
  const rows = strata(root2, ['images', '--digests']).stdout;
  t.regex(rows, new RegExp(`${reg.host}/zstd\\s+<none>\\s+${insp[0].ManifestDigest}`), 'an image pulled by digest is untagged, listed by its digest');
  mountMatches(t, d, root2, byDigest, 'grandchild');

  const bad = await strataAsync(root2, ['pull', `${reg.host}/zstd@sha256:${'0'.repeat(64)}`]);
  t.is(bad.code, 1);
  t.regex(bad.stderr, /^strata: manifest for .*: manifest unknown.*\n$/);

  const a = await strataAsync(root2, ['pull', '-a', `${reg.host}/many`]);
  t.is(a.code, 0, a.stderr);
  t.regex(a.stdout, /a: Pulling from many\n[^]*b: Pulling from many\n/);
  mountMatches(t, d, root2, `${reg.host}/many:a`, 'base');
  mountMatches(t, d, root2, `${reg.host}/many:b`, 'child');
  const both = await strataAsync(root2, ['pull', '-a', `${reg.host}/many:a`]);
  t.is(both.code, 1);
  t.regex(both.stderr, /tag can't be used with --all-tags/);
});

test('a two-platform index: the host platform by default, --platform picks the other, a missing one is named', async (t) => {
  const d = mkTmp(t);
  const reg = await startRegistry(t, path.join(d, 'reg'));
  const layout = path.join(d, 'multi');
  const amd = await makeTar([{ name: 'etc/', type: 'directory' }, { name: 'etc/arch', body: 'amd64\n' }]);
  const arm = await makeTar([{ name: 'etc/', type: 'directory' }, { name: 'etc/arch', body: 'arm64\n' }]);
  const built = writeOciLayout(layout, [{ layers: [{ tar: amd }] }, { layers: [{ tar: arm }] }], (img, i) => {
    if (i === 1) img.config.architecture = 'arm64';
  });
  // an index over the two, as `buildah manifest` writes one
  const blobs = path.join(layout, 'blobs', 'sha256');
  const size = (dg: string) => fs.statSync(path.join(blobs, dg.slice(7))).size;
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: built[0].manifestDigest, size: size(built[0].manifestDigest), platform: { os: 'linux', architecture: 'amd64' } },
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: built[1].manifestDigest, size: size(built[1].manifestDigest), platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      ],
    }),
  );
  const indexDigest = sha256(index);
  fs.writeFileSync(path.join(blobs, indexDigest.slice(7)), index);
  fs.writeFileSync(path.join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', digest: indexDigest, size: index.length, annotations: { 'org.opencontainers.image.ref.name': 'multi' } }] }));
  skopeoCopy(`oci:${layout}:multi`, `docker://${reg.host}/multi:latest`, undefined, ['--all']);

  const arch = process.arch === 'x64' ? 'amd64' : 'arm64';
  const root = path.join(d, 'store');
  const cat = async (ref: string): Promise<string> => {
    const name = `c${Math.random().toString(36).slice(2, 8)}`;
    t.is(strata(root, ['create', '--name', name, ref]).code, 0);
    const mnt = path.join(d, name);
    const m = strata(root, ['mount', '--driver', DRIVER, name, mnt]);
    t.is(m.code, 0, m.stderr);
    const s = fs.readFileSync(path.join(mnt, 'etc/arch'), 'utf8');
    t.is(strata(root, ['rm', '-f', name]).code, 0);
    return s;
  };
  const p = await strataAsync(root, ['pull', `${reg.host}/multi`]);
  t.is(p.code, 0, p.stderr);
  t.regex(p.stdout, new RegExp(`Digest: ${indexDigest}\n`), 'the digest shown is the index\'s');
  t.is(await cat(`${reg.host}/multi`), `${arch}\n`);
  const insp = JSON.parse(strata(root, ['inspect', `${reg.host}/multi`]).stdout) as Array<{ RepoDigests: string[] }>;
  t.deepEqual(insp[0].RepoDigests, [`${reg.host}/multi@${indexDigest}`]);

  const other = arch === 'amd64' ? 'arm64' : 'amd64';
  const q = await strataAsync(root, ['pull', '--platform', `linux/${other}`, `${reg.host}/multi:latest`]);
  t.is(q.code, 0, q.stderr);
  t.is(await cat(`${reg.host}/multi`), `${other}\n`);

  const snap = fs.readdirSync(path.join(root, 'images')).sort();
  const none = await strataAsync(root, ['pull', '--platform', 'linux/s390x', `${reg.host}/multi`]);
  t.is(none.code, 1);
  t.is(none.stderr, `strata: no image for linux/s390x in the image index of ${reg.host}/multi:latest; it has linux/amd64, linux/arm64/v8\n`);
  t.deepEqual(fs.readdirSync(path.join(root, 'images')).sort(), snap);
  const badp = await strataAsync(root, ['pull', '--platform', 'linux', `${reg.host}/multi`]);
  t.is(badp.code, 1);
  t.regex(badp.stderr, /invalid platform "linux"/);
  t.is(strata(root, ['check']).code, 0);
});

test('Docker Hub names go to the store\'s registry-mirrors first', async (t) => {
  const d = mkTmp(t);
  const reg = await startRegistry(t, path.join(d, 'reg'));
  skopeoCopy(`oci:${FIXTURES}/oci:child`, `docker://${reg.host}/library/child:latest`);
  skopeoCopy(`oci:${FIXTURES}/oci:base`, `docker://${reg.host}/someone/base:v1`);
  const root = path.join(d, 'store');
  fs.mkdirSync(root, { recursive: true });
  fs.writeFileSync(path.join(root, 'config.json'), JSON.stringify({ 'registry-mirrors': [`http://${reg.host}`] }));
  const p = await strataAsync(root, ['pull', 'child']);
  t.is(p.code, 0, p.stderr);
  t.regex(p.stdout, /^Using default tag: latest\nlatest: Pulling from library\/child\n/);
  t.regex(p.stdout, /Status: Downloaded newer image for child:latest\ndocker\.io\/library\/child:latest\n$/);
  mountMatches(t, d, root, 'child', 'child');
  const u = await strataAsync(root, ['pull', 'someone/base:v1']);
  t.is(u.code, 0, u.stderr);
  t.regex(u.stdout, /docker\.io\/someone\/base:v1\n$/);
  const insp = JSON.parse(strata(root, ['inspect', 'someone/base:v1']).stdout) as Array<{ RepoDigests: string[]; RepoTags: string[] }>;
  t.deepEqual(insp[0].RepoTags, ['someone/base:v1']);
  t.regex(insp[0].RepoDigests[0], /^someone\/base@sha256:[0-9a-f]{64}$/);
  t.true(reg.requests().some((r) => r.startsWith('GET /v2/library/child/manifests/latest')), 'the mirror was asked');
  fs.writeFileSync(path.join(root, 'config.json'), '{"registry-mirrors": ["ftp://x"]}');
  const bad = await strataAsync(root, ['pull', 'child']);
  t.is(bad.code, 1);
  t.regex(bad.stderr, /config\.json: registry mirror "ftp:\/\/x" must be http\(s\)/);
});

test('an image loaded from a docker-archive, then pulled gzip-compressed: one record, the pulled manifest and blobs, check clean', async (t) => {
  const d = mkTmp(t);
  const reg = await startRegistry(t, path.join(d, 'reg'));
  skopeoCopy(`oci:${FIXTURES}/oci:base`, `docker://${reg.host}/base:1`);
  const root = path.join(d, 'store');
  t.is(strata(root, ['load', path.join(FIXTURES, 'docker-archive', 'base.docker.tar')]).code, 0);
  const loaded = JSON.parse(strata(root, ['inspect', 'localhost/fixture-base']).stdout) as Array<{ Id: string; ManifestDigest: string }>;
  const p = await strataAsync(root, ['pull', `${reg.host}/base:1`]);
  t.is(p.code, 0, p.stderr);
  const pulled = JSON.parse(strata(root, ['inspect', `${reg.host}/base:1`]).stdout) as Array<{ Id: string; ManifestDigest: string; RepoTags: string[]; Layers: Array<{ mediaType: string }> }>;
  t.is(pulled[0].Id, loaded[0].Id, 'the same config: the same image');
  t.regex(p.stdout, /Pull complete/, 'the gzip blob is downloaded and verified against the layer already there');
  t.not(pulled[0].ManifestDigest, loaded[0].ManifestDigest);
  t.deepEqual(pulled[0].RepoTags.sort(), [`${reg.host}/base:1`, 'localhost/fixture-base:latest'].sort());
  t.true(pulled[0].Layers[0].mediaType.endsWith('gzip'));
  t.false(fs.existsSync(path.join(root, 'blobs', 'sha256', loaded[0].ManifestDigest.slice(7))), 'the superseded manifest is gone');
  const ck = strata(root, ['check']);
  t.is(ck.code, 0, ck.stdout);
  mountMatches(t, d, root, 'localhost/fixture-base', 'base');
});
