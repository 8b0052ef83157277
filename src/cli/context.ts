// What every command shares: the store it works on, how it prints, how it waits for the
// store's lock. Commands stay thin: parse, call into store/image/..., print.
import * as os from 'node:os';
import * as path from 'node:path';
import type { Command } from 'commander';
import { Store, DEFAULT_ROOT } from '../store/store';
import { StoreRootError } from '../store/root';

export interface Common {
  root?: string;
  json?: boolean;
}

let program: Command | null = null;

/** Set once by buildProgram: the global --root lives on the program, not the command. */
export function setProgram(p: Command): void {
  program = p;
}

/** The store a user gets without --root or $STRATA_ROOT: root the system's, anyone else
 *  their own under $XDG_DATA_HOME (default ~/.local/share), as podman keeps
 *  ~/.local/share/containers. */
export function defaultRoot(): string {
  if (process.geteuid?.() === 0) return DEFAULT_ROOT;
  const data = process.env.XDG_DATA_HOME && path.isAbsolute(process.env.XDG_DATA_HOME) ? process.env.XDG_DATA_HOME : path.join(os.homedir(), '.local', 'share');
  return path.join(data, 'strata');
}

export const DEFAULT_ROOT_HELP = `$STRATA_ROOT, else ${DEFAULT_ROOT} for root and $XDG_DATA_HOME/strata (~/.local/share/strata) for other users`;

export function rootOf(o: Common): string {
  const global = program ? (program.opts() as Common).root : undefined;
  const given = o.root ?? global;
  // '' would resolve to the current directory: never make that a store by accident
  if (given === '') throw new StoreRootError("--root '' is not a directory: give the store's directory (or leave --root out)");
  if (given === undefined && process.env.STRATA_ROOT === '') throw new StoreRootError('STRATA_ROOT is set but empty: give the store\'s directory (or unset it)');
  return path.resolve(given ?? process.env.STRATA_ROOT ?? defaultRoot());
}

export function openStore(o: Common): Store {
  return Store.open(rootOf(o));
}

export function out(s: string): void {
  process.stdout.write(s);
}

export function json(v: unknown): void {
  out(JSON.stringify(v, null, 2) + '\n');
}

export const sayWaiting = (): void => {
  if (process.stderr.isTTY) process.stderr.write('waiting for another strata command to finish...\n');
};

export async function locked<T>(store: Store, fn: () => Promise<T>): Promise<T> {
  return store.withLock(fn, sayWaiting);
}

/** The options every store command takes. */
export function common(cmd: Command, withJson = false): Command {
  cmd.option('--root <dir>', `store root (default: ${DEFAULT_ROOT_HELP})`);
  if (withJson) cmd.option('--json', 'print JSON');
  return cmd;
}

/** A layer's unpacked size, 0 for one being collected. */
export function layerSize(store: Store, chainId: string): number {
  try {
    return store.layer(chainId).diffSize;
  } catch {
    return 0;
  }
}

export function imageSize(store: Store, layers: Array<{ chainId: string }>): number {
  return layers.reduce((n, l) => n + layerSize(store, l.chainId), 0);
}

// ---- the options of run and create (docker's names) ----
const collect = (v: string, prev: string[]) => [...prev, v];

export interface RunFlags extends Common {
  interactive?: boolean;
  tty?: boolean;
  rm?: boolean;
  name?: string;
  env: string[];
  envFile: string[];
  workdir?: string;
  user?: string;
  entrypoint?: string;
  hostname?: string;
  volume: string[];
  network: string;
  readOnly?: boolean;
  runtime: string;
}

export function runFlags(cmd: Command): Command {
  return common(cmd)
    .option('-i, --interactive', 'keep stdin open and forward it')
    .option('-t, --tty', 'give the process a pseudo-terminal')
    .option('--rm', 'remove the container when it exits')
    .option('--name <name>', 'container name')
    .option('-e, --env <K=V>', 'set an environment variable (K alone: from this environment)', collect, [])
    .option('--env-file <file>', 'read K=V lines', collect, [])
    .option('-w, --workdir <dir>', 'working directory inside the container')
    .option('-u, --user <user[:group]>', 'user name or uid, optionally :group or :gid')
    .option('--entrypoint <cmd>', 'override the image entrypoint ("" resets it)')
    .option('-h, --hostname <name>', 'container host name')
    .option('-v, --volume <host:ctr[:ro]>', 'bind mount a host path', collect, [])
    .option('--network <mode>', 'none or host', 'host')
    .option('--read-only', 'mount the root filesystem read-only')
    .option('--runtime <bin>', 'OCI runtime (runc, crun)', 'runc')
    .helpOption('--help', 'display help for command');
}

/** The RunSpec (runtime/spec.ts) the flags and CMD ask for. */
export async function runSpecFrom(o: RunFlags, cmd: string[]): Promise<import('../runtime/spec').RunSpec> {
  const { defaultRunSpec, readEnvFile, userEnv } = await import('../runtime/spec');
  if (o.network !== 'none' && o.network !== 'host') throw new Error(`network ${JSON.stringify(o.network)} is not supported (none or host)`);
  if (o.workdir !== undefined && !o.workdir.startsWith('/')) throw new Error(`the working directory '${o.workdir}' is invalid, it needs to be an absolute path`);
  const volumes = o.volume.map((v) => {
    const parts = v.split(':');
    if (parts.length < 2 || parts.length > 3 || (parts[2] !== undefined && parts[2] !== 'ro' && parts[2] !== 'rw')) throw new Error(`invalid volume specification: ${JSON.stringify(v)} (HOST:CONTAINER[:ro])`);
    if (!parts[0].startsWith('/') && !parts[0].startsWith('.')) throw new Error(`named volumes are not supported: ${JSON.stringify(parts[0])} (give a host path)`);
    if (!parts[1].startsWith('/')) throw new Error(`invalid volume specification: ${JSON.stringify(v)}: the container path must be absolute`);
    return { host: path.resolve(parts[0]), ctr: parts[1], ro: parts[2] === 'ro' };
  });
  return {
    ...defaultRunSpec(),
    cmd: cmd.length ? cmd : null,
    entrypoint: o.entrypoint === undefined ? null : o.entrypoint === '' ? [] : [o.entrypoint],
    env: [...o.envFile.flatMap((f) => readEnvFile(f)), ...userEnv(o.env)],
    workdir: o.workdir ?? null,
    user: o.user ?? null,
    hostname: o.hostname ?? null,
    volumes,
    network: o.network,
    readOnly: !!o.readOnly,
    tty: !!o.tty,
    interactive: !!o.interactive,
    runtime: o.runtime,
    autoRemove: !!o.rm,
  };
}
