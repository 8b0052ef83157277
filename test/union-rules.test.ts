// The union's rules checked in-process, without a mount: a UnionFs over temporary layer
// dirs, called with node ids as the FUSE session would, and the answers and the upper dir
// on disk checked against overlayfs's format. Each test is named by the rule it checks.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Caller } from '../src/fuse/types';
import { AT_FDCWD, native } from '../src/native';
import { isWhiteout } from '../src/union/format';
import { LayerStack } from '../src/union/layers';
import { statAt } from '../src/union/real';
import { UnionFs } from '../src/union/unionfs';
import { buildLayer, LayerEntry } from './helpers/layers';
import { pyOnce } from './helpers/pyops';
import { tempDirFor } from './helpers/tmp';

const ROOT: Caller = { uid: 0, gid: 0, pid: process.pid };
const USER: Caller = { uid: 1000, gid: 1000, pid: process.pid };
const b = (s: string): Buffer => Buffer.from(s, 'latin1');

interface Union {
  u: UnionFs;
  upper: string;
  work: string;
  lowers: string[];
  /** node id of a merged path ('' = root), looked up component by component */
  id(p: string): number;
  /** sorted names of the merged directory at p */
  ls(p: string): string[];
  /** 'ok' or the error code of fn */
  res(fn: () => unknown): string;
}

/** A union over layers given bottom first (as in an image) and an upper dir filled with `upper`. */
function union(t: ExecutionContext, layers: LayerEntry[][], upper: LayerEntry[] = []): Union {
  const dir = tempDirFor(t, 'strata-union-rules-');
  const lowers = layers.map((entries, i) => {
    const d = path.join(dir, `lower${i}`);
    fs.mkdirSync(d);
    buildLayer(d, entries);
    return d;
  }).reverse();
  const up = path.join(dir, 'upper');
  const work = path.join(dir, 'work');
  fs.mkdirSync(up);
  fs.mkdirSync(work);
  if (upper.length) buildLayer(up, upper);
  LayerStack.prepareWorkDir(work);
  const u = new UnionFs(new LayerStack({ lowers, upper: up, work }));
  t.teardown(() => u.destroy());
  const id = (p: string): number => {
    let n = 1;
    for (const c of p.split('/').filter(Boolean)) n = u.lookup(ROOT, n, b(c)).nodeid;
    return n;
  };
  return {
    u, upper: up, work, lowers, id,
    ls: (p) => u.readdir(id(p), 0, 0).map((e) => e.name.toString('latin1')).sort(),
    res,
  };
}

/** 'ok' or the error code of fn */
function res(fn: () => unknown): string {
  try {
    fn();
    return 'ok';
  } catch (e) {
    return String((e as { code?: string }).code ?? e);
  }
}

/** What is at p on disk: 'absent', 'whiteout', 'dir', 'file', 'symlink', 'other'. */
function kindAt(p: string): string {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(p);
  } catch {
    return 'absent';
  }
  if (st.isCharacterDevice() && st.rdev === 0) return 'whiteout';
  if (st.isDirectory()) return 'dir';
  if (st.isFile()) return 'file';
  if (st.isSymbolicLink()) return 'symlink';
  return 'other';
}

/** An xattr of the real object at p (latin1), or its error code. */
function xattr(p: string, name: string): string {
  const r = pyOnce('getxattr', { p, name, nofollow: true });
  return r.ok ? Buffer.from(r.v as string, 'hex').toString('latin1') : String(r.err);
}

function xattrNames(p: string): string[] {
  const r = pyOnce('listxattr', { p, nofollow: true });
  return r.ok ? (r.v as string[]) : [String(r.err)];
}

const base: LayerEntry[] = [
  { p: 'd', t: 'dir', mode: 0o750, uid: 1000, gid: 1000 },
  { p: 'd/lower', t: 'file', data: 'L' },
  { p: 'd/sub', t: 'dir' },
  { p: 'd/sub/deep', t: 'file', data: 'deep' },
  { p: 'e', t: 'dir' },
  { p: 'e/x', t: 'file', data: 'x' },
  { p: 'empty', t: 'dir' },
];

test('a whiteout in a layer hides the name below it: lookup ENOENT, not listed', (t) => {
  const s = union(t, [base, [{ p: 'd/lower', t: 'whiteout' }, { p: 'd/top', t: 'file' }]]);
  t.is(s.res(() => s.id('d/lower')), 'ENOENT');
  t.deepEqual(s.ls('d'), ['sub', 'top']);
});

test('a whiteout in the upper hides every lower layer', (t) => {
  const s = union(t, [base], [{ p: 'e', t: 'whiteout' }]);
  t.is(s.res(() => s.id('e')), 'ENOENT');
  t.deepEqual(s.ls(''), ['d', 'empty']);
});

test('unlink of a lower file leaves a 0/0 character device whiteout in the copied-up parent', (t) => {
  const s = union(t, [base]);
  s.u.unlink(ROOT, s.id('d'), b('lower'));
  t.is(kindAt(path.join(s.upper, 'd/lower')), 'whiteout');
  t.is(kindAt(path.join(s.upper, 'd')), 'dir');
  t.is(fs.statSync(path.join(s.upper, 'd')).mode & 0o7777, 0o750, 'the parent is copied up with its mode');
  t.is(fs.statSync(path.join(s.upper, 'd')).uid, 1000, 'and its owner');
  t.is(s.res(() => s.id('d/lower')), 'ENOENT');
  t.deepEqual(s.ls('d'), ['sub']);
});

test('unlink of an upper-only file leaves no whiteout', (t) => {
  const s = union(t, [base]);
  const d = s.id('d');
  s.u.create(ROOT, d, b('new'), 0o644, fs.constants.O_WRONLY, 0);
  t.is(kindAt(path.join(s.upper, 'd/new')), 'file');
  s.u.unlink(ROOT, d, b('new'));
  t.is(kindAt(path.join(s.upper, 'd/new')), 'absent');
});

test('unlink of an upper file that hides a lower one leaves a whiteout', (t) => {
  const s = union(t, [base], [{ p: 'd', t: 'dir' }, { p: 'd/lower', t: 'file', data: 'U' }]);
  s.u.unlink(ROOT, s.id('d'), b('lower'));
  t.is(kindAt(path.join(s.upper, 'd/lower')), 'whiteout');
});

test('rmdir of a lower directory leaves a whiteout; of an upper-only one, nothing', (t) => {
  const s = union(t, [base]);
  s.u.rmdir(ROOT, 1, b('empty'));
  t.is(kindAt(path.join(s.upper, 'empty')), 'whiteout');
  s.u.mkdir(ROOT, 1, b('mine'), 0o755, 0);
  s.u.rmdir(ROOT, 1, b('mine'));
  t.is(kindAt(path.join(s.upper, 'mine')), 'absent');
  t.is(s.res(() => s.u.rmdir(ROOT, 1, b('e'))), 'ENOTEMPTY', 'a directory with lower entries is not empty');
  t.deepEqual(fs.readdirSync(path.join(s.work, 'work')), [], 'nothing is left in the work dir');
});

test('rmdir of an upper directory over a lower one (holding only whiteouts) leaves a whiteout', (t) => {
  const s = union(t, [base]);
  s.u.unlink(ROOT, s.id('e'), b('x'));
  t.is(kindAt(path.join(s.upper, 'e/x')), 'whiteout');
  s.u.rmdir(ROOT, 1, b('e'));
  t.is(kindAt(path.join(s.upper, 'e')), 'whiteout');
  t.deepEqual(fs.readdirSync(path.join(s.work, 'work')), []);
});

test('mkdir over a whiteout makes an opaque directory that hides the lower one', (t) => {
  const s = union(t, [base]);
  s.u.rmdir(ROOT, 1, b('empty'));
  s.u.unlink(ROOT, s.id('e'), b('x'));
  s.u.rmdir(ROOT, 1, b('e'));
  s.u.mkdir(ROOT, 1, b('e'), 0o700, 0);
  t.is(kindAt(path.join(s.upper, 'e')), 'dir');
  t.is(xattr(path.join(s.upper, 'e'), 'trusted.overlay.opaque'), 'y');
  t.deepEqual(s.ls('e'), []);
  t.is(s.res(() => s.id('e/x')), 'ENOENT');
});

test('create over a whiteout replaces the whiteout with the new file', (t) => {
  const s = union(t, [base]);
  const d = s.id('d');
  s.u.unlink(ROOT, d, b('lower'));
  const { opened } = s.u.create(ROOT, d, b('lower'), 0o600, fs.constants.O_WRONLY, 0);
  s.u.release(opened.fh);
  t.is(kindAt(path.join(s.upper, 'd/lower')), 'file');
  t.is(fs.readFileSync(path.join(s.upper, 'd/lower'), 'utf8'), '');
});

test('an opaque directory hides the directories below it, not its own entries', (t) => {
  const s = union(t, [base, [{ p: 'd', t: 'dir', opaque: true }, { p: 'd/own', t: 'file' }]]);
  t.deepEqual(s.ls('d'), ['own']);
  t.is(s.res(() => s.id('d/sub')), 'ENOENT');
});

test('a non-directory in a layer hides the directories below it', (t) => {
  const s = union(t, [base, [{ p: 'd', t: 'file', data: 'f' }]]);
  const a = s.u.lookup(ROOT, 1, b('d')).attr;
  t.is(a.mode & 0o170000, 0o100000);
  t.is(s.res(() => s.u.readdir(s.id('d'), 0, 0)), 'ENOTDIR');
});

test('readdir lists each name once, the topmost layer wins, whiteouts never show', (t) => {
  const s = union(t, [base, [{ p: 'd/lower', t: 'dir' }, { p: 'd/sub', t: 'whiteout' }, { p: 'd/mid', t: 'file' }]], [
    { p: 'd', t: 'dir' }, { p: 'd/up', t: 'file' }, { p: 'd/mid', t: 'whiteout' },
  ]);
  t.deepEqual(s.ls('d'), ['lower', 'up']);
  t.is(s.u.lookup(ROOT, s.id('d'), b('lower')).attr.mode & 0o170000, 0o040000, 'the topmost object decides the type');
});

test('an absolute redirect continues the lookup at its path from the layer root in the layers below', (t) => {
  const s = union(t, [base, [{ p: 'moved', t: 'dir', xattrs: { 'trusted.overlay.redirect': '/d/sub' } }, { p: 'moved/top', t: 'file' }]]);
  t.deepEqual(s.ls('moved'), ['deep', 'top']);
});

test('a relative redirect continues the lookup at the other name in the same parent', (t) => {
  const s = union(t, [base, [{ p: 'd/renamed', t: 'dir', xattrs: { 'trusted.overlay.redirect': 'sub' } }]]);
  t.deepEqual(s.ls('d/renamed'), ['deep']);
});

test('a redirect that climbs out, is empty or passes through a symlink ends the lookup in that layer', (t) => {
  const s = union(t, [
    [...base, { p: 'link', t: 'symlink', target: 'd' }],
    [
      { p: 'climb', t: 'dir', xattrs: { 'trusted.overlay.redirect': '/../lower0/d' } },
      { p: 'dots', t: 'dir', xattrs: { 'trusted.overlay.redirect': '..' } },
      { p: 'through', t: 'dir', xattrs: { 'trusted.overlay.redirect': '/link/sub' } },
      { p: 'empty2', t: 'dir', xattrs: { 'trusted.overlay.redirect': '/d//sub' } },
    ],
  ]);
  for (const d of ['climb', 'dots', 'through', 'empty2']) t.deepEqual(s.ls(d), [], d);
});

test('rename of a lower directory within its parent leaves a redirect to its lower name and a whiteout at the old name', (t) => {
  const s = union(t, [base]);
  s.u.rename(ROOT, s.id('d'), b('sub'), s.id('d'), b('sub2'), 0);
  t.is(kindAt(path.join(s.upper, 'd/sub')), 'whiteout');
  t.is(xattr(path.join(s.upper, 'd/sub2'), 'trusted.overlay.redirect'), 'sub', 'a relative redirect, as overlayfs writes within one parent');
  t.deepEqual(s.ls('d/sub2'), ['deep']);
});

test('rename of a lower directory to another parent leaves an absolute redirect from the layer root', (t) => {
  const s = union(t, [base]);
  s.u.rename(ROOT, s.id('d'), b('sub'), s.id('e'), b('moved'), 0);
  t.is(xattr(path.join(s.upper, 'e/moved'), 'trusted.overlay.redirect'), '/d/sub');
  t.is(kindAt(path.join(s.upper, 'd/sub')), 'whiteout');
  t.deepEqual(s.ls('e/moved'), ['deep']);
  t.deepEqual(s.ls('d'), ['lower']);
});

test('a renamed directory is found by its redirect after the union forgets it', (t) => {
  const s = union(t, [base]);
  s.u.rename(ROOT, s.id('d'), b('sub'), s.id('e'), b('moved'), 0);
  s.u.destroy();
  const again = new UnionFs(new LayerStack({ lowers: s.lowers, upper: s.upper, work: s.work }));
  t.teardown(() => again.destroy());
  const e = again.lookup(ROOT, 1, b('e')).nodeid;
  const m = again.lookup(ROOT, e, b('moved')).nodeid;
  t.deepEqual(again.readdir(m, 0, 0).map((x) => x.name.toString()).sort(), ['deep']);
});

test('a moved upper-only directory in a merged parent becomes opaque', (t) => {
  const s = union(t, [base, [{ p: 'e/mine', t: 'dir' }]]);
  s.u.mkdir(ROOT, 1, b('fresh'), 0o755, 0);
  s.u.rename(ROOT, 1, b('fresh'), s.id('e'), b('mine'), 0);
  t.is(xattr(path.join(s.upper, 'e/mine'), 'trusted.overlay.opaque'), 'y');
  t.deepEqual(s.ls('e/mine'), []);
});

test('rename of a lower file leaves a whiteout at the old name (RENAME_WHITEOUT)', (t) => {
  const s = union(t, [base]);
  s.u.rename(ROOT, s.id('d'), b('lower'), s.id('e'), b('moved'), 0);
  t.is(kindAt(path.join(s.upper, 'd/lower')), 'whiteout');
  t.is(fs.readFileSync(path.join(s.upper, 'e/moved'), 'utf8'), 'L');
});

test('copy-up of a deep lower file copies its parents first, with their owner, mode and times', (t) => {
  const s = union(t, [base]);
  const deep = s.id('d/sub/deep');
  const before = fs.lstatSync(path.join(s.lowers[0]!, 'd'));
  const o = s.u.open(ROOT, deep, fs.constants.O_WRONLY);
  s.u.write(o.fh, 0, b('D'));
  s.u.release(o.fh);
  t.is(fs.readFileSync(path.join(s.upper, 'd/sub/deep'), 'utf8'), 'Deep');
  const up = fs.lstatSync(path.join(s.upper, 'd'));
  t.is(up.mode, before.mode);
  t.is(up.uid, before.uid);
  t.is(up.mtimeMs, before.mtimeMs, 'a copy-up is not a change of the parent');
  t.is(kindAt(path.join(s.upper, 'd/lower')), 'absent', 'siblings stay below');
  t.deepEqual(fs.readdirSync(path.join(s.work, 'work')), []);
});

test('setattr of a lower file copies it up and changes the copy only', (t) => {
  const s = union(t, [base]);
  const n = s.id('e/x');
  const a = s.u.setattr(ROOT, n, { mode: 0o600, uid: 1000, gid: 1000 });
  t.is(a.mode & 0o7777, 0o600);
  t.is(fs.lstatSync(path.join(s.upper, 'e/x')).uid, 1000);
  t.is(fs.lstatSync(path.join(s.lowers[0]!, 'e/x')).mode & 0o7777, 0o644, 'the lower is never written');
});

test('a new object belongs to the caller and a setgid directory hands down its group', (t) => {
  const s = union(t, [[{ p: 'g', t: 'dir', mode: 0o2777, gid: 4242 }]]);
  const g = s.id('g');
  const e = s.u.mkdir(USER, g, b('sub'), 0o755, 0);
  t.is(e.attr.uid, 1000);
  t.is(e.attr.gid, 4242);
  t.is(e.attr.mode & 0o2000, 0o2000, 'a subdirectory inherits setgid');
});

test('a hard link to a lower file copies it up; both names are one node', (t) => {
  const s = union(t, [base]);
  const x = s.id('e/x');
  const e = s.u.link(ROOT, x, s.id('d'), b('hl'));
  t.is(e.nodeid, x);
  t.is(fs.lstatSync(path.join(s.upper, 'd/hl')).ino, fs.lstatSync(path.join(s.upper, 'e/x')).ino);
  t.is(e.attr.nlink, 2);
});

test('trusted.overlay.* set through the union is stored escaped and shown unescaped; the union\'s own marks are never shown', (t) => {
  const s = union(t, [base, [{ p: 'd', t: 'dir', opaque: true }]]);
  const d = s.id('d');
  s.u.setxattr(ROOT, d, b('trusted.overlay.mine'), b('v'), 0);
  t.is(xattr(path.join(s.upper, 'd'), 'trusted.overlay.overlay.mine'), 'v');
  t.is(s.u.getxattr(ROOT, d, b('trusted.overlay.mine')).toString(), 'v');
  const names = s.u.listxattr(ROOT, d).toString('latin1').split('\0').filter(Boolean).sort();
  t.deepEqual(names, ['trusted.overlay.mine']);
  t.false(xattrNames(path.join(s.upper, 'd')).includes('trusted.overlay.opaque'), 'the lower\'s opaque mark is not copied up (it only hides what is below that layer)');
  t.is(s.res(() => s.u.getxattr(ROOT, d, b('trusted.overlay.opaque'))), 'ENODATA', 'the real opaque mark is not readable');
  t.deepEqual(s.u.listxattr(USER, d).toString(), '', 'trusted.* is listed to root only');
});

test('escaped xattrs travel with a copy-up; the union\'s own marks of a file stay behind', (t) => {
  const s = union(t, [[
    { p: 'f', t: 'file', xattrs: { 'trusted.overlay.overlay.kept': 'k', 'trusted.overlay.origin': 'o', 'user.u': 'u' } },
  ]]);
  const f = s.id('f');
  s.u.setattr(ROOT, f, { mode: 0o600 });
  const names = xattrNames(path.join(s.upper, 'f')).sort();
  t.deepEqual(names, ['trusted.overlay.overlay.kept', 'user.u']);
});

test('a move to another parent needing an absolute redirect longer than redirect_max (256 bytes) fails with EXDEV, as on overlayfs; within the parent it works', (t) => {
  const a = 'a'.repeat(200);
  const bb = 'b'.repeat(100);
  const s = union(t, [[{ p: `${a}/${bb}`, t: 'dir' }, { p: `${a}/${bb}/f`, t: 'file' }, { p: 'other', t: 'dir' }]]);
  const dir = s.id(a);
  t.is(s.res(() => s.u.rename(ROOT, dir, b(bb), s.id('other'), b('moved'), 0)), 'EXDEV');
  s.u.rename(ROOT, dir, b(bb), dir, b('c'), 0);
  t.deepEqual(s.ls(`${a}/c`), ['f']);
  // '/' + the 255-byte name of a top-level directory is 256 bytes: still allowed
  const top = 'x'.repeat(255);
  const s2 = union(t, [[{ p: `${top}/f`, t: 'file' }, { p: 'other', t: 'dir' }]]);
  s2.u.rename(ROOT, 1, b(top), s2.id('other'), b('moved'), 0);
  t.is(xattr(path.join(s2.upper, 'other/moved'), 'trusted.overlay.redirect'), '/' + top);
});

/** The descriptor of root/names..., opened one name at a time (the path may be any length). */
function openChain(root: string, names: string[], make = false): number {
  let fd = native.openDirAt(AT_FDCWD, Buffer.from(root));
  for (const n of names) {
    if (make) native.mkdirAt(fd, n, 0o755);
    const next = native.openDirAt(fd, n);
    fs.closeSync(fd);
    if (next < 0) throw new Error(`open ${n.slice(0, 8)}...: ${next}`);
    fd = next;
  }
  return fd;
}

function writeAt(dirfd: number, name: string, data: string): void {
  const fd = native.openAt(dirfd, name, fs.constants.O_CREAT | fs.constants.O_WRONLY, 0o644);
  fs.writeSync(fd, data);
  fs.closeSync(fd);
}

function readAt(dirfd: number, name: string): string {
  const fd = native.openAt(dirfd, name, fs.constants.O_RDONLY, 0);
  const buf = Buffer.alloc(100);
  const n = fs.readSync(fd, buf, 0, 100, 0);
  fs.closeSync(fd);
  return buf.subarray(0, n).toString();
}

function openFds(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

test('paths of any length: lookup, readdir, create, copy-up, unlink, rename and redirects 100 directories deep with 255-byte names, through 8 cached directory descriptors', async (t) => {
  const dir = tempDirFor(t, 'strata-union-rules-');
  const lower = path.join(dir, 'lower');
  const upper = path.join(dir, 'upper');
  const work = path.join(dir, 'work');
  for (const d of [lower, upper, work]) fs.mkdirSync(d);
  const names = Array.from({ length: 100 }, (_, i) => String(i).padStart(3, '0') + 'd'.repeat(252));
  const file = (s: string) => s + 'f'.repeat(255 - s.length);
  const deep = openChain(lower, names, true);
  writeAt(deep, file('one'), 'one');
  writeAt(deep, file('two'), 'two');
  native.mkdirAt(deep, file('sub'), 0o755);
  fs.closeSync(deep);
  const lowerTimes = fs.lstatSync(path.join(lower, names[0]!)).mtimeMs;
  LayerStack.prepareWorkDir(work);
  const before = openFds();
  const u = new UnionFs(new LayerStack({ lowers: [lower], upper, work }), { maxDirFds: 8 });
  t.teardown(() => u.destroy());
  let n = 1;
  for (const c of names) n = u.lookup(ROOT, n, b(c)).nodeid;
  t.deepEqual(u.readdir(n, 0, 0).map((e) => e.name.toString()).sort(), [file('one'), file('sub'), file('two')]);
  // create: the 100 parents are copied up first, each keeping its times
  const { opened } = u.create(ROOT, n, b(file('new')), 0o600, fs.constants.O_WRONLY, 0);
  u.write(opened.fh, 0, b('new'));
  u.release(opened.fh);
  t.is(fs.lstatSync(path.join(upper, names[0]!)).mtimeMs, lowerTimes);
  // copy-up of a lower file by writing it
  const one = u.lookup(ROOT, n, b(file('one'))).nodeid;
  const o = u.open(ROOT, one, fs.constants.O_WRONLY);
  u.write(o.fh, 0, b('ONE'));
  u.release(o.fh);
  // unlink leaves a whiteout; rename within the parent a relative redirect; a move out
  // would need an absolute one of 25 kB: EXDEV
  u.unlink(ROOT, n, b(file('two')));
  u.rename(ROOT, n, b(file('sub')), n, b(file('moved')), 0);
  t.is(res(() => u.rename(ROOT, n, b(file('moved')), 1, b('top'), 0)), 'EXDEV');
  await null; // the event loop's turn: evicted descriptors are closed
  // the layer roots, the lower one's detached noatime mount, the work dir, and at most 8 directories
  t.true(openFds() - before <= 4 + 8, `descriptors in use: ${openFds() - before}`);
  const up = openChain(upper, names);
  try {
    t.is(readAt(up, file('new')), 'new');
    t.is(readAt(up, file('one')), 'ONE');
    t.true(isWhiteout(statAt(up, file('two'))), 'a whiteout at depth 100');
    t.is(native.getxattrAt(up, file('moved'), 'trusted.overlay.redirect')?.toString(), file('sub'));
  } finally {
    fs.closeSync(up);
  }
  const low = openChain(lower, names);
  t.is(readAt(low, file('one')), 'one', 'the lower is never written');
  fs.closeSync(low);
  // a fresh union finds everything again through the on-disk marks
  u.destroy();
  const again = new UnionFs(new LayerStack({ lowers: [lower], upper, work }), { maxDirFds: 8 });
  t.teardown(() => again.destroy());
  n = 1;
  for (const c of names) n = again.lookup(ROOT, n, b(c)).nodeid;
  t.deepEqual(again.readdir(n, 0, 0).map((e) => e.name.toString()).sort(), [file('moved'), file('new'), file('one')]);
  t.is(again.lookup(ROOT, n, b(file('moved'))).attr.mode & 0o170000, 0o040000);
});
