/**
 * npm run bench: the same workloads on kernel overlayfs, fuse-overlayfs,
 * strata-fs, any driver given by a mount command, and a plain directory as the
 * floor. Prints tables, writes raw JSON and an SVG chart to bench-results/.
 * See `npm run bench -- --help` and the README's performance section.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CommanderError } from 'commander';
import { BtrfsPool } from './bench/btrfs';
import { cleanupAll } from './bench/cleanup';
import { readReport, renderCompare, SavedReport, savedFrom } from './bench/compare';
import { dropCachesWarning, Interrupted, interrupt } from './bench/exec';
import { Fixtures } from './bench/fixtures';
import { BenchOptions, parseOptions } from './bench/options';
import { Progress } from './bench/progress';
import { machineInfo, writeResults } from './bench/report';
import { BenchReport } from './bench/results';
import { Runner } from './bench/runner';
import { renderTables } from './bench/table';
import { allWorkloads, selectWorkloads } from './bench/workloads/index';
import { Workload } from './bench/workloads/types';
import { lockWorkdir } from './bench/lock';

function listAll(opts: BenchOptions): void {
  console.log('workloads (--only):');
  for (const w of allWorkloads) console.log(`  ${w.id.padEnd(16)} ${w.describe}`);
  console.log('drivers (--drivers):');
  for (const d of opts.drivers) console.log(`  ${d.name.padEnd(16)} ${d.description}${d.unavailable() ? ` [unavailable: ${d.unavailable()}]` : ''}`);
}

async function main(): Promise<number> {
  let opts: BenchOptions;
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (e) {
    // commander has already printed its message (or the help text).
    if (e instanceof CommanderError) return e.exitCode;
    throw e;
  }
  if (opts.list) {
    listAll(opts);
    return 0;
  }
  // Read before a long run, so a wrong path fails now rather than after it.
  const old = opts.compare ? readReport(opts.compare[0]) : null;
  if (opts.compare?.length === 2) {
    process.stdout.write(renderCompare(old!, readReport(opts.compare[1]), { old: opts.compare[0], new: opts.compare[1] }));
    return 0;
  }
  const workloads = selectWorkloads(opts.only);
  if (process.getuid?.() !== 0) throw new Error('must run as root (it mounts filesystems and drops caches)');
  if (!opts.drivers.length) throw new Error('no drivers selected');

  const progress = new Progress();
  const startedAt = new Date().toISOString();
  fs.mkdirSync(opts.workdir, { recursive: true });
  const unlock = lockWorkdir(opts.workdir);
  try {
    return await benchLocked(opts, workloads, progress, startedAt, old);
  } finally {
    unlock();
  }
}

async function benchLocked(
  opts: BenchOptions,
  workloads: Workload[],
  progress: Progress,
  startedAt: string,
  old: SavedReport | null,
): Promise<number> {
  // A previous run killed with SIGKILL may have left mounts behind, and a btrfs image on a loop device.
  await cleanupAll(opts.workdir);
  await BtrfsPool.removeLeftovers(opts.workdir);

  let interrupted = false;
  const onSignal = () => {
    if (!interrupted) {
      interrupted = true;
      interrupt.abort();
    }
    // Further signals are ignored: cleanup must finish, or mounts stay behind.
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  // read before the run: the checkout may move on while it lasts, the measured build does not
  const machine = await machineInfo(opts.workdir);
  const fx = new Fixtures(opts.workdir, opts.sizes, opts.rebuildFixtures, progress);
  const runner = new Runner(opts, fx, progress);
  try {
    if (workloads.some((w) => w.kind !== 'tool')) await runner.probeDrivers();
    if (opts.requests && workloads.some((w) => w.kind === 'mount') && runner.driverStatus.some((d) => d.fuse && d.status === 'ok')) {
      const why = runner.countRequests();
      if (why) runner.notes.push(`FUSE requests not counted: ${why}`);
    }
    progress.setTotal(runner.totalSteps(workloads));
    for (const w of workloads) await runner.runWorkload(w);
  } catch (e) {
    if (!(e instanceof Interrupted)) throw e;
  } finally {
    progress.status('cleaning up');
    // Every mount below the work dir goes, btrfs's own too; then the drivers drop their
    // state (loop device, image file, flattened trees).
    await cleanupAll(opts.workdir);
    await runner.closeDrivers();
    runner.stopCountingRequests();
    progress.clear();
  }

  const warning = dropCachesWarning();
  const report: BenchReport = {
    startedAt,
    finishedAt: new Date().toISOString(),
    machine,
    quick: opts.quick,
    runs: opts.runs,
    sizes: { ...opts.sizes },
    drivers: runner.driverStatus,
    rows: runner.rows,
    ...(runner.requests.length ? { requests: runner.requests } : {}),
    notes: [...runner.notes, ...(warning ? [warning] : [])],
    interrupted,
  };
  process.stdout.write(renderTables(report));
  const files = writeResults(report, opts.outDir);
  console.log(`results: ${path.relative(process.cwd(), files.json) || files.json}`);
  console.log(`chart:   ${path.relative(process.cwd(), files.svg) || files.svg}`);
  if (old && opts.compare) {
    console.log('');
    process.stdout.write(renderCompare(old, savedFrom(report), { old: opts.compare[0], new: path.relative(process.cwd(), files.json) || files.json }));
  }
  return interrupted ? 130 : 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`bench: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  },
);
