// A few kill -9 points of `strata load` and `strata commit` (the full run is
// scripts/store-crash.ts, 100 rounds by default): the store never shows half a result,
// the next command succeeds and `strata check` is clean after it.
import test from 'ava';
import * as path from 'node:path';
import { crashRounds } from '../scripts/store-crash';
import { makeTar, mkTmp, writeOciLayout } from './image-helpers';

test('kill -9 of load and commit at random points: all or nothing, next command succeeds, check clean', async (t) => {
  const d = mkTmp(t);
  const big = Array.from({ length: 800 }, (_, i) => ({ name: `data/f${i}`, body: `content ${i}\n`.repeat(1 + (i % 50)) }));
  const l1 = await makeTar([{ name: 'data/', type: 'directory' }, ...big]);
  const l2 = await makeTar([{ name: 'etc/', type: 'directory' }, { name: 'etc/conf', body: 'c' }, { name: 'blob', body: Buffer.alloc(4 << 20, 0x33) }]);
  writeOciLayout(path.join(d, 'oci'), [
    { ref: 'crash/base:1', layers: [{ tar: l1 }] },
    { ref: 'crash/app:1', layers: [{ tar: l1 }, { tar: l2, compression: 'zstd' }] },
  ]);
  const seed = Number(process.env.STRATA_CRASH_SEED ?? Date.now() % 100000);
  t.log(`seed ${seed}`);
  const rep = await crashRounds({ rounds: 4, seed, commitFiles: 600, source: path.join(d, 'oci'), refs: ['crash/base:1', 'crash/app:1'] });
  t.deepEqual(rep.violations, []);
  t.is(rep.rounds, 4);
});
