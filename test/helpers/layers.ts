import { spawnSync } from 'node:child_process';
import { PY_SRC } from './pysrc';
import { python } from './paths';

export type LayerEntry =
  | { p: string | Buffer; t: 'dir'; mode?: number; uid?: number; gid?: number; opaque?: boolean; xattrs?: Record<string, Buffer | string>; mtime?: bigint; atime?: bigint }
  | { p: string | Buffer; t: 'file'; data?: Buffer | string; blocks?: number; chunks?: Array<[number, Buffer]>; size?: number; mode?: number; uid?: number; gid?: number; xattrs?: Record<string, Buffer | string>; mtime?: bigint; atime?: bigint }
  | { p: string | Buffer; t: 'symlink'; target: string | Buffer; uid?: number; gid?: number; xattrs?: Record<string, Buffer | string>; mtime?: bigint }
  | { p: string | Buffer; t: 'link'; target: string | Buffer }
  | { p: string | Buffer; t: 'whiteout' }
  | { p: string | Buffer; t: 'fifo'; mode?: number; uid?: number; gid?: number; mtime?: bigint }
  | { p: string | Buffer; t: 'char' | 'block'; rdev: [number, number]; mode?: number; uid?: number; gid?: number; mtime?: bigint };

// Every lower entry gets this mtime unless it says otherwise: reproducible layers.
export const DEFAULT_MTIME_NS = 1_600_000_000_123_456_789n;

const hex = (v: string | Buffer): string => (Buffer.isBuffer(v) ? v : Buffer.from(v)).toString('hex');

// Builds one layer directory in the kernel overlayfs format (whiteouts are 0/0
// char devices, opaque dirs carry trusted.overlay.opaque=y). Entries apply in order.
export function buildLayer(root: string, entries: LayerEntry[], mtime = DEFAULT_MTIME_NS): void {
  const spec = {
    root: hex(root),
    mtime: mtime.toString(),
    entries: entries.map((e) => {
      const o: Record<string, unknown> = { ...e, p: hex(e.p) };
      if ('target' in e) o.target = hex(e.target);
      if ('data' in e && e.data !== undefined) o.data = hex(e.data);
      if ('chunks' in e && e.chunks) o.chunks = e.chunks.map(([off, b]) => [off, b.toString('hex')]);
      if ('xattrs' in e && e.xattrs) {
        o.xattrs = Object.fromEntries(Object.entries(e.xattrs).map(([k, v]) => [k, hex(v)]));
      }
      if ('mtime' in e && e.mtime !== undefined) o.mtime = e.mtime.toString();
      if ('atime' in e && e.atime !== undefined) o.atime = e.atime.toString();
      return o;
    }),
  };
  const r = spawnSync(python, ['-c', PY_SRC, 'build'], { input: JSON.stringify(spec), encoding: 'utf8' });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`building layer ${root} failed: ${r.stderr}`);
}

// The content buildLayer writes for {blocks: n}: block i holds its offset, repeated.
export function blockPattern(n: number): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < n; i++) parts.push(Buffer.from(String(i * 4096).padStart(16, '0').repeat(256)));
  return Buffer.concat(parts);
}
