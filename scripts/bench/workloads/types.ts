import { Mounted } from '../drivers';
import { Fixtures } from '../fixtures';
import { BenchOptions } from '../options';

export type Unit = 's' | 'MB';

/** Where a workload goes in the chart: data path, metadata, or container creation and tools. */
export type Group = 'data' | 'metadata' | 'container' | 'tool';

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

/** For workloads that keep state of their own for the length of the workload (a store, a bundle). */
export interface ScratchPrepareCtx extends PrepareCtx {
  /** An empty directory, removed after the workload's last run. */
  scratchRoot: string;
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
  group: 'data' | 'metadata';
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

/** A container that a driver makes with its own tooling instead of a mount of the lowers (strata: `strata create` + `strata mount` on a store). */
export interface OwnContainer {
  mnt: string;
  daemonPid: number | null;
  /** Wall time until the container's root could be used, in seconds. */
  seconds: number;
  /** Unmounts and deletes it (untimed). */
  remove(): Promise<void>;
}

export interface ContainerRunCtx extends RunCtx {
  /** How long the driver took to make the container ready (mount, snapshot, copy, or its own tooling). */
  ready: number;
}

export interface ContainerPrepared {
  /** The image's layers, topmost first, for the drivers that mount (or snapshot, or copy) them. */
  lowers: string[];
  /** Driver name -> its own way of making a container of the same image. */
  own?: Record<string, (ctx: ToolRunCtx) => Promise<OwnContainer>>;
  /** The timed first use of the new container, right after it is ready. */
  run(ctx: ContainerRunCtx): Promise<Values>;
}

/** Container creation per driver: the driver's mount (or its own tooling) is part of what is timed. */
export interface ContainerWorkload {
  kind: 'container';
  id: string;
  describe: string;
  group: 'container';
  metrics(opts: BenchOptions): Metric[];
  prepare(ctx: ScratchPrepareCtx): Promise<ContainerPrepared | string>;
}

export type Workload = MountWorkload | ContainerWorkload | ToolWorkload;

/** The chart group of a workload; tool workloads (a table of their own) are all "tool". */
export function groupOf(w: Workload): Group {
  return w.kind === 'tool' ? 'tool' : w.group;
}

export const TIME = 'time';

export function mib(n: number): string {
  return n >= 1024 && n % 1024 === 0 ? `${n / 1024} GiB` : `${n} MiB`;
}

export function count(n: number): string {
  return n.toLocaleString('en-US');
}
