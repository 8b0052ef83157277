// What every command shares: the store it works on, how it prints, how it waits for the
// store's lock. Commands stay thin: parse, call into store/image/..., print.
import * as path from 'node:path';
import type { Command } from 'commander';
import { Store, DEFAULT_ROOT } from '../store/store';

export interface Common {
  root?: string;
  json?: boolean;
}

let program: Command | null = null;

/** Set once by buildProgram: the global --root lives on the program, not the command. */
export function setProgram(p: Command): void {
  program = p;
}

export function rootOf(o: Common): string {
  const global = program ? (program.opts() as Common).root : undefined;
  return path.resolve(o.root ?? global ?? process.env.STRATA_ROOT ?? DEFAULT_ROOT);
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
  cmd.option('--root <dir>', `store root (default: $STRATA_ROOT or ${DEFAULT_ROOT})`);
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
