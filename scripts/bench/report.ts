import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { run } from './exec';
import { repoRoot } from './paths';
import { BenchReport, Machine } from './results';
import { median, min, ratiosPerRun } from './stats';
import { renderSvg } from './svg';
import { ratioColumns } from './table';

/** First line of `cmd --version` output that matches, or null if the program is missing. */
async function versionOf(argv: string[], pattern: RegExp, cwd?: string): Promise<string | null> {
  const r = await run(argv, { stdout: 'pipe', cleanup: true, timeoutMs: 10_000, cwd }).catch(() => null);
  if (!r || r.code !== 0) return null;
  const m = pattern.exec(r.stdout + '\n' + r.stderr);
  return m ? m[1] : null;
}

async function versions(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const found: [string, string | null][] = [
    ['fuse-overlayfs', await versionOf(['fuse-overlayfs', '--version'], /fuse-overlayfs: version (\S+)/)],
    ['umoci', await versionOf(['umoci', '--version'], /umoci version (\S+)/)],
    ['fio', await versionOf(['fio', '--version'], /fio-(\S+)/)],
    ['tar', await versionOf(['tar', '--version'], /tar \(GNU tar\) (\S+)/)],
    ['strata', await versionOf(['git', 'rev-parse', '--short', 'HEAD'], /^(\w+)/, repoRoot())],
  ];
  for (const [k, v] of found) if (v) out[k] = v;
  return out;
}

export async function machineInfo(workdir: string): Promise<Machine> {
  const cpus = os.cpus();
  const fsType = await run(['findmnt', '-n', '-o', 'FSTYPE,SOURCE', '-T', workdir], { stdout: 'pipe', cleanup: true }).catch(() => null);
  return {
    kernel: os.release(),
    cpu: cpus[0]?.model.replace(/\s+/g, ' ').trim() ?? 'unknown',
    cpus: cpus.length,
    memGB: Math.round(os.totalmem() / 1e9),
    node: process.version,
    workdirFs: fsType?.code === 0 ? fsType.stdout.trim().replace(/\s+/, ' on ') : 'unknown',
    versions: await versions(),
  };
}

/** Raw per-run values plus the derived figures, so other tools need not recompute them. */
export function toJson(report: BenchReport): unknown {
  const ratios = ratioColumns(report);
  return {
    ...report,
    rows: report.rows.map((r) => ({
      workload: r.workload,
      metric: r.metric,
      label: r.label,
      unit: r.unit,
      kind: r.kind,
      cells: Object.fromEntries(
        [...r.cells].map(([name, c]) => [name, { ...c, min: min(c.values), median: median(c.values) }]),
      ),
      ratios: ratios
        .filter((x) => r.cells.has(x.col) && r.cells.has(x.ref))
        .map((x) => {
          const perRun = ratiosPerRun(r.cells.get(x.col)!.values, r.cells.get(x.ref)!.values);
          return { driver: x.col, reference: x.ref, perRun, median: median(perRun) };
        }),
    })),
  };
}

export function writeResults(report: BenchReport, outDir: string): { json: string; svg: string } {
  fs.mkdirSync(outDir, { recursive: true });
  const stamp = report.startedAt.replace(/[:.]/g, '-').replace(/Z$/, '');
  const base = path.join(outDir, `bench-${report.quick ? 'quick-' : ''}${stamp}`);
  const json = `${base}.json`;
  const svg = `${base}.svg`;
  fs.writeFileSync(json, JSON.stringify(toJson(report), null, 2) + '\n');
  fs.writeFileSync(svg, renderSvg(report));
  return { json, svg };
}
