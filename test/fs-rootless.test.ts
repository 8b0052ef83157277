// strata-fs without root. An ordinary user (uid 1000) mounts through fusermount3, which
// hands the /dev/fuse descriptor back over _FUSE_COMMFD; the union's marks are then
// user.overlay.* xattrs (overlayfs's userxattr) and whiteouts 0/0 character devices, and
// data goes through strata's loop (no passthrough). The oracle: kernel overlayfs mounted
// with userxattr by the same user in a user namespace (unshare -Urm), the same operations
// on the same layers; the uppers and the merged trees must match.
//
// /dev/fuse is root-only on these machines: each side runs in a private mount namespace
// where a 0666 node is bound over it (the host's node is never touched).
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { tempDirFor } from './helpers/tmp';
import { buildLayer, LayerEntry } from './helpers/layers';
import { manifestDiff } from './helpers/manifest';
import { repoRoot, treeManifestBin, python } from './helpers/paths';
import { asUserArgv } from './helpers/asuser';
import { useDropCachesStressor } from './helpers/dropcaches';

useDropCachesStressor(test);

const USER = { uid: 1000, gid: 1000 };
const STRATA_FS = path.join(repoRoot, 'bin', 'strata-fs');

function own(e: LayerEntry): LayerEntry {
  return e.t === 'link' || e.t === 'whiteout' ? e : { ...e, uid: USER.uid, gid: USER.gid };
}

const LOWER: LayerEntry[] = ([
  { p: 'file', t: 'file', data: 'lower\n' },
  { p: 'mode', t: 'file', data: 'm', mode: 0o644 },
  { p: 'gone', t: 'file', data: 'g' },
  { p: 'hard', t: 'file', data: 'h' },
  { p: 'xa', t: 'file', data: 'x', xattrs: { 'user.lower': 'l' } },
  { p: 'dir-del', t: 'dir' },
  { p: 'dir-del/a', t: 'file', data: 'a' },
  { p: 'dir-opq', t: 'dir' },
  { p: 'dir-opq/old', t: 'file', data: 'o' },
  { p: 'dir-mv', t: 'dir' },
  { p: 'dir-mv/inside', t: 'file', data: 'i' },
  { p: 'keep', t: 'dir' },
  { p: 'keep/k', t: 'file', data: 'k' },
] as LayerEntry[]).map(own).concat([
  // root's, readable by all: the user's server may read it, but not with O_NOATIME
  { p: 'roots', t: 'file', data: 'root data\n', mode: 0o644, uid: 0, gid: 0 },
]);

// what both sides do, as the user, in the mount's root
const OPS = [
  'set -e',
  'echo changed > file',
  'chmod 600 mode',
  'rm gone',
  'rm -rf dir-del',
  'rm -rf dir-opq && mkdir dir-opq && echo new > dir-opq/new',
  'mv dir-mv dir-moved',
  'mkdir fresh && echo f > fresh/f && mv fresh keep/',
  'ln -s file link && ln hard hard2 && mkfifo fifo',
  'setfattr -n user.added -v 1 xa',
  'setfattr -n user.overlay.mine -v v mode',
  'touch -d @1600000000 file',
  'cat roots > ../roots-read',
  'ls -a . dir-opq dir-moved keep > ../listing',
  'getfattr --absolute-names -d -m - xa mode > ../xattrs',
].join('; ');

interface Side { dir: string; lower: string; upper: string; work: string; mnt: string }

function side(root: string, name: string): Side {
  const dir = path.join(root, name);
  const s = { dir, lower: path.join(dir, 'lower'), upper: path.join(dir, 'upper'), work: path.join(dir, 'work'), mnt: path.join(dir, 'mnt') };
  for (const d of [s.upper, s.work, s.mnt]) fs.mkdirSync(d, { recursive: true });
  buildLayer(s.lower, LOWER);
  for (const d of [dir, s.upper, s.work, s.mnt]) fs.chownSync(d, USER.uid, USER.gid);
  fs.chownSync(s.lower, USER.uid, USER.gid);
  return s;
}

function sh(script: string, timeout = 120_000): { status: number | null; out: string; err: string } {
  const r = spawnSync('sh', ['-c', script], { encoding: 'utf8', timeout, killSignal: 'SIGKILL' });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
const asUser = (argv: string[]): string => asUserArgv(USER, argv).map(q).join(' ');

/** Inside a private mount namespace: a 0666 /dev/fuse (and, if given, an /etc/fuse.conf)
 *  bound over the host's, then `then`. */
function withUserFuse(root: string, then: string, fuseConf?: string): string {
  const node = path.join(root, 'fuse-node');
  let conf = '';
  if (fuseConf !== undefined) {
    fs.writeFileSync(path.join(root, 'fuse.conf'), fuseConf);
    conf = `mount --bind ${q(path.join(root, 'fuse.conf'))} /etc/fuse.conf && `;
  }
  const inner = `set -e; [ -e ${q(node)} ] || mknod -m 0666 ${q(node)} c 10 229; mount --bind ${q(node)} /dev/fuse && ${conf}${then}`;
  return `unshare -m --propagation private sh -c ${q(inner)}`;
}

const manifest = (p: string): string[] => [python, treeManifestBin, '--all-xattrs', '--no-root-meta', p];
// the overlay marks kernel overlayfs keeps for itself and strata does not write (origin
// file handles, impure and the like)
const upperManifest = (p: string): string[] => [python, treeManifestBin, '--no-root-meta', '--xattr-exclude', 'user.overlay.origin', '--xattr-exclude', 'user.overlay.impure', '--xattr-exclude', 'security.', p];

test('an ordinary user mounts through fusermount3: the same operations give what kernel overlayfs with userxattr gives', (t) => {
  const root = tempDirFor(t, 'strata-rootless-');
  const k = side(root, 'kernel');
  const f = side(root, 'strata');
  // kernel overlayfs, mounted by the user in its own user namespace (uid 1000 is root there;
  // it refuses redirect_dir=on there: a merged directory's rename is EXDEV, mv copies)
  const kernelInner = `set -e; mount -t overlay overlay -o userxattr,lowerdir=${k.lower},upperdir=${k.upper},workdir=${k.work} ${k.mnt}; cd ${k.mnt}; sh -c ${q(OPS)}; ${manifest(k.mnt).map(q).join(' ')} > ../merged; cd /; umount ${k.mnt}`;
  const kr = sh(asUser(['unshare', '-Urm', 'sh', '-c', kernelInner]));
  t.is(kr.status, 0, kr.err);
  // strata-fs, mounted by the user on the host through fusermount3; the merged tree read in
  // a user namespace like the kernel's, so that owners read the same
  const strataSteps = [
    `${asUser(['env', `HOME=${f.dir}`, process.execPath, STRATA_FS, '-o', `lowerdir=${f.lower},upperdir=${f.upper},workdir=${f.work}`, f.mnt])}`,
    `grep -q ' ${f.mnt} fuse.strata-fs ' /proc/self/mounts`,
    `${asUser(['sh', '-c', `cd ${f.mnt} && ${OPS}`])}`,
    `${asUser(['unshare', '-Ur', 'sh', '-c', `${manifest(f.mnt).map(q).join(' ')} > ${f.dir}/merged`])}`,
    `grep ' ${f.mnt} ' /proc/self/mounts > ${f.dir}/mount-line`,
    `${asUser(['fusermount3', '-u', f.mnt])}`,
    `! grep -q ' ${f.mnt} ' /proc/self/mounts`,
  ].join(' && ');
  const fr = sh(withUserFuse(root, strataSteps));
  t.is(fr.status, 0, fr.err + fr.out);
  if (kr.status !== 0 || fr.status !== 0) return;
  const mountLine = fs.readFileSync(path.join(f.dir, 'mount-line'), 'utf8');
  t.regex(mountLine, /user_id=1000,group_id=1000/, 'mounted by the user');
  t.notRegex(mountLine, /allow_other/, 'no allow_other without user_allow_other');
  t.deepEqual(fs.readFileSync(path.join(f.dir, 'listing'), 'utf8'), fs.readFileSync(path.join(k.dir, 'listing'), 'utf8'));
  t.is(fs.readFileSync(path.join(f.dir, 'roots-read'), 'utf8'), 'root data\n', 'a file of root\'s, read by the user');
  t.deepEqual(fs.readFileSync(path.join(f.dir, 'xattrs'), 'utf8').replaceAll(f.mnt, 'MNT'), fs.readFileSync(path.join(k.dir, 'xattrs'), 'utf8').replaceAll(k.mnt, 'MNT'));
  const merged = (s: Side): string => fs.readFileSync(path.join(s.dir, 'merged'), 'utf8');
  // A hard link made after copy-up: overlayfs without its index (userxattr has none)
  // shows the new name with the upper's inode number, not the old name's; strata keeps one
  // inode for both, as a filesystem should. Link groups aside, the trees match.
  const noLinks = (m: string): string => m.replace(/ link=\S+/g, '');
  t.deepEqual(manifestDiff(noLinks(merged(f)), noLinks(merged(k))), [], 'the merged trees');
  t.regex(merged(f), /\/hard2 .* link=\/hard\n/, 'the hard link is one inode');
  t.true(merged(k).includes('/dir-moved/inside') && !merged(k).includes('/gone '), 'the oracle did the operations');
  const upper = (s: Side): string => {
    const r = spawnSync(upperManifest(s.upper)[0]!, upperManifest(s.upper).slice(1), { encoding: 'utf8' });
    return r.stdout;
  };
  const ku = upper(k);
  // overlayfs makes its whiteouts hard links of one (strata makes each its own): no matter
  t.deepEqual(manifestDiff(noLinks(upper(f)), noLinks(ku)), [], 'the uppers: user.overlay.* marks, 0/0 whiteouts');
  t.regex(ku, /\/gone type=char .*rdev=0:0/);
  t.regex(ku, /user\.overlay\.opaque/);
  t.regex(ku, /\/dir-moved\/inside type=file/, 'the moved directory was copied, not redirected');
  t.notRegex(upper(f), /trusted\.overlay/);
});

test('refusals without root are one line that says what to do', (t) => {
  const root = tempDirFor(t, 'strata-rootless-');
  const f = side(root, 'strata');
  const opts = `lowerdir=${f.lower},upperdir=${f.upper},workdir=${f.work}`;
  const mountAs = (extra: string, env: string[] = []): string[] => asUserArgv(USER, ['env', `HOME=${f.dir}`, ...env, process.execPath, STRATA_FS, '-o', opts + extra, f.mnt]);
  const oneLine = (r: { status: number | null; err: string }, re: RegExp, what: string): void => {
    t.is(r.status, 1, `${what}: ${r.err}`);
    t.regex(r.err, re, what);
    t.is(r.err.trim().split('\n').length, 1, `${what}: one line`);
  };
  // the host's /dev/fuse is root-only
  oneLine(sh(mountAs('').map(q).join(' ')), /^strata-fs: .*no access to \/dev\/fuse.*0666/, '/dev/fuse root-only');
  // no fusermount3 on PATH
  oneLine(sh(withUserFuse(root, mountAs('', ['PATH=/nonexistent']).map(q).join(' '))), /^strata-fs: .*fusermount3 not found.*fuse3 package/, 'fusermount3 missing');
  // allow_other without user_allow_other
  oneLine(sh(withUserFuse(root, mountAs(',allow_other').map(q).join(' '), '# no user_allow_other\n')), /^strata-fs: .*user_allow_other in \/etc\/fuse\.conf/, 'allow_other refused');
  t.false(fs.readFileSync('/proc/self/mounts', 'utf8').includes(f.mnt), 'nothing mounted');
  // ... and with it, allow_other is passed on
  const ok = sh(withUserFuse(root, `${mountAs(',allow_other').map(q).join(' ')} && grep ' ${f.mnt} ' /proc/self/mounts && ${asUser(['fusermount3', '-u', f.mnt])}`, 'user_allow_other\n'));
  t.is(ok.status, 0, ok.err);
  t.regex(ok.out, /fuse\.strata-fs .*allow_other/);
});

test('a mountpoint /dev/fd/N is a /dev/fuse descriptor mounted already (libfuse\'s convention): strata-fs serves it, whoever mounted it unmounts', (t) => {
  const root = tempDirFor(t, 'strata-rootless-');
  const f = side(root, 'strata');
  // the user mounts through fusermount3 (strata's own mount code, as `strata mount` does for a
  // user's store) and hands the descriptor to strata-fs as fd 7, which it passes on to its daemon
  const mountJs = path.join(repoRoot, 'dist', 'src', 'fuse', 'mount.js');
  const starter = `
    const m = require(process.argv[1]);
    const mounted = m.mountThroughFusermount({ source: 'strata', mountpoint: process.argv[2], subtype: 'strata-fs', flags: m.MS_NOSUID | m.MS_NODEV, allowOther: false });
    const r = require('child_process').spawnSync(process.execPath, [process.argv[3], '-o', process.argv[4], '/dev/fd/7'], { stdio: ['ignore', 'inherit', 'inherit', 'ignore', 'ignore', 'ignore', 'ignore', mounted.fd] });
    process.exit(r.status ?? 1);`;
  const steps = [
    asUser(['env', `HOME=${f.dir}`, process.execPath, '-e', starter, mountJs, f.mnt, STRATA_FS, `lowerdir=${f.lower},upperdir=${f.upper},workdir=${f.work}`]),
    `grep ' ${f.mnt} fuse.strata-fs ' /proc/self/mounts`,
    asUser(['sh', '-c', `cat ${f.mnt}/file && echo new > ${f.mnt}/made`]),
    asUser(['fusermount3', '-u', f.mnt]),
    `! grep -q ' ${f.mnt} ' /proc/self/mounts`,
  ].join(' && ');
  const r = sh(withUserFuse(root, steps));
  t.is(r.status, 0, r.err);
  t.regex(r.out, /user_id=1000/);
  t.regex(r.out, /^lower$/m, 'served: the lower file read through the mount');
  t.is(fs.readFileSync(path.join(f.upper, 'made'), 'utf8'), 'new\n');
  // not a /dev/fuse descriptor: one line
  const bad = sh(`${asUser([process.execPath, STRATA_FS, '-o', `lowerdir=${f.lower}`, '/dev/fd/7'])} 7</dev/null`);
  t.is(bad.status, 1, bad.err);
  t.regex(bad.err, /^strata-fs: \/dev\/fd\/7 is not a \/dev\/fuse descriptor: pass the mounted \/dev\/fuse descriptor as that fd, or give a directory as the mountpoint\n$/);
});

test('in a user namespace (unshare -Urm) strata-fs opens /dev/fuse and mounts itself: the same as overlayfs with userxattr there', (t) => {
  const root = tempDirFor(t, 'strata-rootless-');
  const k = side(root, 'kernel');
  const f = side(root, 'strata');
  const kernelInner = `set -e; mount -t overlay overlay -o userxattr,lowerdir=${k.lower},upperdir=${k.upper},workdir=${k.work} ${k.mnt}; cd ${k.mnt}; sh -c ${q(OPS)}; ${manifest(k.mnt).map(q).join(' ')} > ../merged; cd /; umount ${k.mnt}`;
  const kr = sh(asUser(['unshare', '-Urm', 'sh', '-c', kernelInner]));
  t.is(kr.status, 0, kr.err);
  // no fusermount3 on PATH: mount(2) is the only way in
  const strataInner = [
    'set -e',
    `PATH=/nonexistent ${q(process.execPath)} ${q(STRATA_FS)} -o lowerdir=${f.lower},upperdir=${f.upper},workdir=${f.work} ${f.mnt}`,
    `grep ' ${f.mnt} ' /proc/self/mounts > ${f.dir}/mount-line`,
    `cd ${f.mnt}`,
    `sh -c ${q(OPS)}`,
    `${manifest(f.mnt).map(q).join(' ')} > ../merged`,
    'cd /',
    `umount ${f.mnt}`,
    `! grep -q ' ${f.mnt} ' /proc/self/mounts`,
  ].join('; ');
  const fr = sh(withUserFuse(root, asUser(['env', `HOME=${f.dir}`, 'unshare', '-Urm', 'sh', '-c', strataInner])));
  t.is(fr.status, 0, fr.err + fr.out);
  if (kr.status !== 0 || fr.status !== 0) return;
  t.regex(fs.readFileSync(path.join(f.dir, 'mount-line'), 'utf8'), /fuse\.strata-fs .*user_id=0,group_id=0/, 'mounted by the namespace root');
  t.is(fs.readFileSync(path.join(f.dir, 'listing'), 'utf8'), fs.readFileSync(path.join(k.dir, 'listing'), 'utf8'));
  t.is(fs.readFileSync(path.join(f.dir, 'xattrs'), 'utf8').replaceAll(f.mnt, 'MNT'), fs.readFileSync(path.join(k.dir, 'xattrs'), 'utf8').replaceAll(k.mnt, 'MNT'));
  const noLinks = (m: string): string => m.replace(/ link=\S+/g, '');
  const merged = (s: Side): string => fs.readFileSync(path.join(s.dir, 'merged'), 'utf8');
  t.deepEqual(manifestDiff(noLinks(merged(f)), noLinks(merged(k))), [], 'the merged trees');
  const upper = (s: Side): string => spawnSync(upperManifest(s.upper)[0]!, upperManifest(s.upper).slice(1), { encoding: 'utf8' }).stdout;
  t.deepEqual(manifestDiff(noLinks(upper(f)), noLinks(upper(k))), [], 'the uppers');
  t.regex(upper(f), /user\.overlay\.opaque/);
  t.notRegex(upper(f), /trusted\.overlay/);
});

test('uidmapping/gidmapping and squash_to_root/uid/gid show and write owners as fuse-overlayfs does', (t) => {
  const root = tempDirFor(t, 'strata-idmap-');
  const lower = path.join(root, 'lower');
  buildLayer(lower, [
    { p: 'root-file', t: 'file', data: 'r', uid: 0, gid: 0 },
    { p: 'user-file', t: 'file', data: 'u', uid: 1000, gid: 1001 },
    { p: 'far-file', t: 'file', data: 'f', uid: 70000, gid: 70000 },
  ]);
  const upper = path.join(root, 'upper');
  const work = path.join(root, 'work');
  const mnt = path.join(root, 'mnt');
  for (const d of [upper, work, mnt]) fs.mkdirSync(d);
  const mount = (extra: string): void => {
    const r = spawnSync(STRATA_FS, ['-o', `lowerdir=${lower},upperdir=${upper},workdir=${work},${extra}`, mnt], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(r.stderr);
  };
  const umount = (): void => {
    spawnSync('umount', [mnt]);
  };
  const owner = (p: string): string => {
    const st = fs.lstatSync(p);
    return `${st.uid}:${st.gid}`;
  };
  // containers-storage's form for a container mapped to 100000..165535: CONTAINER:HOST:COUNT
  mount('uidmapping=0:100000:65536,gidmapping=0:100000:1000:1001:200000:10');
  t.teardown(umount);
  t.is(owner(path.join(mnt, 'root-file')), '100000:100000');
  t.is(owner(path.join(mnt, 'user-file')), '101000:200000');
  t.is(owner(path.join(mnt, 'far-file')), '65534:65534', 'outside every range: the overflow ID');
  fs.chownSync(path.join(mnt, 'user-file'), 100005, 200003);
  t.is(owner(path.join(mnt, 'user-file')), '100005:200003');
  t.is(owner(path.join(upper, 'user-file')), '5:1004', 'written as the layers keep owners');
  fs.writeFileSync(path.join(mnt, 'by-root'), 'x'); // the caller (0) is outside the shown ranges
  t.is(owner(path.join(upper, 'by-root')), '65534:65534');
  umount();
  mount('squash_to_root');
  t.is(owner(path.join(mnt, 'user-file')), '0:0');
  t.is(owner(path.join(mnt, 'far-file')), '0:0');
  umount();
  mount('squash_to_root,squash_to_uid=7,squash_to_gid=8');
  t.is(owner(path.join(mnt, 'root-file')), '7:8', 'squash_to_uid/gid over squash_to_root');
  fs.chownSync(path.join(mnt, 'root-file'), 3, 4);
  t.is(owner(path.join(mnt, 'root-file')), '7:8');
  t.is(owner(path.join(upper, 'root-file')), '3:4');
  umount();
  for (const bad of ['uidmapping=0:1', 'gidmapping=a:b:c', 'squash_to_uid=x', 'uidmapping=0:1:0']) {
    const r = spawnSync(STRATA_FS, ['-o', `lowerdir=${lower},upperdir=${upper},workdir=${work},${bad}`, mnt], { encoding: 'utf8' });
    t.is(r.status, 2, bad);
    t.regex(r.stderr, /^strata-fs: bad value for \w+: .*\n$/, bad);
  }
});
