// What the registry commands (pull, push, login, logout, search) share on the command line.
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { readStoreConfig } from '../store/config';
import type { ClientOptions } from '../registry/client';
import { rootOf, Common } from './context';

export interface RegistryFlags extends Common {
  tlsVerify?: boolean;
  authfile?: string;
}

function bool(v: string): boolean {
  if (/^(true|1|yes)$/i.test(v)) return true;
  if (/^(false|0|no)$/i.test(v)) return false;
  throw new InvalidArgumentError('expected true or false (--tls-verify=false)');
}

export function registryFlags(cmd: Command): Command {
  return cmd
    .option('--tls-verify [bool]', 'verify TLS certificates and require https (default true; false also allows plain http)', bool)
    .option('--authfile <file>', 'credentials file (default: $REGISTRY_AUTH_FILE or ~/.docker/config.json)');
}

/** Client options from the flags and the store's config (insecure-registries). */
export function clientOptions(o: RegistryFlags): ClientOptions & { mirrors: string[] } {
  const cfg = readStoreConfig(rootOf(o));
  return { tlsVerify: o.tlsVerify === undefined ? undefined : o.tlsVerify !== false, authfile: o.authfile, insecureRegistries: cfg.insecureRegistries, mirrors: cfg.registryMirrors };
}

export function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive whole number');
  return n;
}
