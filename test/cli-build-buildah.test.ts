// buildah as the oracle for strata build: the same Dockerfile and context built by both
// (buildah bud --isolation chroot --layers), both images exported as OCI and unpacked by
// umoci; the root filesystems must match (tree-manifest without mtimes), and so must the
// config (Env, Cmd, Entrypoint, WorkingDir, User, ExposedPorts, Volumes, Labels,
// StopSignal) and the layers: one per RUN, COPY and ADD.
//
// And strata-fs as containers-storage's mount program: buildah from / run / commit / bud
// with overlay.mount_program=bin/strata-fs give the root filesystems and layers the
// kernel's overlay driver gives. That store keeps its layers with AUFS whiteouts (.wh.
// files), which strata-fs reads there.
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { execFileSync, spawnSync } from 'node:child_process';
import { FIXTURES, REPO, TREE_MANIFEST, makeTar } from './image-helpers';
import { RtStore, destroyStore, makeStore } from './helpers/runtime';

interface BuildahStore { dir: string; env: NodeJS.ProcessEnv; args: string[] }

let s: RtStore;
// buildah with the kernel's overlay driver (the oracle), and with strata-fs as the overlay
// driver's mount program (fuse-overlayfs's place), each in its own storage root
let bh: BuildahStore;
let bf: BuildahStore;

function buildahStore(dir: string, mountProgram?: string): BuildahStore {
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'containers.conf'), '[containers]\ndefault_ulimits = []\n[engine]\ncgroup_manager = "cgroupfs"\n');
  fs.writeFileSync(path.join(dir, 'storage.conf'), `[storage]\ndriver = "overlay"\nrunroot = "${dir}/run"\ngraphroot = "${dir}/root"\n`);
  const opts = mountProgram ? ['--storage-opt', `overlay.mount_program=${mountProgram}`] : [];
  return {
    dir,
    env: { ...process.env, CONTAINERS_CONF: path.join(dir, 'containers.conf'), CONTAINERS_STORAGE_CONF: path.join(dir, 'storage.conf') },
    args: ['--root', `${dir}/root`, '--runroot', `${dir}/run`, '--storage-driver', 'overlay', ...opts],
  };
}

test.before(() => {
  s = makeStore('strata-bh-');
  bh = buildahStore(path.join(s.dir, 'buildah'));
  bf = buildahStore(path.join(s.dir, 'buildah-strata-fs'), path.join(REPO, 'bin', 'strata-fs'));
  for (const b of [bh, bf]) {
    buildahIn(b, 'pull', '-q', `oci:${path.join(FIXTURES, 'oci')}:base`);
    buildahIn(b, 'tag', buildahIn(b, 'images', '-q').trim().split('\n')[0], 'localhost/base');
  }
  const t = s.run(['tag', 'base', 'localhost/base']);
  if (t.code !== 0) throw new Error(t.stderr);
});
test.after.always(() => {
  if (!s) return;
  for (const b of [bh, bf]) {
    if (!b) continue;
    try {
      buildahIn(b, 'rm', '--all');
      buildahIn(b, 'rmi', '--all', '--force');
    } catch {
      /* best effort */
    }
    spawnSync('umount', ['-R', '-l', path.join(b.dir, 'root', 'overlay')]);
  }
  destroyStore(s);
});

function buildahIn(b: BuildahStore, ...args: string[]): string {
  return execFileSync('buildah', [...b.args, ...args], { env: b.env, encoding: 'utf8', maxBuffer: 1 << 26, stdio: ['ignore', 'pipe', 'pipe'] });
}

function buildah(...args: string[]): string {
  return buildahIn(bh, ...args);
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

// ---------- strata-fs as the overlay driver's mount program ----------

const PROGRAM_MOUNT_TYPE = 'fuse.strata-fs';

function mountType(dir: string): string | undefined {
  const line = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.split(' ')[4] === dir).pop();
  return line?.split(' - ')[1]?.split(' ')[0];
}

interface TarEntry { name: string; type: string; attrs: string; linkname: string }

/** Every layer's tar entries, bottom first. */
async function layerEntries(ociDir: string, tag: string): Promise<TarEntry[][]> {
  const tarStream = await import('tar-stream');
  const idx = JSON.parse(fs.readFileSync(path.join(ociDir, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string; annotations?: Record<string, string> }> };
  const m = idx.manifests.find((x) => x.annotations?.['org.opencontainers.image.ref.name'] === tag) ?? idx.manifests[0];
  const blob = (d: string): Buffer => fs.readFileSync(path.join(ociDir, 'blobs', 'sha256', d.replace('sha256:', '')));
  const manifest = JSON.parse(blob(m.digest).toString()) as { layers: Array<{ digest: string; mediaType: string }> };
  const out: TarEntry[][] = [];
  for (const l of manifest.layers) {
    let data = blob(l.digest);
    if (l.mediaType.endsWith('gzip')) data = zlib.gunzipSync(data);
    const entries: TarEntry[] = [];
    await new Promise<void>((resolve, reject) => {
      const ex = tarStream.extract();
      ex.on('entry', (h, stream, next) => {
        const name = h.name.replace(/^\.\//, '').replace(/\/$/, '');
        const size = h.type === 'directory' || h.type === 'link' ? '' : String(h.size);
        entries.push({ name, type: h.type, attrs: `${h.type} ${(h.mode ?? 0).toString(8)} ${h.uid}:${h.gid} ${size} ${h.type === 'symlink' ? h.linkname : ''}`, linkname: h.linkname ?? '' });
        stream.on('end', next);
        stream.resume();
      });
      ex.on('finish', resolve);
      ex.on('error', reject);
      ex.end(data);
    });
    out.push(entries);
  }
  return out;
}

/**
 * What each layer changes, whatever form its tar takes: the layers applied one by one
 * (a .wh.NAME deletes NAME, .wh..wh..opq empties its directory of what is below, a hard
 * link is its target's entry), each layer as the lines of the tree that it adds, changes
 * or removes. The kernel driver's diff reads its upper directory (opaque markers, copied-up
 * directories that did not change); a mount program's store compares two mounts (a
 * whiteout per name): different tars, the same changes.
 */
function layerChanges(layers: TarEntry[][]): string[][] {
  let tree = new Map<string, string>();
  const out: string[][] = [];
  for (const entries of layers) {
    const next = new Map(tree);
    const removeBelow = (dir: string): void => {
      for (const k of [...next.keys()]) if (k.startsWith(dir + '/')) next.delete(k);
    };
    for (const e of entries) {
      const base = path.posix.basename(e.name);
      const dir = path.posix.dirname(e.name) === '.' ? '' : path.posix.dirname(e.name);
      if (base === '.wh..wh..opq') {
        for (const k of [...next.keys()]) if (k.startsWith(dir + '/') && tree.get(k) === next.get(k)) next.delete(k);
      } else if (base.startsWith('.wh.')) {
        const victim = (dir ? dir + '/' : '') + base.slice(4);
        next.delete(victim);
        removeBelow(victim);
      } else {
        if (e.type !== 'directory') removeBelow(e.name);
        next.set(e.name, e.type === 'link' ? (next.get(e.linkname) ?? `link to missing ${e.linkname}`) : e.attrs);
      }
    }
    const lines: string[] = [];
    for (const [k, v] of next) if (tree.get(k) !== v) lines.push(`+ ${k} ${v}`);
    for (const k of tree.keys()) if (!next.has(k)) lines.push(`- ${k}`);
    out.push(lines.sort());
    tree = next;
  }
  return out;
}

function lineDiff(a: string, b: string): { onlyStrataFs: string[]; onlyKernel: string[] } {
  const x = new Set(a.split('\n'));
  const y = new Set(b.split('\n'));
  return { onlyStrataFs: [...x].filter((l) => !y.has(l)).slice(0, 30), onlyKernel: [...y].filter((l) => !x.has(l)).slice(0, 30) };
}

// What the RUN does: changes of every kind over the grandchild image, whose layers hold
// whiteouts (files and a directory deleted) and opaque directories.
const CHANGES = [
  'set -e',
  'rm -rf /usr/share/doc /etc/issue',
  'echo recreated > /etc/motd',
  'mkdir -p /srv/app/data && echo hi > /srv/app/data/f && ln -s data/f /srv/app/link',
  'chmod 0600 /etc/hostname && chown 12:34 /etc/hosts',
  'mv /usr/share/zoneinfo/Europe /usr/share/zoneinfo/Elsewhere',
  'rm -rf /etc/apt && mkdir /etc/apt && echo fresh > /etc/apt/sources.list',
  'ls /opt/fixture > /srv/listing && ls -a /etc > /srv/etc-listing',
  'test ! -e /etc/.wh.motd && test ! -e /etc/issue.net',
].join('; ');

test('buildah from / run --isolation chroot / commit through strata-fs (mount program) equal the kernel overlay driver', async (t) => {
  const results = [];
  for (const b of [bh, bf]) {
    const ctr = buildahIn(b, 'from', '-q', '--name', 'mp-ctr', `oci:${path.join(FIXTURES, 'oci')}:grandchild`).trim();
    const before = buildahIn(b, 'mount', ctr).trim();
    t.is(mountType(before), b === bf ? PROGRAM_MOUNT_TYPE : 'overlay', 'mounted by the driver under test');
    const fresh = execFileSync(TREE_MANIFEST, [before], { encoding: 'utf8', maxBuffer: 1 << 28 });
    buildahIn(b, 'umount', ctr);
    buildahIn(b, 'run', '--isolation', 'chroot', ctr, '--', 'sh', '-c', CHANGES);
    const mnt = buildahIn(b, 'mount', ctr).trim();
    const changed = execFileSync(TREE_MANIFEST, [mnt], { encoding: 'utf8', maxBuffer: 1 << 28 });
    const listing = fs.readFileSync(path.join(mnt, 'srv', 'etc-listing'), 'utf8');
    buildahIn(b, 'umount', ctr);
    buildahIn(b, 'commit', '-q', ctr, 'localhost/mp-img');
    const oci = path.join(b.dir, 'mp-oci');
    buildahIn(b, 'push', '-q', 'localhost/mp-img', `oci:${oci}:x`);
    const unpacked = unpack(oci, 'x', path.join(b.dir, 'mp-unpacked'));
    results.push({ fresh, changed, listing, unpacked, layers: await layerEntries(oci, 'x') });
    buildahIn(b, 'rm', ctr);
  }
  const [k, f] = results;
  t.true(k!.fresh.split('\n').length > 4000, 'the whole rootfs was compared');
  t.deepEqual(lineDiff(f!.fresh, k!.fresh), { onlyStrataFs: [], onlyKernel: [] }, 'the image as a container sees it (whiteouts and opaque directories of its layers)');
  t.false(f!.listing.includes('.wh.'), 'no AUFS whiteout shows through');
  t.is(f!.listing, k!.listing);
  t.deepEqual(lineDiff(f!.changed, k!.changed), { onlyStrataFs: [], onlyKernel: [] }, 'after the RUN');
  t.deepEqual(lineDiff(f!.unpacked.tree, k!.unpacked.tree), { onlyStrataFs: [], onlyKernel: [] }, 'the committed image');
  t.is(f!.layers.length, 4);
  t.is(f!.layers.length, k!.layers.length);
  // the image's own layers come through unchanged; the committed one records the same changes
  const fc = layerChanges(f!.layers);
  const kc = layerChanges(k!.layers);
  t.deepEqual(fc.slice(0, 3), kc.slice(0, 3));
  t.deepEqual(fc[3], kc[3]);
  t.true(fc[3]!.includes('- usr/share/doc') && fc[3]!.includes('- etc/apt/apt.conf.d'), 'the deletions are in the committed layer');
});

test('buildah bud --isolation chroot through strata-fs (mount program) builds the kernel overlay driver\'s image', async (t) => {
  const ctx = path.join(s.dir, 'ctx-mp');
  fs.mkdirSync(ctx);
  fs.writeFileSync(path.join(ctx, 'app.sh'), 'echo app\n');
  fs.writeFileSync(path.join(ctx, 'Dockerfile'), `FROM localhost/base
COPY app.sh /srv/app.sh
RUN rm -rf /usr/share/doc /var/cache/apt && mkdir -p /srv/data && echo one > /srv/data/a
RUN rm /srv/data/a && echo two > /srv/data/b && rm -rf /etc/apt && mkdir /etc/apt && touch /etc/apt/x
RUN test ! -e /usr/share/doc && test ! -e /srv/data/a && ls -a /srv/data /etc/apt > /srv/seen
CMD ["/bin/sh", "/srv/app.sh"]
`);
  const results = [];
  for (const b of [bh, bf]) {
    buildahIn(b, 'bud', '--isolation', 'chroot', '--layers', '-q', '-t', 'localhost/mp-bud', ctx);
    const oci = path.join(b.dir, 'bud-oci');
    buildahIn(b, 'push', '-q', 'localhost/mp-bud', `oci:${oci}:x`);
    results.push({ unpacked: unpack(oci, 'x', path.join(b.dir, 'bud-unpacked')), layers: await layerEntries(oci, 'x') });
  }
  const [k, f] = results;
  t.deepEqual(lineDiff(f!.unpacked.tree, k!.unpacked.tree), { onlyStrataFs: [], onlyKernel: [] });
  t.true(k!.unpacked.tree.split('\n').length > 4000, 'the whole rootfs was compared');
  t.is(fs.readFileSync(path.join(bf.dir, 'bud-unpacked', 'rootfs', 'srv', 'seen'), 'utf8'), fs.readFileSync(path.join(bh.dir, 'bud-unpacked', 'rootfs', 'srv', 'seen'), 'utf8'));
  t.is(f!.layers.length, 5);
  t.deepEqual(layerChanges(f!.layers), layerChanges(k!.layers), 'layer by layer, the same changes');
  t.deepEqual(pick(f!.unpacked.cfg.config), pick(k!.unpacked.cfg.config));
});

// Rootless: buildah as uid 1000 with a subordinate ID range (bound over /etc/subuid and
// /etc/subgid, and a 0666 /dev/fuse over the host's, in a private mount namespace: the
// host's files are never changed). buildah then works in its own user namespace, where
// strata-fs mounts /dev/fuse itself with userxattr; the oracle is the same rootless buildah
// with the kernel's overlay driver (overlayfs with userxattr in that namespace).
test('rootless buildah (uid 1000, its own user namespace) from / run / commit through strata-fs equal the kernel overlay driver', async (t) => {
  const USER = 1000;
  const base = path.join(s.dir, 'rootless');
  fs.mkdirSync(base);
  fs.chmodSync(s.dir, 0o755);
  // by number: the uid need not have a name here
  fs.writeFileSync(path.join(base, 'subid'), `${USER}:100000:65536\n`);
  fs.chmodSync(path.join(base, 'subid'), 0o644);
  const results = [];
  for (const program of [null, path.join(REPO, 'bin', 'strata-fs')]) {
    const dir = path.join(base, program ? 'strata-fs' : 'kernel');
    for (const d of [dir, path.join(dir, 'home'), path.join(dir, 'run')]) {
      fs.mkdirSync(d);
      fs.chownSync(d, USER, USER);
    }
    fs.writeFileSync(path.join(dir, 'containers.conf'), '[containers]\ndefault_ulimits = []\n[engine]\ncgroup_manager = "cgroupfs"\n');
    fs.writeFileSync(path.join(dir, 'storage.conf'), `[storage]\ndriver = "overlay"\n${program ? `[storage.options.overlay]\nmount_program = "${program}"\n` : ''}`);
    const bh = `buildah --root ${dir}/home/storage --runroot ${dir}/run/storage`;
    const script = [
      'set -e',
      `${bh} from -q --name rl-ctr oci:${path.join(FIXTURES, 'oci')}:grandchild >/dev/null`,
      `${bh} run --isolation chroot rl-ctr -- sh -c '${CHANGES.replace(/'/g, `'\\''`)}'`,
      `${bh} commit -q rl-ctr localhost/rl-img >/dev/null`,
      `${bh} push -q localhost/rl-img oci:${dir}/oci:x`,
      `${bh} rm rl-ctr >/dev/null`,
      `${bh} rmi -a -f >/dev/null`,
    ].join('\n');
    fs.writeFileSync(path.join(dir, 'script.sh'), script);
    const env = [`HOME=${dir}/home`, `XDG_RUNTIME_DIR=${dir}/run`, `CONTAINERS_CONF=${dir}/containers.conf`, `CONTAINERS_STORAGE_CONF=${dir}/storage.conf`, `PATH=${path.dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`];
    const outer = [
      'set -e',
      `mknod -m 0666 ${dir}/fuse c 10 229`,
      `mount --bind ${dir}/fuse /dev/fuse`,
      `mount --bind ${base}/subid /etc/subuid`,
      `mount --bind ${base}/subid /etc/subgid`,
      `setpriv --reuid ${USER} --regid ${USER} --clear-groups -- env ${env.join(' ')} sh ${dir}/script.sh`,
    ].join('\n');
    const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', outer], { encoding: 'utf8', timeout: 600_000 });
    t.is(r.status, 0, `${program ?? 'kernel'}: ${r.stderr.split('\n').filter((l) => !l.includes('level=warning')).join('\n')}`);
    if (r.status !== 0) return;
    results.push({ unpacked: unpack(path.join(dir, 'oci'), 'x', path.join(dir, 'unpacked')), layers: await layerEntries(path.join(dir, 'oci'), 'x') });
  }
  const [k, f] = results;
  t.true(k!.unpacked.tree.split('\n').length > 4000, 'the whole rootfs was compared');
  t.deepEqual(lineDiff(f!.unpacked.tree, k!.unpacked.tree), { onlyStrataFs: [], onlyKernel: [] }, 'the committed image');
  t.is(f!.layers.length, 4);
  t.deepEqual(layerChanges(f!.layers), layerChanges(k!.layers));
  t.true(layerChanges(f!.layers)[3]!.includes('- usr/share/doc'), 'the RUN\'s deletions are in its layer');
});
