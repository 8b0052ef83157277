// A short run of scripts/fuzz-tar.ts (npm run fuzz-tar -- --seconds N for long ones):
// mutated windows of the real fixture layers, imported into a sandbox and, every 4th
// case, through `strata load`. Any violation fails the test with its seed and case.
import test from 'ava';
import { fuzz } from '../scripts/fuzz-tar';

test('fuzz-tar for 20 seconds: no crash, no escape, store unchanged on failure', async (t) => {
  const seed = Number(process.env.STRATA_FUZZ_SEED ?? Date.now() % 1_000_000);
  const rep = await fuzz({ seconds: 20, seed, cliEvery: 4 });
  t.log(`seed ${seed}: ${rep.cases} cases, ${rep.refused} refused, ${rep.cliCases} through strata load, peak RSS ${rep.peakRssMb} MiB`);
  t.deepEqual(rep.violations, []);
  t.true(rep.cases >= 10, `${rep.cases} cases ran`);
  t.true(rep.refused > 0 && rep.accepted > 0, 'the mutations produce both refused and accepted layers');
});
