// POSIX corners an independent filesystem suite found (issue 16): open files whose name
// is renamed over, atime mount options, times after mmap writes, O_TMPFILE, fallocate
// modes and the inode flags ioctls; each compared with kernel overlayfs.
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runBoth, sameAsOverlay } from './helpers/union';
import { hx } from './helpers/feature-layers';
import { LayerEntry } from './helpers/layers';
import { dropCaches, useDropCachesStressor } from './helpers/dropcaches';
import { pyOnce } from './helpers/pyops';

useDropCachesStressor(test);

const SRC = ['lower', 'upper'] as const;
const DST = ['lower-ro', 'lower-rw', 'upper-ro', 'upper-rw'] as const;

const renameLayers: LayerEntry[][] = [[
  { p: 'x', t: 'dir' },
  ...SRC.flatMap((s) => DST.flatMap((d): LayerEntry[] => [
    { p: `x/a-${s}-${d}`, t: 'file', data: `la-${s}-${d}` },
    { p: `x/b-${s}-${d}`, t: 'file', data: `lb-${s}-${d}` },
  ])),
]];

test('rename over an open file: fstat, read and write on its descriptor until close', async (t) => {
  const r = await runBoth(t, { layers: renameLayers }, async (c) => {
    const out: Record<string, unknown> = {};
    for (const s of SRC) {
      for (const d of DST) {
        const a = c.p(`x/a-${s}-${d}`);
        const b = c.p(`x/b-${s}-${d}`);
        if (s === 'upper') await c.ops.must('write', { p: a, data: `ua-${s}-${d}`, flags: ['TRUNC'] });
        if (d.startsWith('upper')) await c.ops.must('write', { p: b, data: `ub-${s}-${d}`, flags: ['TRUNC'] });
        const rw = d.endsWith('rw');
        const fd = await c.ops.must('open', { p: b, flags: [rw ? 'RDWR' : 'RDONLY'] });
        await c.ops.must('rename', { p: a, p2: b });
        dropCaches();
        const st = await c.ops.must('fstat', { fd });
        const row: unknown[] = [st.nlink, st.size, await c.ops.must('fread', { fd, n: 64 })];
        if (rw) {
          await c.ops.must('fwrite', { fd, data: 'Z', off: 0 });
          await c.ops.must('fwrite', { fd, data: '+tail', off: st.size });
          dropCaches();
          row.push(await c.ops.must('fread', { fd, n: 64 }), (await c.ops.must('fstat', { fd })).size);
        }
        await c.ops.must('close', { fd });
        row.push((await c.ops.must('read', { p: b })).hex);
        out[`${s} over ${d}`] = row;
      }
    }
    return out;
  });
  const want: Record<string, unknown> = {};
  for (const s of SRC) {
    for (const d of DST) {
      const old = `${d.startsWith('upper') ? 'u' : 'l'}b-${s}-${d}`;
      // a lower file still open for reading keeps its name in its layer: overlayfs shows its own link count
      const row: unknown[] = [d === 'lower-ro' ? 1 : 0, old.length, hx(old)];
      if (d.endsWith('rw')) row.push(hx('Z' + old.slice(1) + '+tail'), old.length + 5);
      row.push(hx(`${s === 'upper' ? 'u' : 'l'}a-${s}-${d}`));
      want[`${s} over ${d}`] = row;
    }
  }
  sameAsOverlay(t, r, want);
});

const USER = { uid: 1000, gid: 1000 };
const cornerLayers: LayerEntry[][] = [[
  { p: 'd', t: 'dir' },
  { p: 'd/lower', t: 'file', data: 'lower data' },
  { p: 'd/mine', t: 'file', data: 'owned by 1000', uid: 1000, gid: 1000, mode: 0o644 },
  { p: 'd/big', t: 'file', blocks: 16 },
  { p: 'd/sub', t: 'dir' },
  { p: 'pub', t: 'dir', mode: 0o1777 },
  { p: 'sg', t: 'dir', mode: 0o2777, gid: 50 },
]];

test('O_TMPFILE: an unnamed file in the upper layer, named by linkat or gone at close', async (t) => {
  const r = await runBoth(t, { layers: cornerLayers }, async (c) => {
    const fd = await c.ops.must('open', { p: c.p('d/sub'), flags: ['TMPFILE', 'RDWR'], mode: 0o640 });
    await c.ops.must('fwrite', { fd, data: 'tmp data' });
    const st = await c.ops.must('fstat', { fd });
    await c.ops.must('fchmod', { fd, mode: 0o604 });
    dropCaches();
    const unnamed = { mode: st.mode, nlink: st.nlink, size: st.size, chmod: (await c.ops.must('fstat', { fd })).mode, list: await c.ops.must('readdir', { p: c.p('d/sub') }) };
    await c.ops.must('linkfd', { fd, p: c.p('d/sub/named') });
    await c.ops.must('fwrite', { fd, data: '+more', off: 8 });
    dropCaches();
    const named = {
      content: (await c.ops.must('read', { p: c.p('d/sub/named') })).hex,
      nlink: (await c.ops.must('fstat', { fd })).nlink,
      again: await c.ops.res('linkfd', { fd, p: c.p('d/sub/named2') }),
      nlink2: (await c.ops.must('fstat', { fd })).nlink,
      list: await c.ops.must('readdir', { p: c.p('d/sub') }),
    };
    await c.ops.must('close', { fd });
    const gone = await c.ops.must('open', { p: c.p('d'), flags: ['TMPFILE', 'WRONLY'], mode: 0o600 });
    await c.ops.must('fwrite', { fd: gone, data: 'never seen' });
    await c.ops.must('close', { fd: gone });
    const excl = await c.ops.must('open', { p: c.p('d'), flags: ['TMPFILE', 'RDWR', 'EXCL'], mode: 0o600 });
    const exclLink = await c.ops.res('linkfd', { fd: excl, p: c.p('d/excl') });
    await c.ops.must('close', { fd: excl });
    // owner and group as for a file created there; the caller's permission on the directory
    const u = c.as(USER);
    const ufd = await u.must('open', { p: c.p('pub'), flags: ['TMPFILE', 'RDWR'], mode: 0o600 });
    const ust = await u.must('fstat', { fd: ufd });
    await u.must('linkfd', { fd: ufd, p: c.p('pub/users') });
    await u.must('close', { fd: ufd });
    const sfd = await u.must('open', { p: c.p('sg'), flags: ['TMPFILE', 'RDWR'], mode: 0o600 });
    const sst = await u.must('fstat', { fd: sfd });
    await u.must('close', { fd: sfd });
    return {
      unnamed, named, exclLink,
      d: await c.ops.must('readdir', { p: c.p('d') }),
      readOnly: await c.ops.res('open', { p: c.p('d'), flags: ['TMPFILE', 'RDONLY'] }),
      onFile: await c.ops.res('open', { p: c.p('d/lower'), flags: ['TMPFILE', 'RDWR'] }),
      user: [ust.uid, ust.gid, ust.mode],
      userNamed: (await c.ops.must('lstat', { p: c.p('pub/users') })).uid,
      setgidDir: [sst.uid, sst.gid],
      notWritable: await u.res('open', { p: c.p('d'), flags: ['TMPFILE', 'RDWR'] }),
    };
  }, (c) => ({ work: fs.readdirSync(path.join(c.work, 'work')) }));
  const names = (...n: string[]) => n.map((x) => hx(x)).sort();
  sameAsOverlay(t, r, {
    unnamed: { mode: 0o640, nlink: 0, size: 8, chmod: 0o604, list: [] },
    named: { content: hx('tmp data+more'), nlink: 1, again: 'ok', nlink2: 2, list: names('named', 'named2') },
    exclLink: 'ENOENT',
    d: names('big', 'lower', 'mine', 'sub'),
    readOnly: 'EINVAL', onFile: 'ENOTDIR',
    user: [1000, 1000, 0o600], userNamed: 1000, setgidDir: [1000, 50],
    notWritable: 'EACCES',
  });
  // nothing of an unnamed file is left in the work dir
  sameAsOverlay(t, { overlay: r.overlayAfter, strata: r.strataAfter }, { work: [] }, 'work dir after unmount');
});

const FALLOC = { KEEP_SIZE: 1, PUNCH_HOLE: 2, COLLAPSE_RANGE: 8, ZERO_RANGE: 0x10, INSERT_RANGE: 0x20 };

test('fallocate modes: zero range and punch hole on lower and upper files; collapse and insert range', async (t) => {
  const r = await runBoth(t, { layers: cornerLayers }, async (c) => {
    const out: Record<string, unknown> = {};
    await c.ops.must('write', { p: c.p('d/up'), data: Buffer.alloc(65536, 0x61), flags: ['CREAT'] });
    const modes: Array<[string, number, number, number]> = [
      ['zero', FALLOC.ZERO_RANGE, 100, 5000],
      ['zero-keep-past-end', FALLOC.ZERO_RANGE | FALLOC.KEEP_SIZE, 60000, 20000],
      ['zero-grow', FALLOC.ZERO_RANGE, 65536, 8192],
      ['punch', FALLOC.PUNCH_HOLE | FALLOC.KEEP_SIZE, 8192, 4096],
      ['punch-no-keep', FALLOC.PUNCH_HOLE, 8192, 4096],
    ];
    for (const f of ['d/big', 'd/up']) {
      for (const [name, mode, off, len] of modes) {
        const fd = await c.ops.must('open', { p: c.p(f), flags: ['RDWR'] });
        const res = await c.ops.res('fallocate', { fd, mode, off, len });
        await c.ops.must('close', { fd });
        dropCaches();
        const { size, sha256 } = await c.ops.must('read', { p: c.p(f) });
        out[`${f} ${name}`] = [res, size, sha256];
      }
    }
    // collapse and insert: block-aligned, on a copy of each file
    for (const f of ['d/big', 'd/up']) {
      for (const [name, mode] of [['collapse', FALLOC.COLLAPSE_RANGE], ['insert', FALLOC.INSERT_RANGE]] as const) {
        const fd = await c.ops.must('open', { p: c.p(f), flags: ['RDWR'] });
        out[`${f} ${name}`] = await c.ops.res('fallocate', { fd, mode, off: 4096, len: 4096 });
        await c.ops.must('close', { fd });
      }
    }
    const u = c.as(USER);
    const ufd = await u.must('open', { p: c.p('d/mine'), flags: ['RDONLY'] });
    out.readOnlyFd = await u.res('fallocate', { fd: ufd, mode: FALLOC.ZERO_RANGE, off: 0, len: 4 });
    await u.must('close', { fd: ufd });
    return out;
  });
  const collapseInsert = (v: Record<string, unknown>) => Object.fromEntries(Object.entries(v).filter(([k]) => /collapse|insert/.test(k)));
  const rest = (v: Record<string, unknown>) => Object.fromEntries(Object.entries(v).filter(([k]) => !/collapse|insert/.test(k)));
  // punching a hole needs KEEP_SIZE (the VFS refuses it otherwise, before any filesystem)
  const codes = Object.fromEntries(Object.entries(rest(r.overlay)).map(([k, v]) => [k, Array.isArray(v) ? v[0] : v]));
  t.deepEqual(codes, {
    'd/big zero': 'ok', 'd/big zero-keep-past-end': 'ok', 'd/big zero-grow': 'ok', 'd/big punch': 'ok', 'd/big punch-no-keep': 'ENOTSUP',
    'd/up zero': 'ok', 'd/up zero-keep-past-end': 'ok', 'd/up zero-grow': 'ok', 'd/up punch': 'ok', 'd/up punch-no-keep': 'ENOTSUP',
    readOnlyFd: 'EBADF',
  }, 'kernel overlayfs does not give the expected result: the test is wrong');
  t.deepEqual(rest(r.strata), rest(r.overlay), 'strata-fs differs from kernel overlayfs');
  // The kernel's FUSE refuses collapse and insert range itself (fs/fuse/file.c,
  // fuse_file_fallocate: only KEEP_SIZE, PUNCH_HOLE and ZERO_RANGE are sent to the
  // filesystem); overlayfs passes them to the upper filesystem, which takes them.
  t.deepEqual(collapseInsert(r.overlay), { 'd/big collapse': 'ok', 'd/big insert': 'ok', 'd/up collapse': 'ok', 'd/up insert': 'ok' });
  t.deepEqual(collapseInsert(r.strata), { 'd/big collapse': 'ENOTSUP', 'd/big insert': 'ENOTSUP', 'd/up collapse': 'ENOTSUP', 'd/up insert': 'ENOTSUP' });
});

const FL = { IMMUTABLE: 0x10, APPEND: 0x20, NODUMP: 0x40 };

test('inode flags (chattr/lsattr ioctls): read from the layer on top, set on the upper copy', async (t) => {
  const r = await runBoth(t, { layers: cornerLayers }, async (c) => {
    const flags = (p: string) => c.ops.must('getflags', { p: c.p(p) });
    await c.ops.must('write', { p: c.p('d/up'), data: 'upper', flags: ['CREAT'] });
    const before = { lower: await flags('d/lower'), dir: await flags('d'), up: await flags('d/up') };
    const set = async (p: string, f: number) => {
      const ctime = (await c.ops.must('lstat', { p: c.p(p) })).ctime;
      const res = await c.ops.res('setflags', { p: c.p(p), flags: f });
      dropCaches();
      return [res, await flags(p), BigInt((await c.ops.must('lstat', { p: c.p(p) })).ctime) > BigInt(ctime)];
    };
    const out: Record<string, unknown> = { before };
    try {
      out.immutable = await set('d/lower', before.lower | FL.IMMUTABLE);
      out.whileImmutable = {
        write: await c.ops.res('write', { p: c.p('d/lower'), data: 'x' }),
        append: await c.ops.res('write', { p: c.p('d/lower'), data: 'x', flags: ['APPEND'] }),
        unlink: await c.ops.res('unlink', { p: c.p('d/lower') }),
        rename: await c.ops.res('rename', { p: c.p('d/lower'), p2: c.p('d/moved') }),
        chmod: await c.ops.res('chmod', { p: c.p('d/lower'), mode: 0o600 }),
        content: (await c.ops.must('read', { p: c.p('d/lower') })).hex,
      };
      out.mutable = await set('d/lower', before.lower);
      out.appendOnly = await set('d/up', before.up | FL.APPEND);
      out.whileAppendOnly = {
        write: await c.ops.res('write', { p: c.p('d/up'), data: 'x' }),
        append: await c.ops.res('write', { p: c.p('d/up'), data: '+a', flags: ['APPEND'] }),
        truncate: await c.ops.res('truncate', { p: c.p('d/up'), n: 0 }),
        content: (await c.ops.must('read', { p: c.p('d/up') })).hex,
      };
      out.notAppendOnly = await set('d/up', before.up);
      out.nodumpDir = await set('d/sub', before.dir | FL.NODUMP);
      // the caller's rights are the kernel's to check: only the owner sets flags, and
      // only a capable one the immutable and append-only ones
      const u = c.as(USER);
      out.user = {
        get: await u.res('getflags', { p: c.p('d/lower') }),
        notOwner: await u.res('setflags', { p: c.p('d/lower'), flags: before.lower | FL.NODUMP }),
        ownerNodump: await u.res('setflags', { p: c.p('d/mine'), flags: before.lower | FL.NODUMP }),
        ownerImmutable: await u.res('setflags', { p: c.p('d/mine'), flags: before.lower | FL.IMMUTABLE }),
        after: await flags('d/mine'),
      };
      out.otherDir = await c.ops.res('getflags', { p: c.p('pub') });
    } finally {
      // an immutable file left behind could not be removed with the test's temp dir
      for (const p of ['d/lower', 'd/up', 'd/mine']) await c.ops.call('setflags', { p: c.p(p), flags: before.lower & ~(FL.IMMUTABLE | FL.APPEND) });
    }
    return out;
  }, (c) => ({ upperFlags: ['d/lower', 'd/sub'].map((p) => pyFlags(path.join(c.upper, p))) }));
  const e = (r.overlay.before as { lower: number }).lower; // the upper filesystem's own flags (ext4: extents)
  sameAsOverlay(t, r, {
    before: { lower: e, dir: e, up: e },
    immutable: ['ok', e | FL.IMMUTABLE, true],
    whileImmutable: { write: 'EPERM', append: 'EPERM', unlink: 'EPERM', rename: 'EPERM', chmod: 'EPERM', content: hx('lower data') },
    mutable: ['ok', e, true],
    appendOnly: ['ok', e | FL.APPEND, true],
    whileAppendOnly: { write: 'EPERM', append: 'ok', truncate: 'EPERM', content: hx('upper+a') },
    notAppendOnly: ['ok', e, true],
    nodumpDir: ['ok', e | FL.NODUMP, true],
    user: { get: 'ok', notOwner: 'EPERM', ownerNodump: 'ok', ownerImmutable: 'EPERM', after: e | FL.NODUMP },
    otherDir: 'ok',
  });
  // set on the upper copies (copied up for it)
  sameAsOverlay(t, { overlay: r.overlayAfter, strata: r.strataAfter }, { upperFlags: [e, e | FL.NODUMP] }, 'flags in the upper dir');
});

function pyFlags(p: string): number {
  const res = pyOnce('getflags', { p });
  if (!res.ok) throw new Error(`getflags ${p}: ${res.err}`);
  return res.v as number;
}

for (const passthrough of ['on', 'off']) {
  test(`writes through a shared mapping move mtime and ctime, after each msync too (passthrough=${passthrough})`, async (t) => {
    const r = await runBoth(t, { layers: cornerLayers, strataOptions: [`passthrough=${passthrough}`] }, async (c) => {
      await c.ops.must('write', { p: c.p('d/up'), data: Buffer.alloc(3 * 4096, 0x61), flags: ['CREAT'] });
      const out: Record<string, unknown> = {};
      for (const f of ['d/big', 'd/up']) {
        await c.ops.must('utimens', { p: c.p(f), atime: '1000000000000000000', mtime: '1000000000000000000' });
        // page 0, page 4096, page 0 again: each write after a sync faults the page writable
        const snaps: string[][] = await c.ops.must('mmap_times', { p: c.p(f), offs: [0, 4096, 0] });
        const moved = (i: number, col: number) => BigInt(snaps[i]![col]!) > BigInt(snaps[i - 1]![col]!);
        out[f] = {
          steps: [1, 2, 3].map((i) => [moved(i, 0), moved(i, 1), moved(i, 2), moved(i, 3)]),
          pathIsFd: snaps.slice(0, 4).every((s) => s[0] === s[2] && s[1] === s[3]),
          closeKeeps: snaps[4]![0] === snaps[3]![0],
        };
        dropCaches();
        const fd = await c.ops.must('open', { p: c.p(f), flags: ['RDONLY'] });
        out[`${f} data`] = [await c.ops.must('fread', { fd, n: 4, off: 0 }), await c.ops.must('fread', { fd, n: 4, off: 4096 })];
        await c.ops.must('close', { fd });
      }
      return out;
    });
    const all = [true, true, true, true];
    sameAsOverlay(t, r, {
      'd/big': { steps: [all, all, all], pathIsFd: true, closeKeeps: true },
      'd/big data': [hx('MM00'), hx('MM00')],
      'd/up': { steps: [all, all, all], pathIsFd: true, closeKeeps: true },
      'd/up data': [hx('MMaa'), hx('MMaa')],
    });
  });
}

// [atime older than mtime, read again at once, atime newer than mtime but a day old]
const ATIME_RULES: Record<string, { file: boolean[]; dir: boolean[] }> = {
  noatime: { file: [false, false, false], dir: [false, false, false] },
  relatime: { file: [true, false, true], dir: [true, false, true] },
  strictatime: { file: [true, true, true], dir: [true, true, true] },
  nodiratime: { file: [true, false, true], dir: [false, false, false] },
  'strictatime,nodiratime': { file: [true, true, true], dir: [false, false, false] },
};

for (const [option, rule] of Object.entries(ATIME_RULES)) {
  for (const passthrough of option === 'relatime' || option === 'nodiratime' ? ['on'] : ['on', 'off']) {
    test(`atime option ${option}: reads and listings of upper and copied-up objects (passthrough=${passthrough})`, async (t) => {
      const r = await runBoth(t, { layers: cornerLayers, mountOptions: option.split(','), strataOptions: [`passthrough=${passthrough}`] }, async (c) => {
        await c.ops.must('write', { p: c.p('d/up'), data: 'upper file', flags: ['CREAT'] });
        await c.ops.must('mkdir', { p: c.p('newdir') });
        await c.ops.must('chmod', { p: c.p('d/lower'), mode: 0o644 }); // copied up
        await c.ops.must('chmod', { p: c.p('d/sub'), mode: 0o755 });
        const lowerAtime = (await c.ops.must('stat', { p: c.p('d/big') })).atime;
        const probe: boolean[][] = await c.ops.must('atime_probe', { paths: ['d/up', 'd/lower', 'newdir', 'd/sub'].map((p) => c.p(p).toString('hex')) });
        await c.ops.must('read', { p: c.p('d/big') });
        return {
          files: probe.slice(0, 2), dirs: probe.slice(2),
          // a lower file read stays as it is
          lower: (await c.ops.must('stat', { p: c.p('d/big') })).atime === lowerAtime,
        };
      });
      sameAsOverlay(t, r, { files: [rule.file, rule.file], dirs: [rule.dir, rule.dir], lower: true });
    });
  }
}

const siblingLayers: LayerEntry[][] = [[
  { p: 'd', t: 'dir', mode: 0o777 },
  { p: 'd/f', t: 'file', data: 'f', mode: 0o644 },
  { p: 'd/g', t: 'file', data: 'g', mode: 0o666 },
  { p: 'd/own', t: 'file', data: 'own', uid: 1000, gid: 1000, mode: 0o644 },
  { p: 'e', t: 'dir', mode: 0o777 },
]];

test('times around the new paths: utimens by non-owners, ctime on link/unlink/chmod, directory times on rename', async (t) => {
  const r = await runBoth(t, { layers: siblingLayers }, async (c) => {
    const u = c.as(USER);
    // only the owner sets times; a writer may set both to now (both UTIME_NOW, as utime(p, NULL))
    const utimes = {
      writerNow: await u.res('utimens', { p: c.p('d/g'), atime: 'now', mtime: 'now' }),
      writerAtimeNow: await u.res('utimens', { p: c.p('d/g'), atime: 'now', mtime: 'omit' }),
      writerExplicit: await u.res('utimens', { p: c.p('d/g'), atime: '1', mtime: '1' }),
      readerNow: await u.res('utimens', { p: c.p('d/f'), atime: 'now', mtime: 'now' }),
      readerExplicit: await u.res('utimens', { p: c.p('d/f'), atime: '1', mtime: 'omit' }),
      ownerExplicit: await u.res('utimens', { p: c.p('d/own'), atime: '5', mtime: '6' }),
      ownerTimes: [(await c.ops.must('lstat', { p: c.p('d/own') })).atime, (await c.ops.must('lstat', { p: c.p('d/own') })).mtime],
    };
    const times = async (p: string) => {
      const s = await c.ops.must('lstat', { p: c.p(p) });
      return [BigInt(s.mtime), BigInt(s.ctime)];
    };
    const pause = () => new Promise((res) => setTimeout(res, 20));
    const f0 = await times('d/f');
    await pause();
    await c.ops.must('link', { p: c.p('d/f'), p2: c.p('d/f2') });
    const f1 = await times('d/f');
    await pause();
    await c.ops.must('unlink', { p: c.p('d/f2') });
    const f2 = await times('d/f');
    await pause();
    await c.ops.must('chmod', { p: c.p('d/f'), mode: 0o600 });
    const f3 = await times('d/f');
    const [d0, e0, g0] = [await times('d'), await times('e'), await times('d/g')];
    await pause();
    await c.ops.must('rename', { p: c.p('d/g'), p2: c.p('e/g') });
    dropCaches();
    const [d1, e1, g1] = [await times('d'), await times('e'), await times('e/g')];
    await pause();
    await c.ops.must('rename', { p: c.p('e/g'), p2: c.p('e/g2') });
    const e2 = await times('e');
    return {
      utimes,
      link: [f1[1]! > f0[1]!, f1[0] === f0[0]], unlink: [f2[1]! > f1[1]!, f2[0] === f1[0]], chmod: f3[1]! > f2[1]!,
      renameAcross: { from: [d1[0]! > d0[0]!, d1[1]! > d0[1]!], to: [e1[0]! > e0[0]!, e1[1]! > e0[1]!], moved: [g1[0] === g0[0], g1[1]! > g0[1]!] },
      renameWithin: [e2[0]! > e1[0]!, e2[1]! > e1[1]!],
    };
  });
  sameAsOverlay(t, r, {
    utimes: {
      writerNow: 'ok', writerAtimeNow: 'EPERM', writerExplicit: 'EPERM', readerNow: 'EACCES', readerExplicit: 'EPERM',
      ownerExplicit: 'ok', ownerTimes: ['5', '6'],
    },
    link: [true, true], unlink: [true, true], chmod: true,
    renameAcross: { from: [true, true], to: [true, true], moved: [true, true] },
    renameWithin: [true, true],
  });
});
