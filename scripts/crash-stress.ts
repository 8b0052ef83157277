// Randomized kill -9 points against strata-fs during copy-up, directory renames, create/
// unlink bursts and fsync'd appends; every round must recover with nothing lost.
// usage: node dist/scripts/crash-stress.js [--rounds N] [--seed S] [--big-mib M] [--scenario NAME]
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Rng } from '../test/helpers/rng';
import { CrashSetup, crashRound, lowerUnchanged, prepareScenario } from '../test/helpers/rel-crash';
import { SCENARIOS, ScenarioName } from '../test/helpers/rel-model';
import { removeTempDir } from '../test/helpers/tmp';

interface Args { rounds: number; seed: number; bigMib: number; scenarios: ScenarioName[] }

function parse(argv: string[]): Args {
  const a: Args = { rounds: 100, seed: Math.floor(Math.random() * 2 ** 32) >>> 0, bigMib: 256, scenarios: [...SCENARIOS] };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    const v = argv[i + 1];
    const num = (): number => {
      const n = Number(v);
      if (v === undefined || !Number.isInteger(n) || n < 0) throw new Error(`${k} needs a non-negative integer`);
      i++;
      return n;
    };
    if (k === '--rounds') a.rounds = num();
    else if (k === '--seed') a.seed = num() >>> 0;
    else if (k === '--big-mib') a.bigMib = Math.max(1, num());
    else if (k === '--scenario') {
      if (!SCENARIOS.includes(v as ScenarioName)) throw new Error(`--scenario: one of ${SCENARIOS.join(', ')}`);
      a.scenarios = [v as ScenarioName];
      i++;
    } else throw new Error(`unknown argument '${k}'`);
  }
  return a;
}

/** Kill delays cover each scenario's busy time (measured on this machine: a 64 MiB
 *  copy-up with its fsync takes 100-500 ms; the op lists run for seconds). */
export function maxDelayMs(name: ScenarioName, bigMib: number): number {
  if (name === 'copyup') return 40 + bigMib * 8;
  if (name === 'rename') return 150;
  return 600;
}

async function main(): Promise<number> {
  let args: Args;
  try {
    args = parse(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`crash-stress: ${(e as Error).message}\n`);
    return 2;
  }
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-crash-stress-'));
  const rng = new Rng(args.seed);
  const tty = process.stderr.isTTY;
  const setups = new Map<ScenarioName, CrashSetup>();
  let failed = 0;
  let rounds = 0;
  const stats = { leftovers: 0, inFlight: 0 };
  process.stdout.write(`crash-stress: seed ${args.seed}, ${args.rounds} rounds, big file ${args.bigMib} MiB\n`);
  try {
    for (const s of args.scenarios) setups.set(s, prepareScenario(root, s, args.seed, args.bigMib << 20));
    // an interrupted run still finishes its round and cleans up
    let stop = false;
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => { stop = true; });
    for (let i = 0; i < args.rounds && !stop; i++) {
      const name = args.scenarios[i % args.scenarios.length]!;
      const delay = rng.int(0, maxDelayMs(name, args.bigMib));
      const r = await crashRound(setups.get(name)!, path.join(root, `round${i}`), delay, rng.chance(0.5) ? 'umount-l' : 'fusermount3');
      fs.rmSync(path.join(root, `round${i}`), { recursive: true, force: true });
      rounds++;
      if (r.workLeftovers) stats.leftovers++;
      if (r.childEnd.startsWith('E ')) stats.inFlight++;
      if (r.problems.length) {
        failed++;
        process.stdout.write(`FAIL round ${i} ${name} kill after ${delay} ms, ${r.completed}/${r.total} ops done:\n  ${r.problems.join('\n  ')}\n`);
      } else if (tty) {
        process.stderr.write(`\rround ${i + 1}/${args.rounds} ${name.padEnd(7)} kill@${delay}ms ${r.completed}/${r.total} ops -> ${r.matched}      `);
      }
    }
    for (const [name, s] of setups) {
      const d = lowerUnchanged(s);
      if (d.length) {
        failed++;
        process.stdout.write(`FAIL lower layer of ${name} changed:\n  ${d.join('\n  ')}\n`);
      }
    }
  } finally {
    removeTempDir(root);
  }
  if (tty) process.stderr.write('\n');
  process.stdout.write(`crash-stress: ${rounds - failed}/${rounds} rounds passed${rounds < args.rounds ? ' (interrupted)' : ''}; ${stats.inFlight} kills hit an operation in flight, ${stats.leftovers} left workdir debris that remount cleared (seed ${args.seed})\n`);
  return failed ? 1 : 0;
}

if (require.main === module) {
  main().then((rc) => { process.exitCode = rc; }, (e) => { process.stderr.write(`crash-stress: ${(e as Error).stack}\n`); process.exitCode = 1; });
}
