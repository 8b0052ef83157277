// Several containers of one image at once, each written by parallel processes: every tree
// must equal the sequential model (the same writers replayed one by one on kernel
// overlayfs), the daemons' memory stays bounded, and all unmount cleanly.
// scripts/soak.ts --containers 10 is the bigger version.
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fstypeAt, mountUnion, unmount } from './helpers/mount';
import { tempDirFor } from './helpers/tmp';
import { treeManifest, manifestDiff } from './helpers/manifest';
import { seedFromEnv } from './helpers/rng';
import { memKb, mountStrata, run, waitDead, logTail } from './helpers/rel-daemon';
import { buildLoadLower, seedFor, startWriter } from './helpers/rel-load';
import { runWriter } from './helpers/rel-writer';

const SEED = seedFromEnv();
// The "10 containers of one image mounted at once"; 2,000 ops per writer (80,000 in
// all) keep the test near 70 s on a 2-core machine. scripts/soak.ts is the long version.
const CONTAINERS = 10;
const WRITERS = 4;
const OPS = 2000;
// A daemon takes ~50 MiB under this load; this leaves room for the work but catches a leak that
// keeps every buffer or node of its operations.
const RSS_LIMIT_KB = 200 * 1024;

test(`${CONTAINERS} containers x ${WRITERS} writers x ${OPS} ops: trees match the sequential model, memory bounded, clean unmount`, async (t) => {
  const root = tempDirFor(t, 'strata-rel-load-');
  const lower = path.join(root, 'lower');
  fs.mkdirSync(lower);
  buildLoadLower(lower, WRITERS, SEED);
  const cs = Array.from({ length: CONTAINERS }, (_, c) => {
    const base = path.join(root, `c${c}`);
    const x = { mnt: path.join(base, 'mnt'), upper: path.join(base, 'upper'), work: path.join(base, 'work'), log: path.join(base, 'log') };
    for (const d of [x.mnt, x.upper, x.work]) fs.mkdirSync(d, { recursive: true });
    return x;
  });
  const pids = cs.map((c) => mountStrata({ lowers: [lower], upper: c.upper, work: c.work, mnt: c.mnt }, c.log));
  t.teardown(() => { for (const c of cs) if (fstypeAt(c.mnt)) unmount(c.mnt); });
  const peak = pids.map((p) => memKb(p).rss);
  const sampler = setInterval(() => {
    pids.forEach((p, i) => {
      try {
        peak[i] = Math.max(peak[i]!, memKb(p).rss);
      } catch {
        // exited: the checks below say so
      }
    });
  }, 200);
  let runs;
  try {
    runs = await Promise.all(cs.flatMap((c) => Array.from({ length: WRITERS }, (_, w) => startWriter(path.join(c.mnt, `w${w}`), seedFor(SEED, w), OPS))));
  } finally {
    clearInterval(sampler);
  }
  for (const r of runs) {
    t.is(r.code, 0, `writer in ${r.dir}: ${r.stderr}`);
    t.deepEqual(r.result?.errors, [], `writer in ${r.dir} (seed ${SEED})`);
    t.is(r.result?.ops, OPS);
  }

  // The sequential model: the same writers, one after another, on kernel overlayfs.
  const ov = { mnt: path.join(root, 'ov', 'mnt'), upper: path.join(root, 'ov', 'upper'), work: path.join(root, 'ov', 'work') };
  for (const d of Object.values(ov)) fs.mkdirSync(d, { recursive: true });
  mountUnion('overlay', { lowers: [lower], ...ov });
  let model: string;
  try {
    for (let w = 0; w < WRITERS; w++) {
      const r = runWriter(path.join(ov.mnt, `w${w}`), seedFor(SEED, w), OPS);
      t.deepEqual(r.errors, [], `replay of writer ${w} on kernel overlayfs`);
    }
    model = treeManifest(ov.mnt, { noRootMeta: true });
  } finally {
    unmount(ov.mnt);
  }
  for (const [i, c] of cs.entries()) {
    t.deepEqual(manifestDiff(treeManifest(c.mnt, { noRootMeta: true }), model), [], `container ${i} (- model, + strata-fs), seed ${SEED}`);
    const now = memKb(pids[i]!);
    t.log(`daemon ${i}: RSS peak ${Math.round(peak[i]! / 1024)} MiB, now ${Math.round(now.rss / 1024)} MiB, HWM ${Math.round(now.hwm / 1024)} MiB`);
    t.true(peak[i]! < RSS_LIMIT_KB, `daemon ${i} RSS peaked at ${peak[i]} kB`);
  }
  for (const [i, c] of cs.entries()) {
    const u = run('umount', [c.mnt]);
    t.is(u.status, 0, `umount of container ${i}: ${u.out}`);
    t.true(await waitDead(pids[i]!), `daemon ${i} exits after umount`);
    t.notRegex(logTail(c.log, 200), /exception|uncaught|EIO/i, `daemon ${i} log`);
  }
  // what strata-fs left in the upper means the same to kernel overlayfs
  fs.mkdirSync(path.join(root, 'ov', 'work2'));
  mountUnion('overlay', { lowers: [lower], upper: cs[0]!.upper, work: path.join(root, 'ov', 'work2'), mnt: ov.mnt });
  try {
    t.deepEqual(manifestDiff(treeManifest(ov.mnt, { noRootMeta: true }), model), [], 'kernel overlayfs over container 0\'s upper');
  } finally {
    unmount(ov.mnt);
  }
});
