import { formatRatio } from './format';
import { BenchReport } from './results';
import { median, ratiosPerRun } from './stats';

const COLORS: Record<string, string> = {
  'fuse-overlayfs': '#e07b39',
  'strata-fs': '#2a7ab9',
  plain: '#9a9a9a',
  overlay: '#3b9a57',
};
const EXTRA = ['#8e5bb5', '#c2457a', '#4aa3a3', '#b59a2a'];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/**
 * A horizontal bar chart of every timed workload as a ratio to kernel overlayfs
 * (median of per-run ratios), on a log2 axis so 2× slower and 2× faster look alike.
 * Absolute times differ by orders of magnitude between workloads; ratios share one axis.
 */
export function renderSvg(report: BenchReport): string {
  const ok = report.drivers.filter((d) => d.status === 'ok').map((d) => d.name);
  const ref = ok.includes('overlay') ? 'overlay' : ok[0];
  const refName = ref === 'overlay' ? 'kernel overlayfs' : ref ?? 'n/a';
  const skipped = report.drivers.filter((d) => d.status === 'skipped').map((d) => d.name);
  const series = ok.filter((d) => d !== ref);
  const rows = report.rows.filter((r) => r.kind === 'mount' && r.unit === 's');
  let extra = 0;
  const color = (d: string) => COLORS[d] ?? (COLORS[d] = EXTRA[extra++ % EXTRA.length]);

  const data = rows.map((r) => ({
    label: r.label,
    bars: series.map((d) => {
      const a = r.cells.get(d);
      const b = r.cells.get(ref ?? '');
      const v = a && b ? median(ratiosPerRun(a.values, b.values)) : null;
      return { driver: d, ratio: v, status: a?.status ?? 'n/a' };
    }),
  }));
  const all = data.flatMap((g) => g.bars.map((b) => b.ratio)).filter((v): v is number => v !== null && v > 0);
  const lo = Math.max(-6, Math.min(-1, Math.floor(Math.log2(Math.min(...all, 1)))));
  const hi = Math.min(10, Math.max(1, Math.ceil(Math.log2(Math.max(...all, 1)))));

  const W = 980;
  const left = 330;
  const right = W - 70;
  const barH = 12;
  const groupH = Math.max(1, series.length) * (barH + 2) + 12;
  const top = 92;
  const H = top + data.length * groupH + 50;
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
  series.forEach((d, i) => {
    const lx = 16 + i * 170;
    out.push(`<rect x="${lx}" y="56" width="12" height="12" fill="${color(d)}"/>`, `<text x="${lx + 18}" y="66">${esc(d)}</text>`);
  });
  for (let e = lo; e <= hi; e++) {
    const r = 2 ** e;
    const tx = x(r);
    out.push(
      `<line x1="${tx}" y1="${top - 8}" x2="${tx}" y2="${H - 40}" stroke="${e === 0 ? '#333' : '#e3e3e3'}" stroke-width="${e === 0 ? 1.5 : 1}"/>`,
      `<text x="${tx}" y="${H - 24}" text-anchor="middle" fill="#555">${r >= 1 ? r : `1/${2 ** -e}`}×</text>`,
    );
  }
  data.forEach((g, gi) => {
    const gy = top + gi * groupH;
    out.push(`<text x="${left - 10}" y="${gy + groupH / 2}" text-anchor="end" dominant-baseline="middle">${esc(g.label)}</text>`);
    g.bars.forEach((b, bi) => {
      const y = gy + 4 + bi * (barH + 2);
      if (b.ratio === null || b.ratio <= 0) {
        out.push(`<text x="${x(1) + 4}" y="${y + barH - 2}" fill="#999" font-size="10">${esc(`${b.driver}: ${b.status === 'ok' ? 'n/a' : b.status}`)}</text>`);
        return;
      }
      const v = Math.min(Math.max(b.ratio, 2 ** lo), 2 ** hi);
      const x0 = Math.min(x(1), x(v));
      const w = Math.max(1, Math.abs(x(v) - x(1)));
      out.push(`<rect x="${x0}" y="${y}" width="${w}" height="${barH}" fill="${color(b.driver)}"><title>${esc(`${b.driver}: ${formatRatio(b.ratio)}`)}</title></rect>`);
      const tx = v >= 1 ? x0 + w + 4 : x0 - 4;
      out.push(`<text x="${tx}" y="${y + barH - 2}" font-size="10" text-anchor="${v >= 1 ? 'start' : 'end'}" fill="#333">${formatRatio(b.ratio)}</text>`);
    });
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
