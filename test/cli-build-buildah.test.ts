// buildah as the oracle for strata build: the same Dockerfile and context built by both
// (buildah bud --isolation chroot --layers), both images exported as OCI and unpacked by
// umoci; the root filesystems must match (tree-manifest without mtimes), and so must the
// config (Env, Cmd, Entrypoint, WorkingDir, User, ExposedPorts, Volumes, Labels,
// StopSignal) and the layers: one per RUN, COPY and ADD.
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { execFileSync, spawnSync } from 'node:child_process';
import { FIXTURES, TREE_MANIFEST, makeTar } from './image-helpers';
import { RtStore, destroyStore, makeStore } from './helpers/runtime';

let s: RtStore;
let bh: { env: NodeJS.ProcessEnv; args: string[] };
test.before(() => {
  s = makeStore('strata-bh-');
  const b = path.join(s.dir, 'buildah');
  fs.mkdirSync(b);
  fs.writeFileSync(path.join(b, 'containers.conf'), '[containers]\ndefault_ulimits = []\n[engine]\ncgroup_manager = "cgroupfs"\n');
  fs.writeFileSync(path.join(b, 'storage.conf'), `[storage]\ndriver = "overlay"\nrunroot = "${b}/run"\ngraphroot = "${b}/root"\n`);
  bh = { env: { ...process.env, CONTAINERS_CONF: path.join(b, 'containers.conf'), CONTAINERS_STORAGE_CONF: path.join(b, 'storage.conf') }, args: ['--root', `${b}/root`, '--runroot', `${b}/run`, '--storage-driver', 'overlay'] };
  buildah('pull', '-q', `oci:${path.join(FIXTURES, 'oci')}:base`);
  buildah('tag', buildah('images', '-q').trim().split('\n')[0], 'localhost/base');
  const t = s.run(['tag', 'base', 'localhost/base']);
  if (t.code !== 0) throw new Error(t.stderr);
});
test.after.always(() => {
  if (!s) return;
  try {
    buildah('rm', '--all');
    buildah('rmi', '--all', '--force');
  } catch {
    /* best effort */
  }
  spawnSync('umount', ['-R', '-l', path.join(s.dir, 'buildah', 'root', 'overlay')]);
  destroyStore(s);
});

function buildah(...args: string[]): string {
  return execFileSync('buildah', [...bh.args, ...args], { env: bh.env, encoding: 'utf8', maxBuffer: 1 << 26, stdio: ['ignore', 'pipe', 'pipe'] });
}

interface Cfg {
  config: Record<string, unknown>;
  rootfs: { diff_ids: string[] };
  history: Array<{ empty_layer?: boolean; created_by?: string }>;
}

function unpack(ociDir: string, tag: string, out: string): { tree: string; cfg: Cfg } {
  execFileSync('umoci', ['unpack', '--image', `${ociDir}:${tag}`, out], { stdio: 'ignore' });
  const idx = JSON.parse(fs.readFileSync(path.join(ociDir, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string; annotations?: Record<string, string> }> };
  const m = idx.manifests.find((x) => x.annotations?.['org.opencontainers.image.ref.name'] === tag) ?? idx.manifests[0];
  const blob = (d: string) => JSON.parse(fs.readFileSync(path.join(ociDir, 'blobs', 'sha256', d.replace('sha256:', '')), 'utf8')) as Record<string, unknown>;
  const manifest = blob(m.digest) as { config: { digest: string } };
  const tree = execFileSync(TREE_MANIFEST, [path.join(out, 'rootfs')], { encoding: 'utf8', maxBuffer: 1 << 28 });
  return { tree, cfg: blob(manifest.config.digest) as unknown as Cfg };
}

const FIELDS = ['Env', 'Cmd', 'Entrypoint', 'WorkingDir', 'User', 'ExposedPorts', 'Volumes', 'Labels', 'StopSignal'];
function pick(c: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of FIELDS) {
    let v = c[f];
    if (f === 'Labels' && v) v = Object.fromEntries(Object.entries(v as Record<string, string>).filter(([k]) => k !== 'io.buildah.version'));
    if (v === undefined || v === null || v === '' || (typeof v === 'object' && Object.keys(v as object).length === 0)) continue;
    out[f] = v;
  }
  return out;
}

async function compare(t: import('ava').ExecutionContext, name: string, files: Record<string, string | Buffer>, dockerfile: string, layersExpected: number): Promise<void> {
  const ctx = path.join(s.dir, `ctx-${name}`);
  fs.mkdirSync(ctx);
  fs.writeFileSync(path.join(ctx, 'Dockerfile'), dockerfile);
  for (const [k, v] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(ctx, k)), { recursive: true });
    fs.writeFileSync(path.join(ctx, k), v);
  }
  if (fs.existsSync(path.join(ctx, 'bin/tool'))) fs.chmodSync(path.join(ctx, 'bin/tool'), 0o755);
  const r = s.run(['build', '-t', `${name}:strata`, ctx]);
  t.is(r.code, 0, r.stderr + r.stdout);
  buildah('bud', '--isolation', 'chroot', '--layers', '-q', '-t', `${name}:buildah`, ctx);

  const work = path.join(s.dir, `out-${name}`);
  fs.mkdirSync(work);
  const sv = s.run(['save', '-o', path.join(work, 's.tar'), '--format', 'oci-archive', `${name}:strata`]);
  t.is(sv.code, 0, sv.stderr);
  fs.mkdirSync(path.join(work, 's'));
  execFileSync('tar', ['-xf', path.join(work, 's.tar'), '-C', path.join(work, 's')]);
  buildah('push', '-q', `${name}:buildah`, `oci:${path.join(work, 'b')}:x`);
  const ours = unpack(path.join(work, 's'), `${name}:strata`, path.join(work, 'su'));
  const theirs = unpack(path.join(work, 'b'), 'x', path.join(work, 'bu'));
  const a = new Set(ours.tree.split('\n'));
  const b = new Set(theirs.tree.split('\n'));
  t.deepEqual({ onlyStrata: [...a].filter((l) => !b.has(l)), onlyBuildah: [...b].filter((l) => !a.has(l)) }, { onlyStrata: [], onlyBuildah: [] });
  t.true(a.size > 4000, 'the whole rootfs was compared');
  t.deepEqual(pick(ours.cfg.config), pick(theirs.cfg.config));
  t.is(ours.cfg.rootfs.diff_ids.length, theirs.cfg.rootfs.diff_ids.length);
  t.is(ours.cfg.rootfs.diff_ids.length, layersExpected);
  const layered = (c: Cfg) => c.history.filter((h) => !h.empty_layer).length;
  t.is(layered(ours.cfg), layered(theirs.cfg));
  t.is(ours.cfg.history.length, theirs.cfg.history.length, 'one history entry per instruction');
}

test('files, directories, wildcards, --chown, WORKDIR, RUN (shell and exec form), config instructions', async (t) => {
  await compare(
    t,
    'one',
    { hosts: '127.0.0.1 localhost\n', 'app/main.sh': 'echo main\n', 'app/lib/util.sh': 'u\n', 'conf/a.conf': 'a', 'conf/b.conf': 'b', 'bin/tool': '#!/bin/sh\necho tool\n', 'README.md': 'readme' },
    `FROM localhost/base
COPY hosts /etc/hosts
ARG VERSION=1.2
ENV APP_HOME=/srv/app VERSION=\${VERSION} PATH=/srv/app/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
LABEL org.example.version=\${VERSION} org.example.name="the app"
WORKDIR \${APP_HOME}
COPY app/ ./
COPY conf/*.conf /etc/app/
COPY --chown=daemon:daemon bin/tool /srv/app/bin/tool
RUN mkdir -p data/cache && echo "$VERSION" > data/version && rm /etc/issue && useradd -M -u 4000 svc
RUN ["/bin/sh", "-c", "ln -s /srv/app/main.sh /usr/local/bin/app; chmod 0700 data/cache"]
USER svc
EXPOSE 8080/tcp 9090/udp
VOLUME ["/srv/app/data"]
STOPSIGNAL SIGINT
ENTRYPOINT ["/srv/app/bin/tool"]
CMD ["--serve"]
`,
    7,
  );
});

test('ADD of a local tar, a directory replaced by a file, deletions, ENTRYPOINT in shell form', async (t) => {
  const tarball = zlib.gzipSync(
    await makeTar([
      { name: 'vendor/', type: 'directory', mode: 0o750 },
      { name: 'vendor/lib.so', body: 'ELF?', mode: 0o755 },
      { name: 'vendor/notes', body: 'n\n', uid: 1000, gid: 1000 },
      { name: 'vendor/link', type: 'symlink', linkname: 'lib.so' },
    ]),
  );
  await compare(
    t,
    'two',
    { hosts: '127.0.0.1 localhost\n', 'vendor.tar.gz': tarball, 'etc-motd': 'motd\n' },
    `FROM localhost/base
COPY hosts /etc/hosts
ADD vendor.tar.gz /opt/
COPY etc-motd /etc/motd
RUN rm -rf /usr/share/doc && mkdir /usr/share/doc && echo replaced > /usr/share/doc/README && rm -rf /var/cache/apt
ENTRYPOINT exec /bin/sh -c 'echo hi'
`,
    5,
  );
});
