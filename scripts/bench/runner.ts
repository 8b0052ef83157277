import * as fs from 'node:fs';
import * as path from 'node:path';
import { forceUnmount, track, untrack } from './cleanup';
import { Driver, Mounted } from './drivers';
import { Interrupted, dropCaches, must } from './exec';
import { Fixtures } from './fixtures';
import { BenchOptions } from './options';
import { mountsUnder } from './procs';
import { Progress } from './progress';
import { Cell, DriverStatus, Row } from './results';
import { Metric, MountWorkload, Prepared, ToolPrepared, ToolWorkload, Workload } from './workloads/types';

function errMessage(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.split('\n')[0];
}

/** Each run starts with a different driver, so slow drift of the machine does not always favour the same one. */
function rotate<T>(xs: T[], by: number): T[] {
  if (!xs.length) return xs;
  const k = by % xs.length;
  return [...xs.slice(k), ...xs.slice(0, k)];
}

/** Removes a scratch dir, but never through something still mounted below it. */
async function removeScratch(dir: string): Promise<void> {
  for (const m of mountsUnder(dir)) await forceUnmount(m, null);
  if (mountsUnder(dir).length) throw new Error(`${dir} still has mounts below it; left in place`);
  await fs.promises.rm(dir, { recursive: true, force: true });
}

export class Runner {
  readonly rows: Row[] = [];
  readonly driverStatus: DriverStatus[] = [];
  private active: Driver[] = [];
  private readonly runsDir: string;

  constructor(
    private readonly opts: BenchOptions,
    private readonly fx: Fixtures,
    private readonly progress: Progress,
  ) {
    this.runsDir = path.join(opts.workdir, 'runs');
  }

  /** Fresh upper, work and mount dirs for one run of one driver. */
  private async withMount<T>(driver: Driver, lowers: string[], copyData: boolean, body: (m: Mounted) => Promise<T>): Promise<T> {
    fs.mkdirSync(this.runsDir, { recursive: true });
    const dir = fs.mkdtempSync(path.join(this.runsDir, `${driver.name}-`));
    const [upper, work, mnt] = ['upper', 'work', 'mnt'].map((n) => path.join(dir, n));
    for (const d of [upper, work, mnt]) fs.mkdirSync(d);
    let mounted: Mounted | null = null;
    try {
      mounted = await driver.mount({ lowers, upper, work, mnt, copyData });
      track(mnt, mounted.daemonPid);
      return await body(mounted);
    } finally {
      await forceUnmount(mnt, mounted?.daemonPid ?? null);
      untrack(mnt);
      await removeScratch(dir);
    }
  }

  /** A driver that cannot mount a one-file tree is skipped everywhere, with the reason in the table. */
  async probeDrivers(): Promise<void> {
    const lowers = await this.fx.probe();
    for (const d of this.opts.drivers) {
      let note = d.unavailable() ?? undefined;
      if (!note) {
        this.progress.status(`checking driver ${d.name}`);
        try {
          await this.withMount(d, lowers, false, async (m) => {
            const text = fs.readFileSync(path.join(m.mnt, 'probe.txt'), 'utf8');
            if (text !== 'strata bench probe\n') throw new Error('probe file reads wrong through the mount');
          });
        } catch (e) {
          if (e instanceof Interrupted) throw e;
          note = errMessage(e);
        }
      }
      this.driverStatus.push({ name: d.name, description: d.description, floor: d.floor, status: note ? 'skipped' : 'ok', note });
      if (!note) this.active.push(d);
    }
  }

  totalSteps(workloads: Workload[]): number {
    return workloads.reduce((n, w) => n + this.opts.runs * (w.kind === 'mount' ? this.active.length : w.tools.length), 0);
  }

  private addRows(w: Workload, columns: string[], status: (col: string) => Pick<Cell, 'status' | 'note'>): Row[] {
    const rows = w.metrics(this.opts).map((m: Metric) => {
      const cells = new Map<string, Cell>();
      for (const c of columns) cells.set(c, { values: Array(this.opts.runs).fill(null), ...status(c) });
      return { workload: w.id, metric: m.id, label: m.label, unit: m.unit, kind: w.kind, cells };
    });
    this.rows.push(...rows);
    return rows;
  }

  private static fail(rows: Row[], col: string, status: 'failed' | 'n/a', note: string): void {
    for (const r of rows) {
      const c = r.cells.get(col)!;
      c.status = status;
      c.note ??= note;
    }
  }

  private static record(rows: Row[], col: string, run: number, values: Record<string, number | null>): void {
    for (const r of rows) r.cells.get(col)!.values[run] = values[r.metric] ?? null;
  }

  async runWorkload(w: Workload): Promise<void> {
    if (w.kind === 'mount') await this.runMountWorkload(w);
    else await this.runToolWorkload(w);
  }

  private async runMountWorkload(w: MountWorkload): Promise<void> {
    const skipped = new Map(this.driverStatus.filter((d) => d.status === 'skipped').map((d) => [d.name, d.note]));
    const rows = this.addRows(
      w,
      this.driverStatus.map((d) => d.name),
      (c) => (skipped.has(c) ? { status: 'skipped', note: skipped.get(c) } : { status: 'ok' }),
    );
    let prepared: Prepared | string;
    try {
      this.progress.status(`${w.id}: preparing`);
      prepared = await w.prepare({ fx: this.fx, opts: this.opts });
    } catch (e) {
      if (e instanceof Interrupted) throw e;
      prepared = `fixture failed: ${errMessage(e)}`;
    }
    if (typeof prepared === 'string') {
      for (const d of this.active) Runner.fail(rows, d.name, 'n/a', prepared);
      for (let i = 0; i < this.opts.runs * this.active.length; i++) this.progress.step(`${w.id}: n/a`);
      return;
    }
    const p = prepared;
    for (let run = 0; run < this.opts.runs; run++) {
      for (const d of rotate(this.active, run)) {
        this.progress.step(`${w.id} · ${d.name} · run ${run + 1}/${this.opts.runs}`);
        try {
          const values = await this.withMount(d, p.lowers, w.copyData ?? false, async (mounted) => {
            const ctx = { mnt: mounted.mnt, mounted, timeoutMs: this.opts.timeoutMs };
            if (p.setup) await p.setup(ctx);
            // Warm or cold, the previous run's dirty data must not be written back during this one.
            if (w.cold) await dropCaches();
            else await must(['sync']);
            return p.run(ctx);
          });
          Runner.record(rows, d.name, run, values);
        } catch (e) {
          if (e instanceof Interrupted) throw e;
          Runner.fail(rows, d.name, 'failed', errMessage(e));
        }
      }
    }
  }

  private async runToolWorkload(w: ToolWorkload): Promise<void> {
    const names = [...new Set(w.tools.map((t) => t.name))];
    const rows = this.addRows(w, names, () => ({ status: 'ok' }));
    fs.mkdirSync(this.runsDir, { recursive: true });
    const root = fs.mkdtempSync(path.join(this.runsDir, `${w.id}-`));
    const ready: { name: string; p: ToolPrepared }[] = [];
    try {
      for (const t of w.tools) {
        this.progress.status(`${w.id}: preparing ${t.name}`);
        try {
          const scratchRoot = path.join(root, t.name);
          fs.mkdirSync(scratchRoot);
          const p = await t.prepare({ fx: this.fx, opts: this.opts, scratchRoot });
          if (typeof p === 'string') Runner.fail(rows, t.name, 'n/a', p);
          else ready.push({ name: t.name, p });
        } catch (e) {
          if (e instanceof Interrupted) throw e;
          Runner.fail(rows, t.name, 'failed', errMessage(e));
        }
      }
      for (let run = 0; run < this.opts.runs; run++) {
        for (const t of rotate(ready, run)) {
          this.progress.step(`${w.id} · ${t.name} · run ${run + 1}/${this.opts.runs}`);
          const scratch = fs.mkdtempSync(path.join(root, `run-`));
          try {
            if (w.cold) await dropCaches();
            else await must(['sync']);
            Runner.record(rows, t.name, run, await t.p.run({ scratch, timeoutMs: this.opts.timeoutMs }));
          } catch (e) {
            if (e instanceof Interrupted) throw e;
            Runner.fail(rows, t.name, 'failed', errMessage(e));
          } finally {
            await removeScratch(scratch);
          }
        }
      }
      // Tools never run count as done steps too, so the progress count ends at its total.
      for (let i = ready.length; i < w.tools.length; i++) for (let r = 0; r < this.opts.runs; r++) this.progress.step(`${w.id}: n/a`);
    } finally {
      for (const t of ready) await t.p.dispose?.().catch(() => undefined);
      await removeScratch(root);
    }
  }
}
