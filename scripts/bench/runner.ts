import * as fs from 'node:fs';
import * as path from 'node:path';
import { forceUnmount, track, untrack } from './cleanup';
import { Driver, Mounted } from './drivers';
import { Interrupted, dropCaches, must } from './exec';
import { Fixtures } from './fixtures';
import { FuseRequestTracer, RequestCounts } from './fusetrace';
import { BenchOptions } from './options';
import { mountsUnder } from './procs';
import { Progress } from './progress';
import { Cell, DriverStatus, RequestRow, Row } from './results';
import {
  ContainerPrepared,
  ContainerWorkload,
  Metric,
  MountWorkload,
  OwnContainer,
  Prepared,
  ToolPrepared,
  ToolWorkload,
  Values,
  Workload,
  groupOf,
} from './workloads/types';

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
  /** Problems that belong to no cell (a driver that would not close cleanly). */
  readonly notes: string[] = [];
  /** FUSE requests per mount workload and FUSE driver, per run (when the kernel can count them). */
  readonly requests: RequestRow[] = [];
  private tracer: FuseRequestTracer | null = null;
  private active: Driver[] = [];
  private readonly opened: Driver[] = [];
  private readonly runsDir: string;

  constructor(
    private readonly opts: BenchOptions,
    private readonly fx: Fixtures,
    private readonly progress: Progress,
  ) {
    this.runsDir = path.join(opts.workdir, 'runs');
  }

  /** Counts each FUSE driver's requests during mount workloads from now on; the reason if the kernel cannot. */
  countRequests(): string | null {
    const t = FuseRequestTracer.open();
    if (typeof t === 'string') return t;
    this.tracer = t;
    return null;
  }

  stopCountingRequests(): void {
    this.tracer?.close();
    this.tracer = null;
  }

  /** Runs body, counting the requests the kernel sends to the mount at mnt meanwhile. */
  private async counted<T>(mnt: string, on: boolean, body: () => Promise<T>): Promise<{ value: T; counts: RequestCounts | null }> {
    const t = on ? this.tracer : null;
    if (!t) return { value: await body(), counts: null };
    t.start(mnt);
    let counts: RequestCounts | null = null;
    try {
      const value = await body();
      counts = t.stop();
      return { value, counts };
    } finally {
      if (!counts) t.stop();
    }
  }

  /** Fresh upper, work and mount dirs for one run of one driver. */
  private async withMount<T>(
    driver: Driver,
    lowers: string[],
    copyData: boolean,
    body: (m: Mounted) => Promise<T>,
    beforeMount?: () => Promise<void>,
  ): Promise<T> {
    fs.mkdirSync(this.runsDir, { recursive: true });
    const dir = fs.mkdtempSync(path.join(this.runsDir, `${driver.name}-`));
    const [upper, work, mnt] = ['upper', 'work', 'mnt'].map((n) => path.join(dir, n));
    for (const d of [upper, work, mnt]) fs.mkdirSync(d);
    let mounted: Mounted | null = null;
    try {
      if (beforeMount) await beforeMount();
      mounted = await driver.mount({ lowers, upper, work, mnt, copyData });
      track(mnt, mounted.daemonPid);
      return await body(mounted);
    } finally {
      await forceUnmount(mnt, mounted?.daemonPid ?? null);
      untrack(mnt);
      await mounted?.release?.();
      await removeScratch(dir);
    }
  }

  /** A driver that cannot mount a one-file tree is skipped everywhere, with the reason in the table. */
  async probeDrivers(): Promise<void> {
    const lowers = await this.fx.probe();
    const ctx = { workdir: this.opts.workdir, sizes: this.opts.sizes, status: (m: string) => this.progress.status(m) };
    for (const d of this.opts.drivers) {
      let note = d.unavailable() ?? undefined;
      if (!note) {
        this.progress.status(`checking driver ${d.name}`);
        try {
          if (d.open) {
            this.opened.push(d);
            await d.open(ctx);
          }
          await this.withMount(d, lowers, false, async (m) => {
            const text = fs.readFileSync(path.join(m.mnt, 'probe.txt'), 'utf8');
            if (text !== 'strata bench probe\n') throw new Error('probe file reads wrong through the mount');
          });
        } catch (e) {
          if (e instanceof Interrupted) throw e;
          note = errMessage(e);
        }
      }
      this.driverStatus.push({
        name: d.name,
        description: d.description,
        floor: d.floor,
        fuse: d.fuse,
        status: note ? 'skipped' : 'ok',
        note,
        caveat: note ? undefined : d.caveat,
      });
      if (!note) this.active.push(d);
    }
  }

  /** Every driver that was opened is closed, also after a failure or Ctrl-C; a failure to close becomes a note. */
  async closeDrivers(): Promise<void> {
    while (this.opened.length) {
      const d = this.opened.pop()!;
      try {
        await d.close?.();
      } catch (e) {
        this.notes.push(`${d.name}: cleanup failed: ${errMessage(e)}`);
      }
    }
  }

  totalSteps(workloads: Workload[]): number {
    return workloads.reduce((n, w) => n + this.opts.runs * (w.kind === 'tool' ? w.tools.length : this.active.length), 0);
  }

  private addRows(w: Workload, columns: string[], status: (col: string) => Pick<Cell, 'status' | 'note' | 'remark'>): Row[] {
    const rows = w.metrics(this.opts).map((m: Metric) => {
      const cells = new Map<string, Cell>();
      for (const c of columns) cells.set(c, { values: Array(this.opts.runs).fill(null), ...status(c) });
      return { workload: w.id, metric: m.id, label: m.label, unit: m.unit, kind: w.kind, group: groupOf(w), cells };
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
    else if (w.kind === 'container') await this.runContainerWorkload(w);
    else await this.runToolWorkload(w);
  }

  /** One row per metric and a cell per driver: skipped drivers, and drivers the workload means nothing on, marked. */
  private driverRows(w: MountWorkload | ContainerWorkload): Row[] {
    const skipped = new Map(this.driverStatus.filter((d) => d.status === 'skipped').map((d) => [d.name, d.note]));
    const byName = new Map(this.opts.drivers.map((d) => [d.name, d]));
    return this.addRows(
      w,
      this.driverStatus.map((d) => d.name),
      (c): Pick<Cell, 'status' | 'note' | 'remark'> => {
        if (skipped.has(c)) return { status: 'skipped', note: skipped.get(c) };
        const d = byName.get(c);
        const not = d?.notFor?.[w.id];
        if (not) return { status: 'n/a', note: not };
        return { status: 'ok', remark: d?.remarks?.[w.id] };
      },
    );
  }

  /** The drivers a workload runs on, in this run's rotated order; the rest only count as done steps. */
  private runOrder(w: MountWorkload | ContainerWorkload, run: number): Driver[] {
    const out: Driver[] = [];
    for (const d of rotate(this.active, run)) {
      if (d.notFor?.[w.id]) this.progress.step(`${w.id} · ${d.name}: n/a`);
      else out.push(d);
    }
    return out;
  }

  private async runMountWorkload(w: MountWorkload): Promise<void> {
    const rows = this.driverRows(w);
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
    const requestRows = new Map<string, RequestRow>();
    if (this.tracer) {
      for (const d of this.active.filter((x) => x.fuse && !x.notFor?.[w.id])) {
        const r: RequestRow = { workload: w.id, label: rows[0]?.label ?? w.id, driver: d.name, perRun: Array(this.opts.runs).fill(null) };
        requestRows.set(d.name, r);
        this.requests.push(r);
      }
    }
    for (let run = 0; run < this.opts.runs; run++) {
      for (const d of this.runOrder(w, run)) {
        this.progress.step(`${w.id} · ${d.name} · run ${run + 1}/${this.opts.runs}`);
        try {
          const { value: values, counts } = await this.withMount(d, p.lowers, w.copyData ?? false, async (mounted) => {
            const ctx = { mnt: mounted.mnt, mounted, timeoutMs: this.opts.timeoutMs };
            if (p.setup) await p.setup(ctx);
            // Warm or cold, the previous run's dirty data must not be written back during this one.
            if (w.cold) await dropCaches();
            else await must(['sync']);
            return this.counted(mounted.mnt, requestRows.has(d.name), () => p.run(ctx));
          });
          Runner.record(rows, d.name, run, values);
          if (counts) requestRows.get(d.name)!.perRun[run] = counts;
        } catch (e) {
          if (e instanceof Interrupted) throw e;
          Runner.fail(rows, d.name, 'failed', errMessage(e));
        }
      }
    }
  }

  /**
   * Container creation is part of what is timed: the driver's mount (or snapshot, or copy),
   * or for a driver with its own tooling (strata) that tooling, then the workload's first use.
   */
  private async runContainerWorkload(w: ContainerWorkload): Promise<void> {
    const rows = this.driverRows(w);
    fs.mkdirSync(this.runsDir, { recursive: true });
    const root = fs.mkdtempSync(path.join(this.runsDir, `${w.id}-`));
    try {
      let prepared: ContainerPrepared | string;
      try {
        this.progress.status(`${w.id}: preparing`);
        prepared = await w.prepare({ fx: this.fx, opts: this.opts, scratchRoot: root });
      } catch (e) {
        if (e instanceof Interrupted) throw e;
        prepared = `fixture failed: ${errMessage(e)}`;
      }
      if (typeof prepared === 'string') {
        for (const d of this.active) if (!d.notFor?.[w.id]) Runner.fail(rows, d.name, 'n/a', prepared);
        for (let i = 0; i < this.opts.runs * this.active.length; i++) this.progress.step(`${w.id}: n/a`);
        return;
      }
      const p = prepared;
      for (let run = 0; run < this.opts.runs; run++) {
        for (const d of this.runOrder(w, run)) {
          this.progress.step(`${w.id} · ${d.name} · run ${run + 1}/${this.opts.runs}`);
          try {
            const own = p.own?.[d.name];
            // Nothing of the previous run's writeback during this one; the caches stay warm.
            const sync = async () => void (await must(['sync']));
            let values: Values;
            if (own) {
              await sync();
              values = await this.withOwnContainer(root, (scratch) => own({ scratch, timeoutMs: this.opts.timeoutMs }), (c) =>
                p.run({ mnt: c.mnt, mounted: { mnt: c.mnt, daemonPid: c.daemonPid, seconds: c.seconds }, timeoutMs: this.opts.timeoutMs, ready: c.seconds }),
              );
            } else {
              values = await this.withMount(
                d,
                p.lowers,
                false,
                (m) => p.run({ mnt: m.mnt, mounted: m, timeoutMs: this.opts.timeoutMs, ready: m.seconds }),
                sync,
              );
            }
            Runner.record(rows, d.name, run, values);
          } catch (e) {
            if (e instanceof Interrupted) throw e;
            Runner.fail(rows, d.name, 'failed', errMessage(e));
          }
        }
      }
    } finally {
      await removeScratch(root);
    }
  }

  private async withOwnContainer<T>(
    root: string,
    make: (scratch: string) => Promise<OwnContainer>,
    body: (c: OwnContainer) => Promise<T>,
  ): Promise<T> {
    const scratch = fs.mkdtempSync(path.join(root, 'run-'));
    try {
      const c = await make(scratch);
      track(c.mnt, c.daemonPid);
      try {
        return await body(c);
      } finally {
        await c.remove();
        await forceUnmount(c.mnt, c.daemonPid);
        untrack(c.mnt);
      }
    } finally {
      await removeScratch(scratch);
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
