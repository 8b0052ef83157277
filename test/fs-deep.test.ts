// Paths of any length, as on kernel overlayfs: a tree 100 directories deep with 255-byte
// names (about 25 kB from the root, six times PATH_MAX), where every operation reaches its
// object one name at a time (the python helper's "deep" ops, *at calls on O_PATH
// descriptors). The kernel never sees a long path; strata must not build one either.
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runBoth, sameAsOverlay, UnionCtx } from './helpers/union';
import { mountUnion, unmount } from './helpers/mount';
import { PyOps } from './helpers/pyops';
import { manifestDiff } from './helpers/manifest';
import { useDropCachesStressor } from './helpers/dropcaches';

useDropCachesStressor(test);

const USER = { uid: 1000, gid: 1000 };
const DEPTH = 100;
/** a 255-byte name, distinct in its first bytes */
const nm = (s: string): string => s + '.'.repeat(255 - s.length);
const CHAIN = Array.from({ length: DEPTH }, (_, i) => nm(`level${String(i).padStart(3, '0')}`));
const hex = (s: string): string => Buffer.from(s, 'latin1').toString('hex');
const unhex = (list: string[]): string[] => list.map((h) => Buffer.from(h, 'hex').toString('latin1'));

/** One op of the helper's "deep" family: on `name` in the directory reached by `parts`. */
function deep(ops: PyOps, base: string, op: string, parts: string[], name?: string, extra: Record<string, unknown> = {}) {
  const args: Record<string, unknown> = { p: base, do: op, parts: parts.map(hex), ...extra };
  if (name !== undefined) args.name = hex(name);
  if (typeof extra.name2 === 'string') args.name2 = hex(extra.name2);
  if (Array.isArray(extra.parts2)) args.parts2 = (extra.parts2 as string[]).map(hex);
  return ops.call('deep', args);
}

async function res(ops: PyOps, base: string, op: string, parts: string[], name?: string, extra: Record<string, unknown> = {}): Promise<string> {
  const r = await deep(ops, base, op, parts, name, extra);
  return r.ok ? 'ok' : String(r.err);
}

async function must(ops: PyOps, base: string, op: string, parts: string[], name?: string, extra: Record<string, unknown> = {}): Promise<any> {
  const r = await deep(ops, base, op, parts, name, extra);
  if (!r.ok) throw new Error(`deep ${op} ${name?.slice(0, 12) ?? ''}: ${r.err}`);
  return r.v;
}

/** The tree below the directory reached by parts: one line per entry (names shortened). */
async function manifest(ops: PyOps, base: string, parts: string[] = [], shape = false): Promise<string[]> {
  return must(ops, base, 'manifest', parts, undefined, { shape });
}

const st = (v: any) => (v ? { type: v.type, mode: v.mode, uid: v.uid, gid: v.gid, size: v.type === 'file' ? v.size : undefined } : v);

// Bottom layer: the chain, and at its end files, a directory to move, one to be made
// opaque above, a directory owned by uid 1000. Top layer: the same chain, holding a
// whiteout, an opaque directory and a redirect to a directory of the bottom layer.
async function build(lowers: string[], ops: PyOps): Promise<void> {
  const [bottom, top] = lowers as [string, string];
  for (const l of [bottom, top]) {
    for (let i = 0; i < DEPTH; i++) await must(ops, l, 'mkdir', CHAIN.slice(0, i), CHAIN[i]!, { mode: 0o755 });
  }
  const end = CHAIN;
  for (const [n, data] of [['one', 'one'], ['two', 'two'], ['three', 'three'], ['four', 'four']] as const) {
    await must(ops, bottom, 'create', end, nm(n));
    await must(ops, bottom, 'write', end, nm(n), { data });
  }
  await must(ops, bottom, 'mkdir', end, nm('sub'));
  await must(ops, bottom, 'create', [...end, nm('sub')], nm('x'));
  await must(ops, bottom, 'create', [...end, nm('sub')], nm('y'));
  await must(ops, bottom, 'mkdir', end, nm('opq'));
  await must(ops, bottom, 'create', [...end, nm('opq')], nm('old'));
  await must(ops, bottom, 'mkdir', end, nm('mine'));
  await must(ops, bottom, 'create', [...end, nm('mine')], nm('hers'));
  await must(ops, bottom, 'write', [...end, nm('mine')], nm('hers'), { data: 'hers' });
  await must(ops, bottom, 'mkdir', [...end, nm('mine')], nm('herdir'));
  await must(ops, bottom, 'create', [...end, nm('mine'), nm('herdir')], nm('z'));
  for (const p of [[nm('mine')], [nm('mine'), nm('hers')], [nm('mine'), nm('herdir')], [nm('mine'), nm('herdir'), nm('z')]]) {
    await must(ops, bottom, 'chown', [...end, ...p.slice(0, -1)], p[p.length - 1], { uid: 1000, gid: 1000 });
  }
  await must(ops, bottom, 'mkdir', [], 'other');
  await must(ops, top, 'mkdir', [], 'other');
  // top: whiteout of "three", an opaque "opq", a relative redirect "rd" -> "sub"
  await must(ops, top, 'mknod', end, nm('three'));
  await must(ops, top, 'mkdir', end, nm('opq'));
  await must(ops, top, 'setxattr', end, nm('opq'), { xname: 'trusted.overlay.opaque', value: 'y' });
  await must(ops, top, 'create', [...end, nm('opq')], nm('new'));
  await must(ops, top, 'mkdir', end, nm('rd'));
  await must(ops, top, 'setxattr', end, nm('rd'), { xname: 'trusted.overlay.redirect', value: nm('sub') });
  await must(ops, top, 'create', end, nm('top'));
}

/** Mount kernel overlayfs over the upper this driver wrote; its tree must be the one the
 *  driver showed (whiteouts, opaque dirs and redirects at depth read the same way). */
async function overlayView(c: UnionCtx): Promise<string[]> {
  const mnt = path.join(path.dirname(c.mnt), 'check');
  fs.mkdirSync(mnt);
  mountUnion('overlay', { lowers: c.lowers, upper: c.upper, work: c.work, mnt });
  const ops = new PyOps();
  try {
    return await manifest(ops, mnt);
  } finally {
    await ops.close();
    unmount(mnt);
  }
}

test('paths past PATH_MAX: readdir, stat, create, copy-up, unlink, rename and redirects 100 levels deep, as root and as uid 1000', async (t) => {
  // the bottom layer's state for the check that no driver wrote it
  let lowerBefore: string[][] = [];
  const r = await runBoth(t, {
    layers: [[], []],
    build: async (lowers, ops) => {
      await build(lowers, ops);
      lowerBefore = await Promise.all(lowers.map((l) => manifest(ops, l)));
    },
  }, async (c) => {
    const m = c.mnt;
    const o = c.ops;
    const u = c.as(USER);
    const end = CHAIN;
    const out: Record<string, unknown> = {};
    out.listing = unhex(await must(o, m, 'readdir', end));
    out.stOne = st(await must(o, m, 'lstat', end, nm('one')));
    out.three = await res(o, m, 'lstat', end, nm('three'));
    out.opq = unhex(await must(o, m, 'readdir', [...end, nm('opq')]));
    out.rd = unhex(await must(o, m, 'readdir', [...end, nm('rd')]));
    // create, write and read back at depth
    out.create = await res(o, m, 'create', end, nm('new'), { mode: 0o640 });
    out.write = await res(o, m, 'write', end, nm('new'), { data: 'fresh' });
    out.readNew = Buffer.from(await must(o, m, 'read', end, nm('new')), 'hex').toString();
    // copy-up of a lower file and its 100 lower parents
    out.append = await res(o, m, 'write', end, nm('one'), { data: '+', flags: ['APPEND'] });
    out.readOne = Buffer.from(await must(o, m, 'read', end, nm('one')), 'hex').toString();
    out.chmod = await res(o, m, 'chmod', end, nm('four'), { mode: 0o600 });
    // whiteouts: unlink a lower file, rmdir a lower dir after emptying it
    out.unlink = await res(o, m, 'unlink', end, nm('two'));
    out.gone = await res(o, m, 'lstat', end, nm('two'));
    out.unlinkOld = await res(o, m, 'unlink', [...end, nm('opq')], nm('new'));
    out.rmdirOpq = await res(o, m, 'rmdir', end, nm('opq'));
    out.mkdirOverWhiteout = await res(o, m, 'mkdir', end, nm('opq'));
    out.opqAgain = unhex(await must(o, m, 'readdir', [...end, nm('opq')]));
    // renames at depth: a lower directory within its parent (a relative redirect), out of
    // it (an absolute redirect of 25 kB: overlayfs refuses with EXDEV), a lower file across
    out.renameDir = await res(o, m, 'rename', end, nm('sub'), { parts2: end, name2: nm('sub2') });
    out.movedListing = unhex(await must(o, m, 'readdir', [...end, nm('sub2')]));
    out.renameOut = await res(o, m, 'rename', end, nm('sub2'), { parts2: ['other'], name2: 'far' });
    out.renameFile = await res(o, m, 'rename', end, nm('four'), { parts2: [...end, nm('sub2')], name2: nm('four') });
    out.symlink = await res(o, m, 'symlink', end, nm('ln'), { target: 'x'.repeat(4000) });
    out.link = await res(o, m, 'link', end, nm('new'), { parts2: [...end, nm('sub2')], name2: nm('hard') });
    // as uid 1000: the deep directories are root's, "mine" is the user's
    out.userList = unhex(await must(u, m, 'readdir', [...end, nm('mine')]));
    out.userCreateRootDir = await res(u, m, 'create', end, nm('user'));
    out.userCreate = await res(u, m, 'create', [...end, nm('mine')], nm('made'));
    out.userStat = st(await must(u, m, 'lstat', [...end, nm('mine')], nm('made')));
    out.userWrite = await res(u, m, 'write', [...end, nm('mine')], nm('hers'), { data: 'H' });
    out.userRenameDir = await res(u, m, 'rename', [...end, nm('mine')], nm('herdir'), { parts2: [...end, nm('mine')], name2: nm('herdir2') });
    out.userRenameOut = await res(u, m, 'rename', [...end, nm('mine')], nm('herdir2'), { parts2: ['other'], name2: 'x' });
    out.userUnlink = await res(u, m, 'unlink', [...end, nm('mine'), nm('herdir2')], nm('z'));
    out.userRmdir = await res(u, m, 'rmdir', [...end, nm('mine')], nm('herdir2'));
    out.userUnlinkRoots = await res(u, m, 'unlink', end, nm('one'));
    // a lower directory at the top, with the whole chain below it, moved into another
    // directory: '/' + 255 bytes is overlayfs's longest redirect (redirect_max 256)
    out.renameTop = await res(o, m, 'rename', [], CHAIN[0]!, { parts2: ['other'], name2: CHAIN[0]! });
    const moved = ['other', ...CHAIN];
    out.throughMoved = unhex(await must(o, m, 'readdir', moved));
    out.readMoved = Buffer.from(await must(o, m, 'read', moved, nm('one')), 'hex').toString();
    out.oldPlace = await res(o, m, 'lstat', [], CHAIN[0]!);
    return { out, tree: await manifest(o, m) };
  }, async (c) => {
    const ops = new PyOps();
    try {
      return {
        view: await overlayView(c),
        upperShape: await manifest(ops, c.upper, [], true),
        lowers: await Promise.all([...c.lowers].reverse().map((l) => manifest(ops, l))),
      };
    } finally {
      await ops.close();
    }
  });
  const end = (s: string) => nm(s);
  sameAsOverlay(t, { overlay: r.overlay.out, strata: r.strata.out }, {
    listing: [end('four'), end('mine'), end('one'), end('opq'), end('rd'), end('sub'), end('top'), end('two')].sort(),
    stOne: { type: 'file', mode: 0o644, uid: 0, gid: 0, size: 3 },
    three: 'ENOENT',
    opq: [end('new')],
    rd: [end('x'), end('y')],
    create: 'ok', write: 'ok', readNew: 'fresh',
    append: 'ok', readOne: 'one+', chmod: 'ok',
    unlink: 'ok', gone: 'ENOENT', unlinkOld: 'ok', rmdirOpq: 'ok', mkdirOverWhiteout: 'ok', opqAgain: [],
    renameDir: 'ok', movedListing: [end('x'), end('y')], renameOut: 'EXDEV', renameFile: 'ok',
    symlink: 'ok', link: 'ok',
    userList: [end('herdir'), end('hers')],
    userCreateRootDir: 'EACCES', userCreate: 'ok',
    userStat: { type: 'file', mode: 0o644, uid: 1000, gid: 1000, size: 0 },
    userWrite: 'ok', userRenameDir: 'ok', userRenameOut: 'EACCES', userUnlink: 'ok', userRmdir: 'ok',
    userUnlinkRoots: 'EACCES',
    renameTop: 'ok',
    throughMoved: [end('ln'), end('mine'), end('new'), end('one'), end('opq'), end('rd'), end('sub2'), end('top')].sort(),
    readMoved: 'one+',
    oldPlace: 'ENOENT',
  });
  const diff = (a: string[], e: string[]) => manifestDiff(a.join('\n'), e.join('\n'));
  // what the scenario changed has different times on each driver: compared without them
  const timeless = (m: string[]) => m.map((l) => l.replace(/ mtime=\d+/, ''));
  t.true(r.overlay.tree.length > DEPTH + 10, 'the manifest walked the whole tree');
  t.deepEqual(diff(timeless(r.strata.tree), timeless(r.overlay.tree)), [], 'the whole merged tree, 100 levels deep (- overlay, + strata)');
  // the 99 directories above the deep one were copied up and moved, not changed: their
  // times are the lower ones', on both drivers
  const above = (m: string[], prefix: string) => m.filter((l) => {
    const p = l.split(' ')[0]!;
    return p.startsWith(prefix + '/level000') && !p.slice(prefix.length + 1).includes('/') && !p.includes('level099');
  }).map((l) => l.slice(prefix.length));
  const lowerAbove = above(lowerBefore[1]!, '');
  t.is(lowerAbove.length, DEPTH - 1);
  t.deepEqual(above(r.strata.tree, '/other'), lowerAbove, 'strata-fs kept the times of the copied-up parents');
  t.deepEqual(above(r.overlay.tree, '/other'), lowerAbove, 'overlayfs kept the times of the copied-up parents');
  t.deepEqual(diff(r.strataAfter.view, r.strata.tree), [], 'kernel overlayfs over the strata upper shows what strata showed (- strata, + overlay)');
  t.deepEqual(diff(r.overlayAfter.view, r.overlay.tree), [], 'the oracle remounted');
  t.deepEqual(diff(r.strataAfter.upperShape, r.overlayAfter.upperShape), [], 'the same whiteouts, copied-up dirs and files in both uppers (- overlay, + strata)');
  r.strataAfter.lowers.forEach((m, i) => t.deepEqual(diff(m, lowerBefore[i]!), [], 'strata-fs wrote no lower layer'));
  r.overlayAfter.lowers.forEach((m, i) => t.deepEqual(diff(m, lowerBefore[i]!), [], 'overlayfs wrote no lower layer'));
});
