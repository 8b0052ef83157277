// Fault injection for the reliability tests: STRATA_FS_FAULT=OP:NAME makes every OP request
// that names NAME (lookup, mkdir, unlink, create, ... of that entry name) throw a plain Error,
// as a bug in strata would, so a test can see the session answer that request with EIO, log
// it and go on serving. Read once at daemon start; unset, no wrapper exists at all.
import type { FileSystem } from './types';

export const FAULT_ENV = 'STRATA_FS_FAULT';

// The FileSystem methods whose third argument is an entry name.
const NAMED_OPS = ['lookup', 'symlink', 'mknod', 'mkdir', 'unlink', 'rmdir', 'rename', 'create'] as const;
type NamedOp = (typeof NAMED_OPS)[number];

export interface Fault {
  op: NamedOp;
  name: Buffer;
}

/** Parses "op:name"; throws a one-line error for anything else. */
export function parseFault(spec: string): Fault {
  const colon = spec.indexOf(':');
  const op = spec.slice(0, colon) as NamedOp;
  const name = spec.slice(colon + 1);
  if (colon < 0 || !NAMED_OPS.includes(op) || name === '' || name.includes('/')) {
    throw new Error(`${FAULT_ENV}='${spec}': expected OP:NAME with OP one of ${NAMED_OPS.join(', ')}`);
  }
  return { op, name: Buffer.from(name) };
}

/** The same filesystem, except that f.op on f.name throws an Error without an errno code. */
export function withFault(fs: FileSystem, f: Fault): FileSystem {
  const real = (fs[f.op] as (...a: unknown[]) => unknown).bind(fs);
  const faulty = (...a: unknown[]): unknown => {
    if (f.name.equals(a[2] as Buffer)) throw new Error(`injected fault: ${f.op} ${f.name.toString()}`);
    return real(...a);
  };
  // A proxy, not a subclass or prototype copy: the real object's own state stays its own.
  return new Proxy(fs, {
    get(target, prop) {
      if (prop === f.op) return faulty;
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
