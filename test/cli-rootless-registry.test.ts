// A user's store (no root) against a real registry, and the commands that move trees in
// and out of it: push of a loaded image to docker-registry on loopback, pull into a fresh
// store (owners kept, shifted into the user's subordinate range; the manifest digest
// unchanged), build without RUN, export, import, cp both ways, image prune, system df,
// load from stdin. As in test/cli-rootless.test.ts, everything the user does runs in a
// private mount namespace with a 0666 /dev/fuse and the subordinate range bound over the
// host's, which takes the mounts with it if the test fails.
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { tempDirFor } from './helpers/tmp';
import { subidPlaces } from './helpers/subid';
import { FIXTURES, STRATA } from './image-helpers';
import { startRegistry } from './helpers/registry';
import { repoRoot } from './helpers/paths';

const USER = { uid: 1000, gid: 1000 };
const shift = (id: number) => (id === 0 ? USER.uid : 100000 + id - 1);
const letter: Record<string, string> = { file: 'f', dir: 'd', symlink: 'l', fifo: 'p' };
// the manifests write bytes outside printable ASCII (and spaces) as \xNN
const unescape = (p: string) => Buffer.from(p.replace(/\\x([0-9a-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('utf8');

/** The fixture's merged tree as "path type uid gid" lines (no leading /, no whiteouts), owners mapped by f. */
function truth(img: string, f: (id: number) => number): string[] {
  return fs
    .readFileSync(path.join(FIXTURES, 'truth', `${img}.manifest`), 'utf8')
    .split('\n')
    .filter((l) => l && !/ type=char /.test(l))
    .map((l) => {
      const m = /^(.*?) type=(\S+) mode=\S+ uid=(\d+) gid=(\d+)/.exec(l)!;
      return `${unescape(m[1]!.slice(1))} ${letter[m[2]!]} ${f(Number(m[3]))} ${f(Number(m[4]))}`;
    })
    .sort();
}

/** A tar's entries as "path type uid gid" (GNU tar's verbose numeric listing). */
function tarOwners(file: string): string[] {
  const r = spawnSync('tar', ['--numeric-owner', '-tvf', file], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const t: Record<string, string> = { '-': 'f', d: 'd', l: 'l', h: 'f', p: 'p' };
  return r.stdout
    .split('\n')
    .filter((l) => l && !l.startsWith('c'))
    .map((l) => {
      const m = /^(.)\S+ (\d+)\/(\d+) +\d+ \S+ \S+ (.*?)(?: -> .*| link to .*)?$/.exec(l)!;
      return `${m[4]!.replace(/^\.\/?/, '').replace(/\/$/, '')} ${t[m[1]!]} ${m[2]} ${m[3]}`;
    })
    .sort();
}

function run(argv: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(argv[0]!, argv.slice(1), { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
    c.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stderr });
    });
  });
}

test("a user with a subordinate ID range pushes to a registry, pulls into a fresh store, builds, exports, imports, copies in and out, prunes", async (t) => {
  const { home, work, ids, node, out } = subidPlaces(t, USER);
  const reg = await startRegistry(t, path.join(work, 'registry'));
  const storeA = path.join(home, '.local', 'share', 'strata');
  const storeB = path.join(home, 'fresh');
  const script = `
mknod -m 0666 "$NODE" c 10 229
mount --bind "$IDS" /etc/subuid; mount --bind "$IDS" /etc/subgid; mount --bind "$NODE" /dev/fuse
U() { setpriv --reuid ${USER.uid} --regid ${USER.gid} --clear-groups -- "$@"; }
# as root of the user's namespace (the user's ID 0, 1..N its range), as podman unshare
NS() { U "$NODE_BIN" -e 'const u = require(process.argv[1]); const a = u.inUserNamespace(["sh", "-c", process.argv[2]]); process.exit(require("child_process").spawnSync(a[0], a.slice(1), { stdio: "inherit" }).status)' "$USERNS" "$1"; }
S() { U env -u STRATA_ROOT -u XDG_DATA_HOME HOME="$HOME_DIR" "$NODE_BIN" "$STRATA" "$@"; }
# R NAME ARGS...: strata as the user; NAME.out, NAME.err, NAME.rc
R() { n=$1; shift; S "$@" > "$OUT/$n.out" 2> "$OUT/$n.err" < /dev/null; echo $? > "$OUT/$n.rc"; }
R load load -q "$OCI"
R tag tag grandchild "$REG/fx/gc:1"
R push push "$REG/fx/gc:1"
R pull --root "$STORE_B" pull "$REG/fx/gc:1"
R create --root "$STORE_B" create --name c1 "$REG/fx/gc:1"
R mount --root "$STORE_B" mount c1
U find "$(cat "$OUT/mount.out")" -printf '%P %y %U %G\\n' > "$OUT/merged" 2> /dev/null
R umount --root "$STORE_B" umount c1
# build: no RUN, so no container runs
U mkdir "$HOME_DIR/ctx" "$HOME_DIR/ctx/sub"
U sh -c "echo hello > '$HOME_DIR/ctx/hello.txt'; echo deep > '$HOME_DIR/ctx/sub/deep.txt'"
U sh -c "printf 'FROM $REG/fx/gc:1\\nCOPY hello.txt /hello.txt\\nCOPY sub /opt/fixture/owned-dir/sub\\nCOPY --chown=1234:5678 hello.txt /opt/fixture/chowned\\nCOPY --from=$REG/fx/gc:1 /var/cache/apt/archives/partial /opt/partial-copy\\nENV GREETING=hi\\nLABEL org.example.k=v\\nWORKDIR /srv/app\\n' > '$HOME_DIR/ctx/Dockerfile'"
R build --root "$STORE_B" build -q -t built:1 "$HOME_DIR/ctx"
# an owner outside the range: refused in one line, nothing left of the build
U sh -c "printf 'FROM $REG/fx/gc:1\\nCOPY --chown=70000:70000 hello.txt /far\\n' > '$HOME_DIR/ctx/Dockerfile.far'"
R prefar --root "$STORE_B" images -a -q --no-trunc
R prefarps --root "$STORE_B" ps -a -q
R far --root "$STORE_B" build -q -f "$HOME_DIR/ctx/Dockerfile.far" -t far:1 "$HOME_DIR/ctx"
R farps --root "$STORE_B" ps -a -q
R farimages --root "$STORE_B" images -a -q --no-trunc
U tar --owner=70000 --group=70000 --numeric-owner -cf "$HOME_DIR/ctx/far.tar" -C "$HOME_DIR/ctx" hello.txt
U sh -c "printf 'FROM $REG/fx/gc:1\\nADD far.tar /opt/\\n' > '$HOME_DIR/ctx/Dockerfile.faradd'"
R faradd --root "$STORE_B" build -q -f "$HOME_DIR/ctx/Dockerfile.faradd" -t faradd:1 "$HOME_DIR/ctx"
R faraddps --root "$STORE_B" ps -a -q
R faraddimages --root "$STORE_B" images -a -q --no-trunc
R inspect --root "$STORE_B" inspect -f '{{json .Config.Env}} {{json .Config.Labels}} {{.Config.WorkingDir}}' built:1
R create2 --root "$STORE_B" create --name c2 built:1
# cp in (the file is the container root's, the user on disk) and out (the user's)
U sh -c "echo copied > '$HOME_DIR/in.txt'"
R cpin --root "$STORE_B" cp "$HOME_DIR/in.txt" c2:/etc/in.txt
R cpin2 --root "$STORE_B" cp "$HOME_DIR/in.txt" c2:/var/cache/apt/archives/partial/
U mkdir "$HOME_DIR/got"
R cpout --root "$STORE_B" cp c2:/etc/shadow "$HOME_DIR/got/"
R cpout2 --root "$STORE_B" cp c2:/var/cache/apt/archives/partial "$HOME_DIR/got/"
stat -c '%n %u %g %a' "$HOME_DIR/got/shadow" "$HOME_DIR/got/partial" "$HOME_DIR/got/partial/in.txt" > "$OUT/cpout.stat" 2>&1
R export --root "$STORE_B" export -o "$OUT/c2.tar" c2
R import --root "$STORE_B" import "$OUT/c2.tar" flat:1
R create3 --root "$STORE_B" create --name c3 flat:1
R mount3 --root "$STORE_B" mount c3
NS "find '$(cat "$OUT/mount3.out")' -printf '%P %y %U %G\\n' > '$OUT/merged3'"
R umount3 --root "$STORE_B" umount c3
R rm --root "$STORE_B" rm c1 c2 c3
R rmi --root "$STORE_B" rmi flat:1 built:1
R df --root "$STORE_B" system df
R prune --root "$STORE_B" image prune -a -f
R df2 --root "$STORE_B" system df
R empty --root "$STORE_B" images -q
S --root "$STORE_B" load -q -i - < "$ARCHIVE" > "$OUT/stdin.out" 2> "$OUT/stdin.err"; echo $? > "$OUT/stdin.rc"
R images --root "$STORE_B" images --format '{{.Repository}}:{{.Tag}}'
R check --root "$STORE_B" check
R checkA check
exit 0
`;
  const env = { ...process.env, NODE: node, IDS: ids, OUT: out, HOME_DIR: home, NODE_BIN: process.execPath, STRATA, OCI: path.join(FIXTURES, 'oci'), ARCHIVE: path.join(FIXTURES, 'docker-archive', 'base.docker.tar'), REG: reg.host, STORE_B: storeB, USERNS: path.join(repoRoot, 'dist', 'src', 'userns.js') };
  const r = await run(['unshare', '-m', '--propagation', 'private', 'sh', '-c', script], env, 500_000);
  t.is(r.status, 0, r.stderr);
  const read = (f: string) => fs.readFileSync(path.join(out, f), 'utf8');
  const ok = (step: string) => t.is(`${step}: ${read(`${step}.rc`).trim()} ${read(`${step}.err`)}`, `${step}: 0 `);
  const steps = fs.readdirSync(out).filter((f) => f.endsWith('.rc')).map((f) => f.slice(0, -3));
  // every step's outcome at once when one failed, then each on its own
  if (steps.some((s) => !['far', 'faradd'].includes(s) && read(`${s}.rc`).trim() !== '0')) t.log(steps.map((s) => `${s}: ${read(`${s}.rc`).trim()} ${read(`${s}.err`).trim()}`).join('\n'));
  for (const s of steps.filter((x) => !['far', 'faradd'].includes(x))) ok(s);
  // the manifest pushed is the one loaded: its digest round-trips through the registry
  const gc = (JSON.parse(fs.readFileSync(path.join(FIXTURES, 'oci', 'index.json'), 'utf8')) as { manifests: Array<{ digest: string; annotations: Record<string, string> }> }).manifests.find((m) => m.annotations['org.opencontainers.image.ref.name'] === 'grandchild')!.digest;
  t.regex(read('push.out'), new RegExp(`^1: digest: ${gc} size: \\d+$`, 'm'));
  t.regex(read('pull.out'), new RegExp(`^Digest: ${gc}$`, 'm'));
  // the pulled image's merged tree: the fixture's owners shifted into the range
  const merged = read('merged').split('\n').filter((l) => l && !/ c \d+ \d+$/.test(l)).sort();
  const shifted = truth('grandchild', shift);
  t.true(shifted.some((l) => / 101233 105677$/.test(l)), 'the image has owners other than root');
  t.deepEqual(merged, shifted);
  // build without RUN: the config's steps, and (below, in the export) COPY's owners, also into a
  // directory of a subordinate ID (0750)
  t.regex(read('build.out'), /^sha256:[0-9a-f]{64}\n$/);
  const [cfgEnv, labels, workdir] = read('inspect.out').trim().split(' ');
  t.true((JSON.parse(cfgEnv!) as string[]).includes('GREETING=hi'));
  t.is((JSON.parse(labels!) as Record<string, string>)['org.example.k'], 'v');
  t.is(workdir, '/srv/app');
  t.is(read('far.rc').trim(), '1');
  t.is(read('far.err'), 'strata: step 2/2 (COPY --chown=70000:70000 hello.txt /far): the owner 70000:70000 is outside your subordinate ID ranges (/etc/subuid, /etc/subgid): give an owner inside them, add a larger range, or run as root\n');
  t.is(read('farps.out'), read('prefarps.out'), 'no build container left');
  t.is(read('farimages.out'), read('prefar.out'), 'no half-built image');
  // an ADDed archive's owner outside the range: the same
  t.is(read('faradd.rc').trim(), '1');
  t.is(read('faradd.err'), 'strata: step 2/2 (ADD far.tar /opt/): /opt/hello.txt: its owner in the archive is outside your subordinate ID ranges (/etc/subuid, /etc/subgid): add a larger range, or run as root\n');
  t.is(read('faraddps.out'), read('prefarps.out'), 'no build container left');
  t.is(read('faraddimages.out'), read('prefar.out'), 'no half-built image');
  // export: the merged tree with the image's owners (0..N), not the host's: the fixture's,
  // plus the build's COPYs (root's without --chown) and cp's files (root's)
  const added = ['etc/in.txt f 0 0', 'hello.txt f 0 0', 'opt/fixture/chowned f 1234 5678', 'opt/fixture/owned-dir/sub d 0 0', 'opt/fixture/owned-dir/sub/deep.txt f 0 0', 'opt/partial-copy d 0 0', 'var/cache/apt/archives/partial/in.txt f 0 0'];
  const exported = tarOwners(path.join(out, 'c2.tar'));
  t.deepEqual(exported, [...truth('grandchild', (i) => i), ...added].sort());
  // import of that tar: inside the user's namespace the same owners
  t.deepEqual(read('merged3').split('\n').filter((l) => l && !/ c \d+ \d+$/.test(l)).sort(), exported);
  // cp out: the user's files, whoever owns them in the container (also below a 0700 dir of a subordinate ID)
  t.deepEqual(read('cpout.stat').trim().split('\n'), [`${home}/got/shadow 1000 1000 640`, `${home}/got/partial 1000 1000 700`, `${home}/got/partial/in.txt 1000 1000 644`]);
  // system df, image prune -a: the one image left, then none
  t.regex(read('df.out'), /^Images +1 +0 /m);
  t.regex(read('prune.out'), new RegExp(`^untagged: ${reg.host}/fx/gc:1$`, 'm'));
  t.regex(read('df2.out'), /^Images +0 +0 +0B/m);
  t.regex(read('df2.out'), /^Layers +0 +0 +0B/m);
  t.is(read('empty.out'), '');
  // load -i - from stdin
  t.is(read('stdin.rc').trim(), '0', read('stdin.err'));
  t.is(read('stdin.out'), 'Loaded image: localhost/fixture-base:latest\n');
  t.is(read('images.out'), 'localhost/fixture-base:latest\n');
  t.regex(read('check.out'), /^ok: 3 blobs, 1 layers, 1 images, 0 containers\n$/);
  t.regex(read('checkA.out'), /^ok: /);
});
