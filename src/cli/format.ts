// Docker-style output: aligned columns, short ids, decimal sizes, relative times.
import { timeAgo } from '../units';

export function table(headers: string[], rows: string[][]): string {
  const w = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i]))).join('   ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

export function humanSize(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return (i === 0 ? String(v) : v.toPrecision(3).replace(/\.?0+$/, '')) + units[i];
}

/** docker's CREATED column (go-units HumanDuration + " ago"). */
export const ago = (iso: string | null): string => timeAgo(iso);

export const shortId = (d: string): string => d.replace(/^sha256:/, '').slice(0, 12);

/** Byte-string paths (latin1) as the UTF-8 text they almost always are. */
export const showPath = (p: string): string => Buffer.from(p, 'latin1').toString('utf8');
/** A path typed by the user (UTF-8) as a byte string, the store's form (see image/tarbytes.ts). */
export const utf8ToBytes = (s: string): string => Buffer.from(s, 'utf8').toString('latin1');

/** A time as Go's time.Time prints it ("2026-01-02 03:04:05 +0000 UTC"), docker's CreatedAt. */
export function goTime(iso: string | null): string {
  if (!iso) return '';
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return '';
  return t.toISOString().replace('T', ' ').replace(/\.\d+Z$|Z$/, '') + ' +0000 UTC';
}

/** docker's Ellipsis: at most n characters, the last one "…" when cut. */
export function ellipsis(s: string, n: number): string {
  const c = [...s];
  return c.length > n ? c.slice(0, n - 1).join('') + '…' : s;
}
