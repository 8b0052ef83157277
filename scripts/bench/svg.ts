import { formatRatio } from './format';
import { BenchReport, Row } from './results';
import { median, ratiosPerRun } from './stats';
import { Group } from './workloads/types';

const COLORS: Record<string, string> = {
  'fuse-overlayfs': '#e07b39',
  'strata-fs': '#2a7ab9',
  'strata-uring': '#7fb3de',
  // The strata CLI in the tool rows: the same project, the same colour.
  strata: '#2a7ab9',
  plain: '#9a9a9a',
  overlay: '#3b9a57',
  'overlay-metacopy': '#8fc79b',
  'unionfs-fuse': '#c2457a',
  btrfs: '#b59a2a',
  vfs: '#6b4f2a',
};
const EXTRA = ['#8e5bb5', '#4aa3a3', '#d65f5f', '#5f6fd6'];

const GROUPS: { group: Group[]; title: string }[] = [
  { group: ['data'], title: 'data: reading, writing, copy-up' },
  { group: ['metadata'], title: 'metadata: walks, small files, creates and deletes' },
  { group: ['container', 'tool'], title: 'containers and tools (tools ÷ their peer tool)' },
];

export interface ChartBar {
  series: string;
  /** Median of per-run ratios to the row's reference, or null (with the cell's status). */
  ratio: number | null;
  status: string;
}

export interface ChartRow {
  label: string;
  bars: ChartBar[];
}

export interface ChartGroup {
  title: string;
  rows: ChartRow[];
}

export interface Chart {
  /** The driver the mount and container rows are relative to. */
  ref: string | null;
  /** Every series that has a bar somewhere, in legend order. */
  series: string[];
  groups: ChartGroup[];
}

function bar(r: Row, series: string, ref: string): ChartBar {
  const a = r.cells.get(series);
  const b = r.cells.get(ref);
  const ratio = a && b ? median(ratiosPerRun(a.values, b.values)) : null;
  return { series, ratio, status: a?.status ?? 'n/a' };
}

/** A tool row compares strata with the other tool that has figures (umoci for import); rows with no peer are left out. */
function toolRow(r: Row): ChartRow | null {
  const measured = [...r.cells].filter(([, c]) => c.values.some((v) => v !== null)).map(([n]) => n);
  const peer = measured.find((n) => n !== 'strata');
  if (!peer) return null;
  const others = [...r.cells.keys()].filter((n) => n !== peer);
  if (!others.length) return null;
  return { label: `${r.label} (÷ ${peer})`, bars: others.map((n) => bar(r, n, peer)) };
}

/**
 * What the chart shows, without drawing it: the timed rows by group, the mount and
 * container rows as ratios to kernel overlayfs (or the first driver that ran, if it did
 * not), each tool row as a ratio to its peer tool.
 */
export function chartGroups(report: BenchReport): Chart {
  const ok = report.drivers.filter((d) => d.status === 'ok').map((d) => d.name);
  const ref = ok.includes('overlay') ? 'overlay' : (ok[0] ?? null);
  const driverSeries = ok.filter((d) => d !== ref);
  const seen = new Set<string>();
  const groups: ChartGroup[] = [];
  for (const g of GROUPS) {
    const rows: ChartRow[] = [];
    for (const r of report.rows) {
      if (r.unit !== 's' || !g.group.includes(r.group)) continue;
      const row = r.kind === 'tool' ? toolRow(r) : ref ? { label: r.label, bars: driverSeries.map((d) => bar(r, d, ref)) } : null;
      if (!row) continue;
      rows.push(row);
      for (const b of row.bars) seen.add(b.series);
    }
    if (rows.length) groups.push({ title: g.title, rows });
  }
  // Legend: the drivers in table order, then the tools.
  const series = [...driverSeries.filter((d) => seen.has(d)), ...[...seen].filter((s) => !driverSeries.includes(s))];
  return { ref, series, groups };
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/**
 * A horizontal bar chart of every timed workload as a ratio to kernel overlayfs
 * (median of per-run ratios), grouped, on a log2 axis so 2× slower and 2× faster look
 * alike. Absolute times differ by orders of magnitude between workloads; ratios share one axis.
 */
export function renderSvg(report: BenchReport): string {
  const chart = chartGroups(report);
  const refName = chart.ref === 'overlay' ? 'kernel overlayfs' : (chart.ref ?? 'n/a');
  const skipped = report.drivers.filter((d) => d.status === 'skipped').map((d) => d.name);
  let extra = 0;
  const color = (d: string) => COLORS[d] ?? (COLORS[d] = EXTRA[extra++ % EXTRA.length]);

  const all = chart.groups.flatMap((g) => g.rows.flatMap((r) => r.bars.map((b) => b.ratio))).filter((v): v is number => v !== null && v > 0);
  const lo = Math.max(-6, Math.min(-1, Math.floor(Math.log2(Math.min(...all, 1)))));
  const hi = Math.min(10, Math.max(1, Math.ceil(Math.log2(Math.max(...all, 1)))));

  const W = 1000;
  const left = 350;
  const right = W - 70;
  const barH = 10;
  const rowH = (r: ChartRow) => Math.max(1, r.bars.length) * (barH + 2) + 10;
  const headH = 26;

  // The legend wraps: eight drivers do not fit one line.
  const legend: { s: string; x: number; y: number }[] = [];
  let lx = 16;
  let ly = 56;
  for (const s of chart.series) {
    const w = 30 + s.length * 7;
    if (lx + w > W - 16) {
      lx = 16;
      ly += 18;
    }
    legend.push({ s, x: lx, y: ly });
    lx += w;
  }
  const top = ly + 36;
  const H = top + chart.groups.reduce((h, g) => h + headH + g.rows.reduce((a, r) => a + rowH(r), 0), 0) + 50;
  const x = (r: number) => left + ((Math.log2(r) - lo) / (hi - lo)) * (right - left);

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="16" y="24" font-size="16" font-weight="bold">strata bench: time relative to ${esc(refName)} (log scale, left of the line = faster)</text>`,
  );
  const m = report.machine;
  out.push(
    `<text x="16" y="44" fill="#555">${esc(`${report.quick ? 'quick mode, ' : ''}${report.runs} run(s), median of per-run ratios · ${m.cpus} × ${m.cpu}, Linux ${m.kernel} · ${report.finishedAt}${skipped.length ? ` · skipped: ${skipped.join(', ')}` : ''}`)}</text>`,
  );
  for (const l of legend) {
    out.push(`<rect x="${l.x}" y="${l.y}" width="12" height="12" fill="${color(l.s)}"/>`, `<text x="${l.x + 18}" y="${l.y + 10}">${esc(l.s)}</text>`);
  }
  for (let e = lo; e <= hi; e++) {
    const r = 2 ** e;
    const tx = x(r);
    out.push(
      `<line x1="${tx}" y1="${top - 8}" x2="${tx}" y2="${H - 40}" stroke="${e === 0 ? '#333' : '#e3e3e3'}" stroke-width="${e === 0 ? 1.5 : 1}"/>`,
      `<text x="${tx}" y="${H - 24}" text-anchor="middle" fill="#555">${r >= 1 ? r : `1/${2 ** -e}`}×</text>`,
    );
  }
  let y = top;
  for (const g of chart.groups) {
    out.push(
      `<rect x="8" y="${y}" width="${W - 16}" height="${headH - 6}" fill="#f2f2f2"/>`,
      `<text x="16" y="${y + 14}" font-weight="bold">${esc(g.title)}</text>`,
    );
    y += headH;
    for (const row of g.rows) {
      const h = rowH(row);
      out.push(`<text x="${left - 10}" y="${y + h / 2}" text-anchor="end" dominant-baseline="middle">${esc(row.label.trim())}</text>`);
      row.bars.forEach((b, bi) => {
        const by = y + 4 + bi * (barH + 2);
        if (b.ratio === null || b.ratio <= 0) {
          out.push(`<text x="${x(1) + 4}" y="${by + barH - 1}" fill="#999" font-size="9">${esc(`${b.series}: ${b.status === 'ok' ? 'n/a' : b.status}`)}</text>`);
          return;
        }
        const v = Math.min(Math.max(b.ratio, 2 ** lo), 2 ** hi);
        const x0 = Math.min(x(1), x(v));
        const w = Math.max(1, Math.abs(x(v) - x(1)));
        out.push(`<rect x="${x0}" y="${by}" width="${w}" height="${barH}" fill="${color(b.series)}"><title>${esc(`${b.series}: ${formatRatio(b.ratio)}`)}</title></rect>`);
        const tx = v >= 1 ? x0 + w + 4 : x0 - 4;
        out.push(`<text x="${tx}" y="${by + barH - 1}" font-size="9" text-anchor="${v >= 1 ? 'start' : 'end'}" fill="#333">${formatRatio(b.ratio)}</text>`);
      });
      y += h;
    }
  }
  out.push('</svg>');
  return out.join('\n') + '\n';
}
