import { Mounted } from '../drivers';
import { Fixtures } from '../fixtures';
import { BenchOptions } from '../options';

export type Unit = 's' | 'MB';

export interface Metric {
  id: string;
  label: string;
  unit: Unit;
}

/** Metric id -> value (seconds or MB); null when the driver has no such figure (e.g. no daemon). */
export type Values = Record<string, number | null>;

export interface PrepareCtx {
  fx: Fixtures;
  opts: BenchOptions;
}

export interface RunCtx {
  /** Where the workload runs: the union mount, or the floor's plain directory. */
  mnt: string;
  mounted: Mounted;
  timeoutMs: number;
}

export interface Prepared {
  /** Topmost first. */
  lowers: string[];
  /** Untimed, after mounting and before caches are dropped. */
  setup?(ctx: RunCtx): Promise<void>;
  run(ctx: RunCtx): Promise<Values>;
}

/** A workload run on every driver's mount, the same way on each. */
export interface MountWorkload {
  kind: 'mount';
  id: string;
  /** One line for --list and the README. */
  describe: string;
  metrics(opts: BenchOptions): Metric[];
  /** Drop caches after setup, right before the timed part. */
  cold: boolean;
  /** The workload writes into existing lower files (the plain floor then needs copies, not hard links). */
  copyData?: boolean;
  /** Returns a reason string when the workload cannot run here (e.g. a tool is missing). */
  prepare(ctx: PrepareCtx): Promise<Prepared | string>;
}

export interface ToolRunCtx {
  /** A fresh empty directory for this run. */
  scratch: string;
  timeoutMs: number;
}

export interface ToolPrepared {
  run(ctx: ToolRunCtx): Promise<Values>;
  /** after the last run (stops what prepare started, e.g. a registry) */
  dispose?(): Promise<void>;
}

export interface Tool {
  name: string;
  /** Returns a reason string when the tool is not available. */
  prepare(ctx: PrepareCtx & { scratchRoot: string }): Promise<ToolPrepared | string>;
}

/** A workload comparing tools (strata vs umoci) rather than mount drivers. */
export interface ToolWorkload {
  kind: 'tool';
  id: string;
  describe: string;
  metrics(opts: BenchOptions): Metric[];
  cold: boolean;
  tools: Tool[];
}

export type Workload = MountWorkload | ToolWorkload;

export const TIME = 'time';

export function mib(n: number): string {
  return n >= 1024 && n % 1024 === 0 ? `${n / 1024} GiB` : `${n} MiB`;
}

export function count(n: number): string {
  return n.toLocaleString('en-US');
}
