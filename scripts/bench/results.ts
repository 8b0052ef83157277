import { RequestCounts } from './fusetrace';
import { Group, Unit } from './workloads/types';

export type CellStatus = 'ok' | 'skipped' | 'n/a' | 'failed';

export interface Cell {
  /** One entry per run, in run order; null where the run failed or has no such figure. */
  values: (number | null)[];
  status: CellStatus;
  note?: string;
  /** What the figure means on this driver, when that differs from the workload's description. */
  remark?: string;
}

/** One metric of one workload, across drivers (or tools). */
export interface Row {
  workload: string;
  metric: string;
  label: string;
  unit: Unit;
  kind: 'mount' | 'container' | 'tool';
  group: Group;
  /** Column name -> cell, in column order. */
  cells: Map<string, Cell>;
}

/** The FUSE requests one driver got during one workload's timed part, per run (null: not counted). */
export interface RequestRow {
  workload: string;
  label: string;
  driver: string;
  perRun: (RequestCounts | null)[];
}

export interface DriverStatus {
  name: string;
  description: string;
  floor: boolean;
  status: 'ok' | 'skipped';
  note?: string;
  /** Compared against fuse-overlayfs as well as kernel overlayfs (a FUSE daemon or a custom mount command). */
  fuse?: boolean;
  /** What to know about the driver's figures (listed with the footnotes). */
  caveat?: string;
}

export interface Machine {
  kernel: string;
  cpu: string;
  cpus: number;
  memGB: number;
  node: string;
  workdirFs: string;
  /** Versions of the programs compared, and the commit of this checkout. */
  versions: Record<string, string>;
}

export interface BenchReport {
  startedAt: string;
  finishedAt: string;
  machine: Machine;
  quick: boolean;
  runs: number;
  sizes: Record<string, number>;
  drivers: DriverStatus[];
  rows: Row[];
  /** Absent when the kernel could not count them (see notes). */
  requests?: RequestRow[];
  /** Global caveats (e.g. caches could not be dropped). */
  notes: string[];
  interrupted: boolean;
}
