import * as fs from 'node:fs';
import { formatRatio, formatValue } from './format';
import { toJson } from './report';
import { BenchReport } from './results';
import { median, ratiosPerRun } from './stats';
import { markdown } from './table';
import { Unit } from './workloads/types';

/** The parts of a bench-*.json that a comparison needs. */
export interface SavedCell {
  values: (number | null)[];
  status: string;
}

export interface SavedRow {
  workload: string;
  metric: string;
  label: string;
  unit: Unit;
  cells: Record<string, SavedCell>;
}

export interface SavedReport {
  startedAt: string;
  quick: boolean;
  sizes: Record<string, number>;
  /** The strata commit that ran, if recorded. */
  commit: string | null;
  drivers: string[];
  rows: SavedRow[];
}

function fail(file: string, why: string): never {
  throw new Error(`${file}: not a bench result (${why})`);
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Checks the shape of a bench-*.json (written by this or an earlier version of the bench). */
export function parseReport(text: string, file: string): SavedReport {
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch (e) {
    fail(file, `bad JSON: ${(e as Error).message}`);
  }
  if (!isObj(j)) fail(file, 'not an object');
  if (!Array.isArray(j.rows)) fail(file, 'no rows');
  if (!Array.isArray(j.drivers)) fail(file, 'no drivers');
  const rows = j.rows.map((r: unknown, i: number): SavedRow => {
    if (!isObj(r) || typeof r.workload !== 'string' || typeof r.metric !== 'string' || typeof r.label !== 'string' || !isObj(r.cells)) {
      fail(file, `row ${i} lacks workload, metric, label or cells`);
    }
    if (r.unit !== 's' && r.unit !== 'MB') fail(file, `row ${i} has unit ${JSON.stringify(r.unit)}`);
    const cells: Record<string, SavedCell> = {};
    for (const [name, c] of Object.entries(r.cells)) {
      if (!isObj(c) || !Array.isArray(c.values) || !c.values.every((v) => v === null || typeof v === 'number')) {
        fail(file, `row ${i} cell ${name} has no list of values`);
      }
      cells[name] = { values: c.values as (number | null)[], status: typeof c.status === 'string' ? c.status : 'ok' };
    }
    return { workload: r.workload, metric: r.metric, label: r.label, unit: r.unit, cells };
  });
  const machine = isObj(j.machine) ? j.machine : {};
  const versions = isObj(machine.versions) ? machine.versions : {};
  return {
    startedAt: typeof j.startedAt === 'string' ? j.startedAt : '?',
    quick: j.quick === true,
    sizes: isObj(j.sizes) ? (j.sizes as Record<string, number>) : {},
    commit: typeof versions.strata === 'string' ? versions.strata : null,
    drivers: j.drivers.map((d: unknown) => (isObj(d) && typeof d.name === 'string' ? d.name : fail(file, 'a driver without a name'))),
    rows,
  };
}

export function readReport(file: string): SavedReport {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return parseReport(text, file);
}

/** This run, as the file it writes would read back. */
export function savedFrom(report: BenchReport): SavedReport {
  return parseReport(JSON.stringify(toJson(report)), 'this run');
}

const key = (r: SavedRow) => `${r.workload}\0${r.metric}`;

function describe(r: SavedReport, name: string): string {
  return `${name} (${r.startedAt}${r.commit ? `, strata ${r.commit}` : ''}${r.quick ? ', --quick' : ''})`;
}

function sameSizes(a: Record<string, number>, b: Record<string, number>): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].every((k) => a[k] === b[k]);
}

function valueText(row: SavedRow, c: SavedCell | undefined): string {
  if (!c) return 'not run';
  const m = median(c.values);
  return m === null ? (c.status === 'ok' ? '—' : c.status) : formatValue(m, row.unit);
}

function toOverlay(row: SavedRow | undefined, driver: string): number | null {
  const a = row?.cells[driver];
  const ref = row?.cells.overlay;
  return a && ref ? median(ratiosPerRun(a.values, ref.values)) : null;
}

/**
 * Every figure of the new run against the old one: the medians, new ÷ old, and how each
 * driver's ratio to kernel overlayfs moved (the steadier number on a shared machine:
 * both runs' absolute times drift, ratios measured side by side much less).
 */
export function renderCompare(old: SavedReport, cur: SavedReport, names: { old: string; new: string }): string {
  const out: string[] = [];
  out.push(`compare: ${describe(old, names.old)} → ${describe(cur, names.new)}`);
  out.push('new ÷ old < 1: faster (or smaller) now; ÷ overlay: the median of per-run ratios to kernel overlayfs in each run');
  if (!sameSizes(old.sizes, cur.sizes)) {
    out.push(
      `NOTE: the runs used different sizes (${old.quick ? '--quick' : 'full'} vs ${cur.quick ? '--quick' : 'full'}): labels are the new run's, figures do not compare`,
    );
  }
  out.push('');
  const oldRows = new Map(old.rows.map((r) => [key(r), r]));
  const curKeys = new Set(cur.rows.map(key));
  const drivers = [...new Set([...cur.drivers, ...old.drivers])];
  const body: string[][] = [];
  const pairs: [SavedRow | undefined, SavedRow | undefined][] = [
    ...cur.rows.map((r): [SavedRow | undefined, SavedRow | undefined] => [oldRows.get(key(r)), r]),
    ...old.rows.filter((r) => !curKeys.has(key(r))).map((r): [SavedRow | undefined, SavedRow | undefined] => [r, undefined]),
  ];
  for (const [o, n] of pairs) {
    const row = (n ?? o)!;
    // Tool rows name tools, not drivers: take the columns each row has.
    const cols = [...new Set([...drivers, ...Object.keys(n?.cells ?? {}), ...Object.keys(o?.cells ?? {})])].filter(
      (d) => n?.cells[d] || o?.cells[d],
    );
    let first = true;
    for (const d of cols) {
      const oc = o?.cells[d];
      const nc = n?.cells[d];
      const om = oc ? median(oc.values) : null;
      const nm = nc ? median(nc.values) : null;
      if (om === null && nm === null) continue;
      const ratio = om !== null && nm !== null && om > 0 ? formatRatio(nm / om) : '—';
      const ro = d === 'overlay' ? null : toOverlay(o, d);
      const rn = d === 'overlay' ? null : toOverlay(n, d);
      const vsOverlay = ro === null && rn === null ? '' : `${ro === null ? '—' : formatRatio(ro)} → ${rn === null ? '—' : formatRatio(rn)}`;
      body.push([first ? row.label : '', d, valueText(row, oc), valueText(row, nc), ratio, vsOverlay]);
      first = false;
    }
  }
  if (!body.length) out.push('(no figure in common)');
  else out.push(markdown(['workload', 'driver', 'old', 'new', 'new ÷ old', '÷ overlay, old → new'], body, 2));
  out.push('');
  return out.join('\n');
}
