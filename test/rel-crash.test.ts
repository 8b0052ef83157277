// kill -9 of strata-fs in the middle of work: the dead mount answers ENOTCONN, is
// cleared by umount -l / fusermount3 -u, and a remount shows every completed operation,
// no partial file, an empty workdir, and the tree kernel overlayfs sees in the same upper.
// scripts/crash-stress.ts runs the same rounds at 100+ random kill points.
import test from 'ava';
import * as path from 'node:path';
import { makeTempDir, removeTempDir, tempDirFor } from './helpers/tmp';
import { Rng, seedFromEnv } from './helpers/rng';
import { CrashSetup, crashRound, lowerUnchanged, prepareScenario } from './helpers/rel-crash';
import { ScenarioName } from './helpers/rel-model';

const SEED = seedFromEnv();
const BIG = 64 << 20;
// Delays are spread over each scenario's busy time so that some kills land inside the
// copy-up of the big file and others between fsync'd operations.
const ROUNDS: Array<[ScenarioName, number]> = [
  ['copyup', 0], ['copyup', 120], ['copyup', 600],
  ['rename', 20], ['rename', 120],
  ['burst', 40], ['burst', 250], ['burst', 500],
  ['fsync', 60], ['fsync', 400],
];

const setups = new Map<ScenarioName, CrashSetup>();
const root = makeTempDir('strata-rel-crash-');
test.after.always(() => removeTempDir(root));

test.before(() => {
  for (const name of new Set(ROUNDS.map(([n]) => n))) setups.set(name, prepareScenario(root, name, SEED, BIG));
});

const rng = new Rng(SEED);
for (const [i, [name, base]] of ROUNDS.entries()) {
  // a little jitter, reproducible with STRATA_SEED
  const delay = base + rng.int(0, 20);
  test.serial(`kill -9 during ${name} (${delay} ms in): recoverable, nothing completed is lost, no partial file`, async (t) => {
    const dir = tempDirFor(t, `strata-rel-crash-${name}-`);
    const clear = i % 2 ? 'fusermount3' : 'umount-l';
    const r = await crashRound(setups.get(name)!, path.join(dir, 'r'), delay, clear);
    t.log(`seed ${SEED}: ${r.completed}/${r.total} ops completed, child ${r.childEnd || 'finished'}, ` +
      `${r.workLeftovers} workdir leftovers before remount; tree = ${r.matched || '?'}; cleared with ${clear}`);
    t.deepEqual(r.problems, [], `seed ${SEED} (replay with STRATA_SEED=${SEED})`);
  });
}

test.after('the lower layers are unchanged', (t) => {
  for (const [name, s] of setups) t.deepEqual(lowerUnchanged(s), [], `lower of ${name}`);
});
