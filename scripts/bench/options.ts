import * as path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { builtinDrivers, customDriver, Driver } from './drivers';
import { repoRoot, setBinDir } from './paths';

export interface Sizes {
  /** The lower file read sequentially and copied up. */
  bigMiB: number;
  /** Written sequentially through the mount. */
  writeMiB: number;
  /** The file random I/O runs on, and how much I/O is done. */
  randFileMiB: number;
  randIoMiB: number;
  smallFiles: number;
  createFiles: number;
  /** Entries of the tree walked for the memory figure. */
  walkEntries: number;
}

export interface BenchOptions {
  quick: boolean;
  runs: number;
  /** Workload ids to run, or null for all. */
  only: string[] | null;
  drivers: Driver[];
  workdir: string;
  outDir: string;
  rebuildFixtures: boolean;
  sizes: Sizes;
  /** Per workload command: a hung mount must not hang the bench forever. */
  timeoutMs: number;
  list: boolean;
  /** --compare OLD.json: after the run, its change against OLD; with a second file, only compare those two. */
  compare: string[] | null;
  /** Count each FUSE driver's requests per mount workload (kernel tracepoint); --no-requests turns it off. */
  requests: boolean;
}

const FULL: Sizes = {
  bigMiB: 1024,
  writeMiB: 1024,
  randFileMiB: 1024,
  randIoMiB: 64,
  smallFiles: 10_000,
  createFiles: 10_000,
  walkEntries: 100_000,
};

// Small enough that CI's smoke run, fixtures included, finishes in under 2 minutes.
const QUICK: Sizes = {
  bigMiB: 128,
  writeMiB: 128,
  randFileMiB: 128,
  randIoMiB: 8,
  smallFiles: 2_000,
  createFiles: 2_000,
  walkEntries: 20_000,
};

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

function list(v: string): string[] {
  return v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}

export function parseOptions(argv: string[]): BenchOptions {
  const program = new Command()
    .name('npm run bench --')
    .description('Run the same workloads on kernel overlayfs, fuse-overlayfs, strata-fs and a plain directory.')
    .option('--quick', 'small sizes and 1 run (CI smoke run, under 2 minutes)', false)
    .option('--runs <n>', 'runs per figure (default 3, 1 with --quick)', positiveInt)
    .option('--only <ids>', 'comma-separated workload ids (see --list)', list)
    .option('--drivers <names>', 'comma-separated built-in drivers to run (default: all; --driver ones always run)', list)
    .option('--driver <name=cmd>', "add a driver: name='mount command with {lowerdir} {upperdir} {workdir} {mnt}' (repeatable)", collect, [])
    .option('--workdir <dir>', 'scratch and fixture cache directory', '/var/tmp/strata-bench')
    .option('--out <dir>', 'where JSON and SVG results go', path.join(repoRoot(), 'bench-results'))
    .option('--bin-dir <dir>', 'where strata and strata-fs are (default: bin/ of this checkout)')
    .option('--rebuild-fixtures', 'rebuild the cached fixtures in the work dir', false)
    .option('--list', 'list workloads and drivers, then exit', false)
    .option('--compare <files...>', 'OLD.json: print the change of every figure against an earlier run; OLD.json NEW.json: compare two runs, run nothing')
    .option('--no-requests', "do not count the FUSE requests each FUSE driver gets (the kernel's fuse_request_send tracepoint)")
    .showHelpAfterError(false)
    .exitOverride();
  program.parse(argv, { from: 'user' });
  const o = program.opts<{
    quick: boolean;
    runs?: number;
    only?: string[];
    drivers?: string[];
    driver: string[];
    workdir: string;
    out: string;
    rebuildFixtures: boolean;
    list: boolean;
    binDir?: string;
    compare?: string[];
    requests: boolean;
  }>();
  if (o.compare && o.compare.length > 2) throw new Error('--compare takes OLD.json, or OLD.json NEW.json');
  // Before the drivers are built: strata-fs's path depends on it.
  if (o.binDir) setBinDir(path.resolve(o.binDir));

  const custom = o.driver.map(customDriver);
  const all = [...builtinDrivers, ...custom];
  const names = new Set<string>();
  for (const d of all) {
    if (names.has(d.name)) throw new Error(`driver ${d.name} given twice`);
    names.add(d.name);
  }
  let drivers = all;
  if (o.drivers) {
    const unknown = o.drivers.filter((n) => !names.has(n));
    if (unknown.length) throw new Error(`unknown driver ${unknown.join(', ')} (known: ${[...names].join(', ')})`);
    // Drivers added with --driver were asked for explicitly: they always run.
    drivers = all.filter((d) => custom.includes(d) || o.drivers!.includes(d.name));
  }
  return {
    quick: o.quick,
    runs: o.runs ?? (o.quick ? 1 : 3),
    only: o.only ?? null,
    drivers,
    workdir: path.resolve(o.workdir),
    outDir: path.resolve(o.out),
    rebuildFixtures: o.rebuildFixtures,
    sizes: o.quick ? QUICK : FULL,
    timeoutMs: o.quick ? 60_000 : 300_000,
    list: o.list,
    compare: o.compare?.map((f) => path.resolve(f)) ?? null,
    requests: o.requests,
  };
}
