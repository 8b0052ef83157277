// Docker-style output: aligned columns, short ids, decimal sizes, relative times.

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

export function ago(iso: string | null): string {
  if (!iso) return 'N/A';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return 'N/A';
  const s = Math.max(0, (Date.now() - t) / 1000);
  const f = (n: number, u: string) => `${Math.floor(n)} ${u}${Math.floor(n) === 1 ? '' : 's'} ago`;
  if (s < 1) return 'Less than a second ago';
  if (s < 60) return f(s, 'second');
  if (s < 3600) return Math.floor(s / 60) === 1 ? 'About a minute ago' : f(s / 60, 'minute');
  if (s < 86400) return Math.floor(s / 3600) === 1 ? 'About an hour ago' : f(s / 3600, 'hour');
  if (s < 86400 * 14) return f(s / 86400, 'day');
  if (s < 86400 * 60) return f(s / 86400 / 7, 'week');
  if (s < 86400 * 365 * 2) return f(s / 86400 / 30, 'month');
  return f(s / 86400 / 365, 'year');
}

export const shortId = (d: string): string => d.replace(/^sha256:/, '').slice(0, 12);

/** Byte-string paths (latin1) as the UTF-8 text they almost always are. */
export const showPath = (p: string): string => Buffer.from(p, 'latin1').toString('utf8');
/** A path typed by the user (UTF-8) as a byte string, the store's form (see image/tarbytes.ts). */
export const utf8ToBytes = (s: string): string => Buffer.from(s, 'utf8').toString('latin1');
