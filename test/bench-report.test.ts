// The benchmark's pure parts: comparing two runs' JSON, the chart's grouping, the tables.
import test from 'ava';
import { parseReport, renderCompare, savedFrom } from '../scripts/bench/compare';
import { BenchReport, Cell, Row } from '../scripts/bench/results';
import { chartGroups } from '../scripts/bench/svg';
import { renderTables } from '../scripts/bench/table';
import { Group } from '../scripts/bench/workloads/types';

function cell(values: (number | null)[], status: Cell['status'] = 'ok', extra: Partial<Cell> = {}): Cell {
  return { values, status, ...extra };
}

function row(workload: string, group: Group, cells: Record<string, Cell>, label = workload, kind: Row['kind'] = 'mount'): Row {
  return { workload, metric: 'time', label, unit: 's', kind, group, cells: new Map(Object.entries(cells)) };
}

function report(rows: Row[], drivers = ['overlay', 'fuse-overlayfs', 'strata-fs', 'btrfs', 'vfs'], extra: Partial<BenchReport> = {}): BenchReport {
  return {
    startedAt: '2026-01-01T00:00:00.000Z',
    finishedAt: '2026-01-01T00:10:00.000Z',
    machine: { kernel: '6.18', cpu: 'test', cpus: 2, memGB: 1, node: 'v20', workdirFs: 'ext4', versions: { strata: 'abc1234' } },
    quick: true,
    runs: 2,
    sizes: { bigMiB: 128 },
    drivers: drivers.map((name) => ({
      name,
      description: name,
      floor: false,
      fuse: name === 'fuse-overlayfs' || name === 'strata-fs',
      status: 'ok' as const,
    })),
    rows,
    notes: [],
    interrupted: false,
    ...extra,
  };
}

const sample = () =>
  report([
    row('seq-read-cold', 'data', { overlay: cell([1, 2]), 'fuse-overlayfs': cell([2, 2]), 'strata-fs': cell([3, 4]), btrfs: cell([1, 1]), vfs: cell([null, null], 'n/a', { note: 'no copy-up' }) }),
    row('find-cold', 'metadata', { overlay: cell([0.1, 0.1]), 'fuse-overlayfs': cell([0.3, 0.3]), 'strata-fs': cell([0.2, 0.4]), btrfs: cell([0.1, 0.1]), vfs: cell([0.1, 0.1]) }),
    row('new-container', 'container', { overlay: cell([0.02, 0.02]), 'fuse-overlayfs': cell([0.04, 0.04]), 'strata-fs': cell([0.5, 0.7]), btrfs: cell([0.03, 0.03]), vfs: cell([0.4, 0.4]) }),
    row('import', 'tool', { strata: cell([2, 2]), umoci: cell([4, 4]) }, 'import', 'tool'),
    row('create-mount', 'tool', { strata: cell([0.5, 0.5]) }, 'create-mount', 'tool'),
  ]);

test('the chart groups rows as data, metadata, containers and tools, drivers relative to overlay, tools to their peer', (t) => {
  const c = chartGroups(sample());
  t.is(c.ref, 'overlay');
  t.deepEqual(
    c.groups.map((g) => [g.title.split(':')[0].split(' ')[0], g.rows.map((r) => r.label)]),
    [
      ['data', ['seq-read-cold']],
      ['metadata', ['find-cold']],
      ['containers', ['new-container', 'import (÷ umoci)']],
    ],
  );
  const seq = c.groups[0].rows[0].bars;
  t.deepEqual(seq.map((b) => b.series), ['fuse-overlayfs', 'strata-fs', 'btrfs', 'vfs']);
  // Medians of per-run ratios: strata 3/1 and 4/2 -> 2.5 (a ratio of medians would be 3.5/1.5).
  t.is(seq[1].ratio, 2.5);
  t.is(seq[3].ratio, null);
  t.is(seq[3].status, 'n/a');
  t.deepEqual(c.groups[2].rows[1].bars, [{ series: 'strata', ratio: 0.5, status: 'ok' }]);
  // create-mount has no peer tool: not in the chart. The legend lists drivers first, then tools.
  t.deepEqual(c.series, ['fuse-overlayfs', 'strata-fs', 'btrfs', 'vfs', 'strata']);
});

test('the chart falls back to the first driver that ran when overlay did not', (t) => {
  const r = sample();
  r.drivers[0].status = 'skipped';
  const c = chartGroups(r);
  t.is(c.ref, 'fuse-overlayfs');
  t.false(c.groups[0].rows[0].bars.some((b) => b.series === 'overlay' || b.series === 'fuse-overlayfs'));
});

test('tables: times, then ratios per reference; only FUSE drivers against fuse-overlayfs; n/a cells carry their footnote', (t) => {
  const text = renderTables(sample());
  const tables = text.split('\n\n').filter((b) => b.startsWith('|'));
  const header = (tbl: string) => tbl.split('\n')[0].split('|').map((c) => c.trim()).filter(Boolean);
  t.is(tables.length, 4);
  t.deepEqual(header(tables[0]), ['workload', 'overlay', 'fuse-overlayfs', 'strata-fs', 'btrfs', 'vfs']);
  t.regex(tables[0], /n\/a \[1\]/);
  t.regex(text, /\[1\] no copy-up/);
  t.deepEqual(header(tables[1]), ['÷ overlay', 'fuse-overlayfs', 'strata-fs', 'btrfs', 'vfs']);
  t.deepEqual(header(tables[2]), ['÷ fuse-overlayfs', 'strata-fs']);
  t.regex(tables[3], /^\| tool workload/);
});

test('compare: medians old and new, new ÷ old, and the ratio to overlay in each run', (t) => {
  const old = savedFrom(sample());
  const cur = sample();
  cur.rows[0].cells.set('strata-fs', cell([1.5, 2]));
  cur.rows[0].cells.set('overlay', cell([1, 1]));
  cur.rows.splice(1, 1);
  const text = renderCompare(old, savedFrom(cur), { old: 'old.json', new: 'new.json' });
  const line = (label: string, driver: string) =>
    text
      .split('\n')
      .map((l) => l.split('|').map((c) => c.trim()))
      .filter((c) => c.length > 2)
      .reduce<{ cur: string; hit: string[] | null }>(
        (acc, c) => {
          if (c[1]) acc.cur = c[1];
          if (acc.cur === label && c[2] === driver) acc.hit = c;
          return acc;
        },
        { cur: '', hit: null },
      ).hit;
  // strata-fs seq read: median 3.5 s -> 1.75 s; ratio to overlay 2.5 -> 1.75 per run median.
  t.deepEqual(line('seq-read-cold', 'strata-fs')?.slice(3, 7), ['3.50 s', '1.75 s', '0.50×', '2.50× → 1.75×']);
  t.deepEqual(line('seq-read-cold', 'overlay')?.slice(3, 7), ['1.50 s', '1.00 s', '0.67×', '']);
  t.deepEqual(line('seq-read-cold', 'vfs'), null, 'no figure on either side: no line');
  // A row only the old run had is listed with "not run".
  t.deepEqual(line('find-cold', 'btrfs')?.slice(3, 5), ['100 ms', 'not run']);
  t.deepEqual(line('import', 'umoci')?.slice(3, 6), ['4.00 s', '4.00 s', '1.00×']);
  t.notRegex(text, /different sizes/);
  const full = savedFrom(report(sample().rows, undefined, { quick: false, sizes: { bigMiB: 1024 } }));
  t.regex(renderCompare(old, full, { old: 'a', new: 'b' }), /different sizes \(--quick vs full\)/);
});

test('compare refuses files that are not bench results, with the reason', (t) => {
  t.throws(() => parseReport('{', 'x.json'), { message: /^x\.json: not a bench result \(bad JSON/ });
  t.throws(() => parseReport('{"drivers": []}', 'x.json'), { message: 'x.json: not a bench result (no rows)' });
  t.throws(() => parseReport('{"drivers": [], "rows": [{"workload": "a", "metric": "t", "label": "a", "unit": "s", "cells": {"d": {"values": ["1"]}}}]}', 'x.json'), {
    message: 'x.json: not a bench result (row 0 cell d has no list of values)',
  });
  t.throws(() => parseReport('{"drivers": [], "rows": [{"workload": "a", "metric": "t", "label": "a", "unit": "h", "cells": {}}]}', 'x.json'), {
    message: /unit "h"/,
  });
});
