// POSIX corners an independent filesystem suite found (issue 16): open files whose name
// is renamed over, atime mount options, times after mmap writes, O_TMPFILE, fallocate
// modes and the inode flags ioctls; each compared with kernel overlayfs.
import test from 'ava';
import { runBoth, sameAsOverlay } from './helpers/union';
import { hx } from './helpers/feature-layers';
import { LayerEntry } from './helpers/layers';
import { dropCaches, useDropCachesStressor } from './helpers/dropcaches';

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
