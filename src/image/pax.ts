// Values of PAX extended headers as the extractor reads them: times in decimal seconds
// with a fraction, decimal ids, and xattrs under the keys GNU tar and star write
// (SCHILY.xattr.NAME = the value's bytes) or libarchive does (LIBARCHIVE.xattr.NAME with
// the name URI-encoded and the value in base64). Values are byte strings (tarbytes.ts).
import { LayerError } from './layer-error';

/** "1700000000.123456789" -> nanoseconds; null when absent, empty or not such a number. */
export function paxTimeNs(v: string | undefined): bigint | null {
  if (v === undefined || v === '') return null;
  const m = /^(-?)(\d+)(?:\.(\d*))?$/.exec(v.trim());
  if (!m) return null;
  const frac = (m[3] ?? '').slice(0, 9).padEnd(9, '0');
  const ns = BigInt(m[2]) * 1_000_000_000n + BigInt(frac || '0');
  return m[1] === '-' ? -ns : ns;
}

/** A uid or gid: up to 12 decimal digits, else NaN. */
export function paxId(v: string): number {
  return /^\d{1,12}$/.test(v.trim()) ? Number(v.trim()) : NaN;
}

/** Every xattr the records carry, [name, value] in record order, empty values included. */
export function paxXattrs(pax: Record<string, string> | null | undefined): Array<[string, Buffer]> {
  const out: Array<[string, Buffer]> = [];
  if (!pax) return out;
  for (const [k, v] of Object.entries(pax)) {
    if (k.startsWith('SCHILY.xattr.')) out.push([k.slice('SCHILY.xattr.'.length), Buffer.from(v, 'latin1')]);
    else if (k.startsWith('LIBARCHIVE.xattr.')) out.push([libarchiveName(k.slice('LIBARCHIVE.xattr.'.length)), Buffer.from(v, 'base64')]);
  }
  return out;
}

function libarchiveName(encoded: string): string {
  try {
    return decodeURIComponent(encoded);
  } catch {
    throw new LayerError(`malformed LIBARCHIVE.xattr name in a PAX header: ${JSON.stringify(encoded.slice(0, 80))}`);
  }
}
