import { REFERENCES } from './drivers';
import { formatMin, formatRatio, formatValue } from './format';
import { RequestCounts } from './fusetrace';
import { BenchReport, Cell, RequestRow, Row } from './results';
import { median, min, ratiosPerRun } from './stats';

/** Footnotes shared by the tables: the same message gets the same number. */
class Notes {
  readonly list: string[] = [];
  ref(text: string): string {
    let i = this.list.indexOf(text);
    if (i < 0) i = this.list.push(text) - 1;
    return `[${i + 1}]`;
  }
}

function cellText(row: Row, cell: Cell | undefined, notes: Notes): string {
  if (!cell) return '';
  const med = median(cell.values);
  if (med === null) {
    if (cell.status === 'ok') return '—';
    // The driver's reason is listed once below the tables, not per cell.
    if (cell.status === 'skipped') return 'skipped';
    return cell.note ? `${cell.status} ${notes.ref(cell.note)}` : cell.status;
  }
  const lo = min(cell.values)!;
  const present = cell.values.filter((v) => v !== null).length;
  let s = formatValue(med, row.unit);
  if (present > 1) s += ` (${formatMin(lo, row.unit, s)})`;
  if (cell.remark) s += ` ${notes.ref(cell.remark)}`;
  // Some runs failed: show the figure, and why it is incomplete.
  if (cell.status === 'failed' && cell.note) s += ` ${notes.ref(cell.note)}`;
  return s;
}

export function ratioText(row: Row, col: string, ref: string): string {
  const a = row.cells.get(col);
  const b = row.cells.get(ref);
  if (!a || !b) return '';
  const m = median(ratiosPerRun(a.values, b.values));
  return m === null ? '—' : formatRatio(m);
}

/** Which ratio columns to show: every driver against kernel overlayfs, FUSE drivers also against fuse-overlayfs. */
export function ratioColumns(report: BenchReport): { col: string; ref: string }[] {
  const ok = report.drivers.filter((d) => d.status === 'ok');
  const has = (name: string) => ok.some((d) => d.name === name);
  const refs = REFERENCES as readonly string[];
  const out: { col: string; ref: string }[] = [];
  if (has('overlay')) {
    for (const d of ok) if (d.name !== 'overlay') out.push({ col: d.name, ref: 'overlay' });
  }
  if (has('fuse-overlayfs')) {
    for (const d of ok) {
      // Reports written before drivers had the flag: every union driver was compared.
      if (!refs.includes(d.name) && !d.floor && (d.fuse ?? true)) out.push({ col: d.name, ref: 'fuse-overlayfs' });
    }
  }
  return out;
}

/** A Markdown table: the first `textCols` columns left-aligned (names), the rest right-aligned (figures). */
export function markdown(header: string[], body: string[][], textCols = 1): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => (i < textCols ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ') + ' |';
  const rule = '|' + widths.map((w, i) => (i < textCols ? ':' + '-'.repeat(w + 1) : '-'.repeat(w + 1) + ':')).join('|') + '|';
  return [line(header), rule, ...body.map(line)].join('\n');
}

/** The text report: a driver table, a tool table and footnotes, as Markdown tables so they paste into the README. */
export function renderTables(report: BenchReport): string {
  const notes = new Notes();
  const out: string[] = [];
  const m = report.machine;
  out.push(
    `strata bench${report.quick ? ' --quick' : ''}: ${report.runs} run${report.runs > 1 ? 's' : ''} per figure, median${report.runs > 1 ? ' (min)' : ''}; ratios are medians of per-run ratios (< 1 = faster)`,
  );
  out.push(`machine: ${m.cpus} × ${m.cpu}, ${m.memGB} GB RAM, Linux ${m.kernel}, node ${m.node}, work dir on ${m.workdirFs}`);
  const v = Object.entries(m.versions).map(([k, x]) => `${k} ${x}`);
  if (v.length) out.push(`versions: ${v.join(', ')}`);
  if (report.interrupted) out.push('INTERRUPTED: partial results');
  out.push('');

  const mountRows = report.rows.filter((r) => r.kind !== 'tool');
  if (mountRows.length) {
    const drivers = report.drivers.map((d) => d.name);
    const body = mountRows.map((r) => [r.label, ...drivers.map((d) => cellText(r, r.cells.get(d), notes))]);
    out.push(markdown(['workload', ...drivers], body));
    out.push('');
    // One table per reference: with eight drivers, times and ratios side by side do not fit a screen.
    const ratios = ratioColumns(report);
    for (const ref of REFERENCES) {
      const cols = ratios.filter((x) => x.ref === ref);
      if (!cols.length) continue;
      const rows = mountRows
        .map((r) => [r.label, ...cols.map((x) => ratioText(r, x.col, x.ref))])
        .filter((cells) => cells.slice(1).some((c) => c !== '—' && c !== ''));
      if (!rows.length) continue;
      out.push(markdown([`÷ ${ref}`, ...cols.map((x) => x.col)], rows));
      out.push('');
    }
  }

  const toolRows = report.rows.filter((r) => r.kind === 'tool');
  if (toolRows.length) {
    const tools = [...new Set(toolRows.flatMap((r) => [...r.cells.keys()]))];
    // each workload compares strata with the one other tool it ran (umoci, skopeo, ...)
    const other = (r: Row) => [...r.cells.keys()].find((k) => k !== 'strata');
    const pair = toolRows.some((r) => r.cells.has('strata') && other(r) !== undefined);
    const body = toolRows.map((r) => {
      const o = other(r);
      // a sub-figure only one tool has (skopeo's copy, umoci's unpack) is blank for the others
      const blank = (t: string) => !r.cells.has(t) || (median(r.cells.get(t)!.values) === null && r.cells.get(t)!.status === 'ok');
      return [r.label, ...tools.map((t) => (blank(t) ? '' : cellText(r, r.cells.get(t), notes))), ...(pair ? [o && median(r.cells.get('strata')?.values ?? []) !== null ? `${ratioText(r, 'strata', o)} of ${o}` : ''] : [])];
    });
    out.push(markdown(['tool workload', ...tools, ...(pair ? ['strata ÷ other tool'] : [])], body));
    out.push('');
  }

  if (report.requests?.length) {
    out.push(requestsTable(report.requests));
    out.push('');
  }

  const skipped = report.drivers.filter((d) => d.status === 'skipped');
  for (const d of skipped) notes.ref(`${d.name} skipped: ${d.note}`);
  for (const d of report.drivers) if (d.caveat) notes.ref(d.caveat);
  for (const n of report.notes) notes.ref(n);
  if (notes.list.length) {
    out.push('notes:');
    notes.list.forEach((n, i) => out.push(`  [${i + 1}] ${n}`));
    out.push('');
  }
  return out.join('\n');
}

function compact(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toPrecision(3)}M`;
  if (n >= 1e4) return `${(n / 1e3).toPrecision(3)}k`;
  return n.toLocaleString('en-US');
}

/** The run with the median total (the lower middle one of an even count). */
export function medianRun(perRun: readonly (RequestCounts | null)[]): RequestCounts | null {
  const runs = perRun.filter((c): c is RequestCounts => c !== null).sort((a, b) => a.total - b.total);
  return runs.length ? runs[(runs.length - 1) >> 1] : null;
}

/** Requests per workload and FUSE driver: the median run's total and its three most frequent opcodes. */
export function requestsTable(rows: readonly RequestRow[]): string {
  const drivers = [...new Set(rows.map((r) => r.driver))];
  const workloads = [...new Set(rows.map((r) => r.workload))];
  const body = workloads.map((w) => {
    const label = rows.find((r) => r.workload === w)!.label;
    return [
      label,
      ...drivers.map((d) => {
        const c = medianRun(rows.find((r) => r.workload === w && r.driver === d)?.perRun ?? []);
        if (!c) return '—';
        const top = Object.entries(c.byOpcode)
          .sort((a, b) => b[1] - a[1])
          .slice(0, 3)
          .map(([op, n]) => `${op} ${compact(n)}`)
          .join(', ');
        return `${c.lost ? '≥' : ''}${compact(c.total)}${top ? ` (${top})` : ''}`;
      }),
    ];
  });
  return markdown(['FUSE requests (median run)', ...drivers], body);
}
