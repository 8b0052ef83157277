// The CLI for a user other than root: its own store under $XDG_DATA_HOME/strata
// (~/.local/share/strata by default), as podman keeps ~/.local/share/containers; root
// keeps the system's.
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { tempDirFor } from './helpers/tmp';
import { asUserArgv } from './helpers/asuser';
import { subidPlaces } from './helpers/subid';
import { FIXTURES, STRATA } from './image-helpers';
import { repoRoot } from './helpers/paths';
import { defaultRoot } from '../src/cli/context';
import { DEFAULT_ROOT } from '../src/store/store';

const USER = { uid: 1000, gid: 1000 };

function strataAs(env: Record<string, string>, args: string[]): { status: number | null; out: string; err: string } {
  // nothing of ours decides the store but what the test sets
  const argv = asUserArgv(USER, ['env', '-u', 'STRATA_ROOT', '-u', 'XDG_DATA_HOME', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), process.execPath, STRATA, ...args]);
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

test('root keeps the system store by default', (t) => {
  t.is(process.geteuid?.(), 0);
  t.is(defaultRoot(), DEFAULT_ROOT);
});

test('a user gets a store of its own under ~/.local/share/strata, or $XDG_DATA_HOME/strata', (t) => {
  const home = tempDirFor(t, 'strata-home-');
  fs.chownSync(home, USER.uid, USER.gid);
  const r = strataAs({ HOME: home }, ['images']);
  t.is(r.status, 0, r.err);
  t.regex(r.out, /^REPOSITORY/);
  const store = path.join(home, '.local', 'share', 'strata');
  t.false(fs.existsSync(store), 'a read makes no store');
  // a command that writes makes it (this load is then refused: the host gives uid 1000 no subordinate IDs)
  const archive = path.join(FIXTURES, 'docker-archive', 'base.docker.tar');
  strataAs({ HOME: home }, ['load', '-i', archive]);
  const st = fs.statSync(store);
  t.true(st.isDirectory());
  t.is(st.uid, USER.uid, 'made by and for the user');
  t.true(fs.existsSync(path.join(store, 'strata-store.json')), 'marked as a store');
  const xdg = path.join(home, 'data');
  strataAs({ HOME: home, XDG_DATA_HOME: xdg }, ['load', '-i', archive]);
  t.true(fs.statSync(path.join(xdg, 'strata')).isDirectory());
  const explicit = path.join(home, 'elsewhere');
  strataAs({ HOME: home, STRATA_ROOT: explicit }, ['load', '-i', archive]);
  t.true(fs.existsSync(explicit), '$STRATA_ROOT still decides');
});

test('a user without a subordinate ID range loading an image is told in one line what to do, and the store keeps nothing of it', (t) => {
  const home = tempDirFor(t, 'strata-home-');
  fs.chownSync(home, USER.uid, USER.gid);
  const r = strataAs({ HOME: home }, ['load', '-i', path.join(FIXTURES, 'docker-archive', 'base.docker.tar')]);
  t.not(r.status, 0);
  t.regex(r.err, /^strata: \S+ has no subordinate ID range in \/etc\/subuid, needed to keep a layer's owners without root: add one \(e\.g\. as root: usermod --add-subuids/);
  t.is(r.err.trim().split('\n').length, 1, r.err);
  const images = strataAs({ HOME: home }, ['images']);
  t.is(images.status, 0, images.err);
  t.is(images.out.trim().split('\n').length, 1, `no image half-loaded: ${images.out}`);
  t.deepEqual(fs.readdirSync(path.join(home, '.local', 'share', 'strata', 'layers')), [], 'no layer left behind');
});

test('a user with a subordinate ID range loads an image in its own user namespace: owners kept, shifted into the range', (t) => {
  const home = tempDirFor(t, 'strata-home-');
  fs.chownSync(home, USER.uid, USER.gid);
  // the range is given in a private mount namespace, never in the host's /etc/subuid
  const ids = path.join(tempDirFor(t, 'strata-subid-'), 'subid');
  fs.writeFileSync(ids, `${USER.uid}:100000:65536\n`);
  fs.chmodSync(ids, 0o644);
  fs.chmodSync(path.dirname(ids), 0o755);
  const inner = asUserArgv(USER, ['env', '-u', 'STRATA_ROOT', '-u', 'XDG_DATA_HOME', `HOME=${home}`, process.execPath, STRATA, 'load', '-q', '-i', path.join(FIXTURES, 'docker-archive', 'base.docker.tar')]);
  const script = `mount --bind "$1" /etc/subuid && mount --bind "$1" /etc/subgid && shift && exec "$@"`;
  const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script, 'sh', ids, ...inner], { encoding: 'utf8', timeout: 300_000 });
  t.is(r.status, 0, r.stderr);
  t.is(r.stderr.trim(), '');
  const store = path.join(home, '.local', 'share', 'strata');
  const layers = fs.readdirSync(path.join(store, 'layers'));
  t.is(layers.length, 1);
  const shift = (id: number) => (id === 0 ? USER.uid : 100000 + id - 1);
  const ownersOf = (manifest: string) =>
    manifest
      .split('\n')
      .filter((l) => l && !/ type=char /.test(l))
      .map((l) => /^(.*?) type=(\S+) mode=\S+ uid=(\d+) gid=(\d+)/.exec(l)!)
      .map((m) => `${m[1]} ${m[2]} ${m[3]} ${m[4]}`);
  const truth = ownersOf(fs.readFileSync(path.join(FIXTURES, 'truth', 'base.manifest'), 'utf8')).map((l) => {
    const [p, type, uid, gid] = l.split(' ');
    return `${p} ${type} ${shift(Number(uid))} ${shift(Number(gid))}`;
  });
  const got = ownersOf(spawnSync(path.join(FIXTURES, '..', 'tools', 'tree-manifest'), ['--no-hash', '--no-xattrs', path.join(store, 'layers', layers[0]!, 'diff')], { encoding: 'utf8', maxBuffer: 64 << 20 }).stdout);
  t.true(truth.some((l) => !/ 1000 1000$/.test(l)), 'the image has owners other than root');
  t.deepEqual(got, truth);
});

// The rest of a container's life in a user's store. The mount is made in the user's own
// (here: the test's private) mount namespace by fusermount3, so the user sees it like any
// FUSE mount of theirs; the daemon serves it from the user's namespace and shows owners as
// the host's IDs, as they are on disk. Everything runs in one private mount namespace
// (a 0666 /dev/fuse and the subordinate range bound over the host's), which takes the
// mounts with it if the test fails.
test('a user with a subordinate ID range creates, mounts, changes, diffs, commits, unmounts and removes containers and images in its own store', (t) => {
  const { home, work, ids, node, out } = subidPlaces(t, USER);
  const userns = path.join(repoRoot, 'dist', 'src', 'userns.js');
  const archive = path.join(FIXTURES, 'docker-archive', 'base.docker.tar');
  const store = path.join(home, '.local', 'share', 'strata');
  const script = `
set -e
mknod -m 0666 "$NODE" c 10 229
mount --bind "$IDS" /etc/subuid; mount --bind "$IDS" /etc/subgid
U() { setpriv --reuid ${USER.uid} --regid ${USER.gid} --clear-groups -- "$@"; }
S() { U env -u STRATA_ROOT -u XDG_DATA_HOME HOME="$HOME_DIR" "$NODE_BIN" "$STRATA" "$@"; }
# as root of the user's namespace (the user's ID 0, 1..N its range), as podman unshare
NS() { U "$NODE_BIN" -e 'const u = require(process.argv[1]); const a = u.inUserNamespace(["sh", "-c", process.argv[2]]); process.exit(require("child_process").spawnSync(a[0], a.slice(1), { stdio: "inherit" }).status)' "$USERNS" "$1"; }
S load -q -i "$ARCHIVE"
S create --name c1 localhost/fixture-base > "$OUT/cid"
S ps -a -q > "$OUT/containers"
# the host's /dev/fuse is root-only: one line saying what to do, nothing mounted
S mount c1 > /dev/null 2> "$OUT/nofuse.err" && echo mounted > "$OUT/nofuse.err"
grep -c " $STORE/" /proc/self/mountinfo > "$OUT/nofuse.mounts" || true
mount --bind "$NODE" /dev/fuse
M=$(S mount c1)
echo "$M" > "$OUT/mnt"
grep " $M " /proc/self/mountinfo > "$OUT/mountinfo"
# mounted again: the same mountpoint, nothing new
S mount c1 > "$OUT/mnt-again"
U find "$M" -printf '%P %y %U %G\\n' > "$OUT/merged" 2> "$OUT/find.err" || true
U sh -c "echo new > '$M/added' && rm '$M/etc/shadow' && echo more >> '$M/etc/motd'"
NS "set -e; cd '$M'; echo x >> var/log/wtmp; echo o > owned; chown 42:43 owned; echo p > var/cache/apt/archives/partial/p; stat -c '%n %u %g' owned var/log/wtmp etc/gshadow > '$OUT/ns-stat'"
U stat -c '%n %u %g' "$M/owned" "$M/var/log/wtmp" "$M/etc/gshadow" > "$OUT/user-stat"
UP="$STORE/containers/$(cat "$OUT/cid")/upper"
stat -c '%n %F %u %g %t:%T' "$UP/added" "$UP/owned" "$UP/var/log/wtmp" "$UP/etc/shadow" "$UP/var/cache/apt/archives/partial" > "$OUT/upper"
S diff c1 > "$OUT/diff"
S commit c1 mine:1 > /dev/null
S check > "$OUT/check"
# its daemon killed: the mount answers ENOTCONN; mount detaches it and mounts again
kill -9 $(pgrep -f "x-strata.mountpoint=$M")
n=0; while U cat "$M/added" > /dev/null 2>&1; do n=$((n+1)); [ $n -lt 100 ] || break; sleep 0.1; done
U cat "$M/added" 2> "$OUT/stale.err" || true
S mount c1 > "$OUT/mnt-revived"
U cat "$M/added" > "$OUT/revived"
# the merged tree as the user's namespace sees it through strata-fs ...
cat > "$OUT/tree.sh" <<'END'
find . -printf '%P %y %m %U %G %s\\n' | sed 's/^\\(.* d [0-7]* [0-9]* [0-9]*\\) [0-9]*$/\\1/' | sort
END
NS "cd '$M' && sh '$OUT/tree.sh' > '$OUT/strata.tree'"
S umount c1 > /dev/null
# ... and through kernel overlayfs with userxattr over the same upper, mounted there
mkdir "$OUT/kmnt"
export LOWER="$STORE/layers/$(U "$NODE_BIN" -p 'require(process.argv[1]).layers[0].replace("sha256:", "")' "$STORE/containers/$(cat "$OUT/cid")/container.json")/diff"
export UPPER="$STORE/containers/$(cat "$OUT/cid")/upper" CWORK="$STORE/containers/$(cat "$OUT/cid")/work"
cat > "$OUT/kernel.sh" <<'END'
set -e
mount -t overlay overlay -o "userxattr,lowerdir=$LOWER,upperdir=$UPPER,workdir=$CWORK" "$OUT/kmnt"
cd "$OUT/kmnt" && sh "$OUT/tree.sh" > "$OUT/kernel.tree"
END
NS "unshare -m sh '$OUT/kernel.sh'"
grep -c " $M " /proc/self/mountinfo > "$OUT/after-umount" || true
n=0; while pgrep -f "x-strata.mountpoint=$M" > /dev/null; do n=$((n+1)); [ $n -lt 100 ] || break; sleep 0.1; done
pgrep -f "x-strata.mountpoint=$M" > "$OUT/daemons-left" || true
S mount --driver overlay c1 > /dev/null 2> "$OUT/overlay.err" && echo mounted > "$OUT/overlay.err"
S save -o "$OUT/mine.tar" mine:1
S create --name c2 mine:1 > /dev/null
M2=$(S mount c2)
U stat -c '%n %u %g' "$M2/owned" "$M2/var/log/wtmp" > "$OUT/committed"
U test ! -e "$M2/etc/shadow"
S umount c2 > /dev/null
# a mountpoint of the user's choosing
U mkdir "$HOME_DIR/elsewhere"
S mount c2 "$HOME_DIR/elsewhere" > "$OUT/elsewhere"
U cat "$HOME_DIR/elsewhere/added" >> "$OUT/elsewhere"
S umount c2 > /dev/null
# rm -f of a mounted container unmounts it
S mount c1 > /dev/null
S rm -f c1 > /dev/null
grep -c " $M " /proc/self/mountinfo > "$OUT/after-rm" || true
S rm c2 > /dev/null
S rmi mine:1 localhost/fixture-base > /dev/null
find "$STORE" -mindepth 2 > "$OUT/left"
`;
  const env = { ...process.env, NODE: node, IDS: ids, OUT: out, HOME_DIR: home, NODE_BIN: process.execPath, STRATA, USERNS: userns, ARCHIVE: archive, STORE: store };
  const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script], { encoding: 'utf8', env, timeout: 400_000, killSignal: 'SIGKILL' });
  t.is(r.status, 0, r.stderr);
  t.is(r.stderr.trim(), '', 'no command complained');
  const read = (f: string) => fs.readFileSync(path.join(out, f), 'utf8');
  const cid = read('cid').trim();
  const mnt = read('mnt').trim();
  t.is(mnt, path.join(store, 'containers', cid, 'merged'));
  t.is(read('mnt-again').trim(), mnt);
  t.regex(read('nofuse.err'), /^strata: no access to \/dev\/fuse \(it is root-only here\): make it mode 0666 .*\n$/);
  t.is(read('nofuse.mounts').trim(), '0');
  t.deepEqual(read('containers').trim().split('\n'), [cid.slice(0, 12)]);
  // a FUSE mount of the user's, as fusermount3 makes them
  t.regex(read('mountinfo'), new RegExp(` - fuse\\.strata-fs strata \\S*user_id=${USER.uid},group_id=${USER.gid}`));
  t.regex(read('mountinfo'), /\bnosuid\b.*\bnodev\b/);
  // the merged tree shows the owners the layer has on disk: the fixture's truth shifted into the range
  const shift = (id: number) => (id === 0 ? USER.uid : 100000 + id - 1);
  const letter: Record<string, string> = { file: 'f', dir: 'd', symlink: 'l' };
  const truth = fs.readFileSync(path.join(FIXTURES, 'truth', 'base.manifest'), 'utf8').split('\n').filter((l) => l && !/ type=char /.test(l)).map((l) => {
    const m = /^(.*?) type=(\S+) mode=\S+ uid=(\d+) gid=(\d+)/.exec(l)!;
    return `${m[1]!.slice(1)} ${letter[m[2]!]} ${shift(Number(m[3]))} ${shift(Number(m[4]))}`;
  }).sort();
  const merged = read('merged').split('\n').filter((l) => l && !/ c \d+ \d+$/.test(l)).sort();
  t.true(truth.some((l) => / 10004[12] /.test(l)), 'the image has owners other than root');
  t.deepEqual(merged, truth);
  // the user may not list what a subordinate ID keeps to itself (0700 dirs), like any other user's files
  t.true(read('find.err').split('\n').filter(Boolean).every((l) => /Permission denied/.test(l)), read('find.err'));
  // inside the user's namespace the owners are the image's own; from outside, the host's
  t.deepEqual(read('ns-stat').trim().split('\n'), ['owned 42 43', 'var/log/wtmp 0 43', 'etc/gshadow 0 42']);
  t.deepEqual(read('user-stat').trim().split('\n'), [`${mnt}/owned 100041 100042`, `${mnt}/var/log/wtmp ${USER.uid} 100042`, `${mnt}/etc/gshadow ${USER.uid} 100041`]);
  // on disk: the upper holds the owners shifted, the copied-up file keeps its group, the
  // deleted lower file is a 0/0 character device (a whiteout)
  const up = path.join(store, 'containers', cid, 'upper');
  t.deepEqual(read('upper').trim().split('\n'), [
    `${up}/added regular file ${USER.uid} ${USER.gid} 0:0`,
    `${up}/owned regular file 100041 100042 0:0`,
    `${up}/var/log/wtmp regular file ${USER.uid} 100042 0:0`,
    `${up}/etc/shadow character special file ${USER.uid} ${USER.gid} 0:0`,
    // copied up as a parent: the owner a subordinate ID, shifted
    `${up}/var/cache/apt/archives/partial directory 100041 ${USER.gid} 0:0`,
  ]);
  t.deepEqual(read('diff').trim().split('\n'), ['A /added', 'C /etc', 'C /etc/motd', 'D /etc/shadow', 'A /owned', 'C /var',
    // below a 0700 directory of a subordinate ID: read in the user's namespace
    'C /var/cache', 'C /var/cache/apt', 'C /var/cache/apt/archives', 'C /var/cache/apt/archives/partial', 'A /var/cache/apt/archives/partial/p',
    'C /var/log', 'C /var/log/wtmp']);
  t.regex(read('stale.err'), /Transport endpoint is not connected/);
  t.is(read('mnt-revived').trim(), mnt);
  t.is(read('revived'), 'new\n', 'mounted again over the same upper');
  // the upper is in the form kernel overlayfs reads with userxattr: the same merged tree
  t.true(read('strata.tree').includes('var/cache/apt/archives/partial d 700 42 0'), 'owners as the image has them inside the namespace');
  t.false(read('strata.tree').includes('etc/shadow '), 'the whiteout hides the lower file');
  t.is(read('kernel.tree'), read('strata.tree'));
  t.regex(read('check'), /^ok: \d+ blobs, 2 layers, 2 images, 1 containers\n$/, 'check reads the layers in the namespace: nothing changed since import');
  t.is(read('after-umount').trim(), '0', 'unmounted');
  t.is(read('after-rm').trim(), '0', 'rm -f unmounted it');
  t.is(read('daemons-left').trim(), '', 'the daemon ends with its mount');
  const overlay = read('overlay.err').trim();
  t.regex(overlay, /^strata: the overlay driver needs root .*: use --driver strata-fs, or run as root$/);
  // the committed layer carries the image's owners: the new container shows them shifted again
  const mnt2 = read('committed').trim().split('\n')[0]!.split(' ')[0]!.replace(/\/owned$/, '');
  t.deepEqual(read('committed').trim().split('\n'), [`${mnt2}/owned 100041 100042`, `${mnt2}/var/log/wtmp ${USER.uid} 100042`]);
  // save writes the committed image: the base's layer and the new one
  const saved = spawnSync('tar', ['-tf', path.join(out, 'mine.tar')], { encoding: 'utf8' }).stdout.split('\n');
  t.true(saved.includes('manifest.json'), saved.join(' '));
  const manifest = JSON.parse(spawnSync('tar', ['-xOf', path.join(out, 'mine.tar'), 'manifest.json'], { encoding: 'utf8' }).stdout) as Array<{ RepoTags: string[]; Layers: string[] }>;
  t.deepEqual(manifest[0]!.RepoTags, ['mine:1']);
  t.is(manifest[0]!.Layers.length, 2);
  t.is(read('elsewhere'), `${path.join(home, 'elsewhere')}\nnew\n`);
  // rm and rmi leave nothing, files of subordinate IDs included
  t.deepEqual(read('left').trim().split('\n').filter(Boolean).sort(), [path.join(store, 'blobs', 'sha256')]);
});

// Running a user's container: the supervisor runs as root of the user's namespace in a
// mount namespace of its own, mounts the container's root there (allow_other: every ID of
// the namespace enters it) and runs runc, rootless, in it.
test('a user with a subordinate ID range runs containers in its own store: output, exit codes, -u/-e/-w, --rm, diff, stop, -d, exec, start, commit, a build\'s RUN', (t) => {
  const { home, work, ids, out } = subidPlaces(t, USER);
  const store = path.join(home, '.local', 'share', 'strata');
  const script = `
set -e
mknod -m 0666 "$WORK/fuse-node" c 10 229
mount --bind "$IDS" /etc/subuid; mount --bind "$IDS" /etc/subgid
U() { setpriv --reuid ${USER.uid} --regid ${USER.gid} --clear-groups -- "$@"; }
S() { U env -u STRATA_ROOT -u XDG_DATA_HOME HOME="$HOME_DIR" "$NODE_BIN" "$STRATA" "$@"; }
I=localhost/fixture-base
S load -q -i "$ARCHIVE" > /dev/null
# without access to /dev/fuse (root-only here) the supervisor cannot mount the root: one line, and --rm leaves nothing
S run --rm $I true > /dev/null 2> "$OUT/nofuse.err" && echo ran > "$OUT/nofuse.err"
S ps -a -q > "$OUT/ps-nofuse"
mount --bind "$WORK/fuse-node" /dev/fuse
S run --rm $I sh -c 'id -u; cat /etc/os-release | head -1; echo x > /tmp/f; ls -ln /etc/passwd' > "$OUT/run.out" 2> "$OUT/run.err"
S ps -a -q > "$OUT/ps-after-rm"
ls "$STORE/containers" > "$OUT/containers-after-rm"
set +e
S run --rm $I sh -c 'echo out; echo err >&2; exit 7' > "$OUT/exit.out" 2> "$OUT/exit.err"; echo $? > "$OUT/exit.code"
S run --rm $I no-such-command > /dev/null 2> "$OUT/nocmd.err"; echo $? > "$OUT/nocmd.code"
set -e
echo in | S run --rm -i $I cat > "$OUT/run-stdin.out"
S run --rm -u 1000 -e FOO=bar -w /tmp $I sh -c 'id -u; id -g; echo "$FOO"; pwd; touch mine; stat -c "%u %g" mine' > "$OUT/user.out"
# kept: the changes are in its upper, as root of the namespace and as 1000 made them
S run --name keep $I sh -c 'echo x > /tmp/f; rm /etc/motd' > /dev/null
S diff keep > "$OUT/diff"
S run --name keep1000 -u 1000 $I sh -c 'echo y > /tmp/g' > /dev/null
UP="$STORE/containers/$(S inspect -f '{{.Id}}' keep)/upper"
UP1000="$STORE/containers/$(S inspect -f '{{.Id}}' keep1000)/upper"
stat -c '%u %g' "$UP/tmp/f" "$UP1000/tmp/g" > "$OUT/owners"
# start -a runs it again; mounted by strata mount (only the user enters that), it is refused
S start -a keep > /dev/null 2>&1 || true
S mount keep > /dev/null
set +e
S start -a keep > /dev/null 2> "$OUT/mounted.err"; echo $? > "$OUT/mounted.code"
set -e
S umount keep > /dev/null
# a running container: mount and umount are refused (its root is its supervisor's), stop reaches it
# made first: the background job's redirection may come after the first grep
: > "$OUT/long.out"
S run --name long -u 1000 $I sh -c 'trap "echo got TERM; exit 3" TERM; echo up; sleep 60 & wait' > "$OUT/long.out" 2>&1 &
n=0; until grep -q up "$OUT/long.out"; do n=$((n+1)); [ $n -lt 600 ] || break; sleep 0.1; done
set +e
S mount long > /dev/null 2> "$OUT/running-mount.err"
S stop -t 20 long > /dev/null 2> "$OUT/stop.err"
wait $!; echo $? > "$OUT/long.code"
set -e
# detached: run -d, exec (as root and -u 1000 of the namespace, stdin, exit code), logs, commit, kill, start again
S run -d --name d1 $I sh -c 'echo hello; echo x > /tmp/f; sleep 60' > "$OUT/d1.id"
n=0; until S logs d1 | grep -q hello; do n=$((n+1)); [ $n -lt 600 ] || break; sleep 0.1; done
S exec d1 sh -c 'cat /tmp/f; id -u' > "$OUT/exec.out"
set +e
S exec -u 1000 d1 sh -c 'id -u; exit 4' > "$OUT/exec1000.out"; echo $? > "$OUT/exec1000.code"
echo input | S exec -i d1 cat > "$OUT/exec-stdin.out"
S commit d1 snap:1 > /dev/null 2> "$OUT/pause.err"; echo $? > "$OUT/pause.code"
set -e
S commit --no-pause d1 snap:1 > /dev/null
S kill d1 > /dev/null
S wait d1 > "$OUT/d1.code"
S start d1 > /dev/null
S ps --format '{{.Names}} {{.Status}}' > "$OUT/d1.ps"
S rm -f d1 > /dev/null
S run --rm snap:1 cat /tmp/f > "$OUT/snap.out"
# a build's RUN runs the same way
mkdir "$WORK/ctx"; printf 'FROM localhost/fixture-base\nRUN echo built > /built && chown 42:43 /built\n' > "$WORK/ctx/Dockerfile"
S build -q -t built:1 "$WORK/ctx" > /dev/null
S run --rm built:1 stat -c '%n %u %g' /built > "$OUT/built.out"
S rm keep keep1000 long > /dev/null
S rmi $I snap:1 built:1 > /dev/null
find "$STORE" -mindepth 2 > "$OUT/left"
grep -c " $STORE/" /proc/self/mountinfo > "$OUT/mounts" || true
pgrep -f "strata-fs.*$STORE" > "$OUT/daemons" || true
`;
  const env = { ...process.env, WORK: work, IDS: ids, OUT: out, HOME_DIR: home, NODE_BIN: process.execPath, STRATA, ARCHIVE: path.join(FIXTURES, 'docker-archive', 'base.docker.tar'), STORE: store };
  const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script], { encoding: 'utf8', env, timeout: 400_000, killSignal: 'SIGKILL' });
  t.is(r.status, 0, r.stderr);
  t.is(r.stderr.trim(), '', 'no command complained');
  const read = (f: string) => fs.readFileSync(path.join(out, f), 'utf8');
  // root of the container is root of the user's namespace; the image's owners as it has them
  t.deepEqual(read('run.out').split('\n'), ['0', 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"', '-rw-r--r-- 1 0 0 839 Nov 14  2023 /etc/passwd', '']);
  t.is(read('run.err'), '');
  t.regex(read('nofuse.err'), /^strata: cannot start container \S+: .*no access to \/dev\/fuse .*\n$/);
  t.is(read('ps-nofuse'), '');
  t.is(read('ps-after-rm'), '', '--rm left no container');
  t.is(read('containers-after-rm'), '');
  t.is(read('exit.out'), 'out\n');
  t.is(read('exit.err'), 'err\n');
  t.is(read('exit.code').trim(), '7');
  t.is(read('nocmd.code').trim(), '127');
  t.regex(read('nocmd.err'), /^strata: cannot start container \S+: .*executable file not found in \$PATH\n$/);
  t.is(read('run-stdin.out'), 'in\n', '-i: our stdin is its');
  t.deepEqual(read('user.out').split('\n'), ['1000', '0', 'bar', '/tmp', '1000 0', '']);
  t.deepEqual(read('diff').trim().split('\n'), ['C /etc', 'D /etc/motd', 'C /tmp', 'A /tmp/f']);
  // on disk: root of the namespace is the user, 1000 the range's 1000th ID
  t.deepEqual(read('owners').trim().split('\n'), [`${USER.uid} ${USER.gid}`, `${100000 + 1000 - 1} ${USER.gid}`]);
  t.regex(read('mounted.err'), /^strata: cannot start container keep: container keep is mounted at \S+ \(strata mount\), where its processes could not enter: strata umount keep, then run it\n$/);
  t.is(read('mounted.code').trim(), '125');
  t.is(read('running-mount.err'), 'strata: container long is running, its root mounted in a namespace of its own: mount it once it has exited (strata wait long)\n');
  t.is(read('stop.err'), '');
  t.is(read('long.out'), 'up\ngot TERM\n');
  t.is(read('long.code').trim(), '3', 'stop signalled the container, as 1000 of the namespace');
  t.is(read('exec.out'), 'x\n0\n', 'exec sees the container\'s root');
  t.is(read('exec1000.out'), '1000\n');
  t.is(read('exec1000.code').trim(), '4');
  t.is(read('exec-stdin.out'), 'input\n');
  t.is(read('pause.err'), "strata: cannot pause container d1: a container of a user's store has no cgroup to freeze it with: commit it with --no-pause, or stop it first\n");
  t.is(read('pause.code').trim(), '1');
  t.is(read('d1.code').trim(), '137');
  t.regex(read('d1.ps'), /^d1 Up /, 'start runs it in the background again');
  t.is(read('snap.out'), 'x\n', 'committed while running');
  t.is(read('built.out'), '/built 42 43\n');
  t.deepEqual(read('left').trim().split('\n').filter(Boolean), [path.join(store, 'blobs', 'sha256')]);
  t.is(read('mounts').trim(), '0');
  t.is(read('daemons').trim(), '', 'every daemon ended with its container');
});
