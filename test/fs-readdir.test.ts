import test from 'ava';
import * as fs from 'node:fs';
import { runBoth, sameAsOverlay } from './helpers/union';
import { LayerEntry } from './helpers/layers';
import { treeManifest } from './helpers/manifest';
import { useDropCachesStressor } from './helpers/dropcaches';

useDropCachesStressor(test);

const name = (prefix: string, i: number) => `${prefix}${String(i).padStart(4, '0')}`;

// Bottom: f0000-f1499. Middle: f1000-f1999 (shadowing), whiteouts f0000-f0099.
// Top: g0000-g0499, whiteouts f1900-f1999. Merged: f0100-f1899 and g0000-g0499.
function bigDirLayers(): LayerEntry[][] {
  const l0: LayerEntry[] = [{ p: 'big', t: 'dir' }];
  for (let i = 0; i < 1500; i++) l0.push({ p: `big/${name('f', i)}`, t: 'file', data: 'L0' });
  const l1: LayerEntry[] = [{ p: 'big', t: 'dir' }];
  for (let i = 1000; i < 2000; i++) l1.push({ p: `big/${name('f', i)}`, t: 'file', data: 'L1' });
  for (let i = 0; i < 100; i++) l1.push({ p: `big/${name('f', i)}`, t: 'whiteout' });
  const l2: LayerEntry[] = [{ p: 'big', t: 'dir' }];
  for (let i = 0; i < 500; i++) l2.push({ p: `big/${name('g', i)}`, t: 'file', data: 'L2' });
  for (let i = 1900; i < 2000; i++) l2.push({ p: `big/${name('f', i)}`, t: 'whiteout' });
  return [l0, l1, l2];
}

function expectedBig(): string[] {
  const out: string[] = [];
  for (let i = 100; i < 1900; i++) out.push(name('f', i));
  for (let i = 0; i < 500; i++) out.push(name('g', i));
  return out.sort();
}

test('readdir of a 2300-entry merged dir lists each name once, no whiteouts; telldir/seekdir are exact', async (t) => {
  const samples = [0, 1, 2, 3, 17, 100, 511, 512, 1000, 1024, 1500, 2047, 2048, 2200, 2301];
  const r = await runBoth(t, { layers: bigDirLayers() }, async (c) => {
    const scan = await c.ops.must('scan_seek', { p: c.p('big'), samples });
    const listed: string[] = scan.names.map((h: string) => Buffer.from(h, 'hex').toString('latin1'));
    // a second pass through Node's readdir must agree
    const node = fs.readdirSync(c.p('big')).map((b) => b.toString()).sort();
    return {
      count: listed.length,
      unique: new Set(listed).size === listed.length,
      names: listed.filter((n) => n !== '.' && n !== '..').sort(),
      dots: listed.filter((n) => n === '.' || n === '..').sort(),
      whiteoutTypes: scan.dtypes.filter((d: number) => d === 2).length, // DT_CHR
      badSeeks: scan.badSeeks,
      tailOk: scan.tailOk,
      node,
    };
  });
  const exp = expectedBig();
  sameAsOverlay(t, r, {
    count: exp.length + 2, unique: true, names: exp, dots: ['.', '..'], whiteoutTypes: 0, badSeeks: [], tailOk: true, node: exp,
  });
});

test('readdir after deleting half the names and creating new ones lists exactly the survivors', async (t) => {
  const r = await runBoth(t, { layers: bigDirLayers() }, async (c) => {
    // Delete half the names (lower and upper ones), add new ones, then list again.
    for (let i = 100; i < 1900; i += 2) await c.ops.must('unlink', { p: c.p('big', name('f', i)) });
    for (let i = 0; i < 50; i++) await c.ops.must('create', { p: c.p('big', name('h', i)) });
    const scan = await c.ops.must('scan_seek', { p: c.p('big'), samples: [0, 5, 500, 1000] });
    const listed: string[] = scan.names.map((h: string) => Buffer.from(h, 'hex').toString('latin1'));
    return { unique: new Set(listed).size === listed.length, names: listed.filter((n) => n[0] !== '.').sort(), badSeeks: scan.badSeeks };
  });
  const exp: string[] = [];
  for (let i = 101; i < 1900; i += 2) exp.push(name('f', i));
  for (let i = 0; i < 500; i++) exp.push(name('g', i));
  for (let i = 0; i < 50; i++) exp.push(name('h', i));
  sameAsOverlay(t, r, { unique: true, names: exp.sort(), badSeeks: [] });
});

test('. and .. are stable: inode of .. is the parent, of . the dir itself, also in merged dirs', async (t) => {
  const r = await runBoth(t, { layers: bigDirLayers() }, async (c) => {
    const st = async (p: Buffer) => (await c.ops.must('stat', { p })).ino;
    return {
      dot: (await st(c.p('big', '.'))) === (await st(c.p('big'))),
      dotdot: (await st(c.p('big', '..'))) === (await st(c.p())),
    };
  });
  sameAsOverlay(t, r, { dot: true, dotdot: true });
});

const RAW = {
  cafe: Buffer.from([0x63, 0x61, 0x66, 0xe9]), // latin-1 "café"
  junk: Buffer.from([0xff, 0xfe, 0x80, 0x41]),
  dir: Buffer.from([0xc3, 0x28, 0x64]), // invalid UTF-8 sequence
  renamed: Buffer.from([0x72, 0xe9, 0x6e]),
};

test('non-UTF-8 names in a layer are listed, looked up, renamed and deleted byte-exactly', async (t) => {
  const layers: LayerEntry[][] = [
    [
      { p: 'n', t: 'dir' },
      { p: Buffer.concat([Buffer.from('n/'), RAW.cafe]), t: 'file', data: 'cafe' },
      { p: Buffer.concat([Buffer.from('n/'), RAW.junk]), t: 'file', data: 'junk' },
      { p: Buffer.concat([Buffer.from('n/'), RAW.dir]), t: 'dir' },
      { p: Buffer.concat([Buffer.from('n/'), RAW.dir, Buffer.from('/inner')]), t: 'file', data: 'inner' },
    ],
  ];
  const r = await runBoth(t, { layers }, async (c) => {
    const list = async (p: Buffer) => (await c.ops.must('readdir', { p })) as string[];
    const before = await list(c.p('n'));
    const read = (await c.ops.must('read', { p: c.p('n', RAW.cafe) })).hex;
    const inner = (await c.ops.must('read', { p: c.p('n', RAW.dir, 'inner') })).hex;
    const rename = await c.ops.res('rename', { p: c.p('n', RAW.cafe), p2: c.p('n', RAW.renamed) });
    const renameDir = await c.ops.res('rename', { p: c.p('n', RAW.dir), p2: c.p('n', Buffer.concat([RAW.dir, RAW.dir])) });
    const unlink = await c.ops.res('unlink', { p: c.p('n', RAW.junk) });
    const create = await c.ops.res('create', { p: c.p('n', RAW.junk) });
    const after = await list(c.p('n'));
    return { before, read, inner, rename, renameDir, unlink, create, after, manifest: c.manifest() };
  }, (c) => treeManifest(c.upper, { noHash: true }).split('\n').filter(Boolean).map((l) => l.split(' ').slice(0, 2).join(' ')).sort());
  const h = (b: Buffer) => b.toString('hex');
  const { manifest: mo, ...ro } = r.overlay;
  const { manifest: ms, ...rs } = r.strata;
  sameAsOverlay(t, { overlay: ro, strata: rs }, {
    before: [RAW.cafe, RAW.dir, RAW.junk].map(h).sort(),
    read: Buffer.from('cafe').toString('hex'),
    inner: Buffer.from('inner').toString('hex'),
    rename: 'ok', renameDir: 'ok', unlink: 'ok', create: 'ok',
    after: [Buffer.concat([RAW.dir, RAW.dir]), RAW.junk, RAW.renamed].map(h).sort(),
  });
  t.is(ms, mo, 'merged manifests');
  // the upper holds whiteouts under the exact raw names
  sameAsOverlay(t, { overlay: r.overlayAfter, strata: r.strataAfter }, [
    '/ type=dir', '/n type=dir', '/n/\\xc3(d type=char', '/n/\\xc3(d\\xc3(d type=dir', '/n/caf\\xe9 type=char',
    '/n/r\\xe9n type=file', '/n/\\xff\\xfe\\x80A type=file',
  ].sort(), 'upper dir');
});
