// Paths inside a container's root, resolved the way the container would see them
// (symlinks followed relative to the root, ".." stopping at it), so that reading the
// container's /etc/passwd or creating its WORKDIR never reaches the host's files.
// And the init layer: mountpoints runc needs that the image lacks, kept out of the upper.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { resolveLower } from '../image/lower';
import { setTimesNs } from '../native';

/** The host path that p names inside root. A missing component ends the resolution. */
export function resolveInRoot(root: string, p: string, followLast = true): string {
  let rest = p.split('/').filter((c) => c !== '' && c !== '.');
  const out: string[] = [];
  let links = 0;
  while (rest.length) {
    const c = rest.shift() as string;
    if (c === '..') {
      out.pop();
      continue;
    }
    const cand = path.join(root, ...out, c);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(cand);
    } catch {
      return path.join(root, ...out, c, ...rest.filter((x) => x !== '..'));
    }
    if (st.isSymbolicLink() && (rest.length > 0 || followLast)) {
      if (++links > 40) throw new Error(`too many levels of symbolic links in ${p}`);
      const t = fs.readlinkSync(cand);
      if (t.startsWith('/')) out.length = 0;
      rest = [...t.split('/').filter((x) => x !== '' && x !== '.'), ...rest];
      continue;
    }
    out.push(c);
  }
  return path.join(root, ...out);
}

/** A file of the container's tree, or null when it is missing. */
export function readInRoot(root: string, p: string): string | null {
  try {
    const f = resolveInRoot(root, p);
    return fs.statSync(f).isFile() ? fs.readFileSync(f, 'utf8') : null;
  } catch {
    return null;
  }
}

/** What runc mounts over, as docker's init layer holds it: [path, is a directory]. */
export const MOUNTPOINTS: Array<[string, boolean]> = [
  ['proc', true],
  ['sys', true],
  ['dev', true],
  ['etc/hosts', false],
  ['etc/hostname', false],
  ['etc/resolv.conf', false],
];

/**
 * Makes dir the init layer for an image (lowers top first): the mountpoints it lacks,
 * their parents carrying the image's own metadata so the merged tree looks the same.
 * Returns false when the image has them all (no init layer needed).
 */
export function makeInitLayer(lowers: string[], dir: string, extra: string[] = []): boolean {
  const want: Array<[string, boolean]> = [...MOUNTPOINTS, ...extra.map((e): [string, boolean] => [e.replace(/^\/+/, ''), true])];
  let made = false;
  for (const [rel, isDir] of want) {
    if (rel === '' || resolveLower(lowers, rel)) continue;
    const comps = rel.split('/');
    // a parent that is a symlink or a file in the image: runc resolves it; leave it alone
    let ok = true;
    for (let i = 1; i < comps.length; i++) {
      const hit = resolveLower(lowers, comps.slice(0, i).join('/'));
      if (hit && !hit.st.isDirectory()) ok = false;
    }
    if (!ok) continue;
    if (!made) {
      fs.mkdirSync(dir, { recursive: true });
      copyMeta(lowers, '', dir);
      made = true;
    }
    for (let i = 1; i < comps.length; i++) {
      const r = comps.slice(0, i).join('/');
      const p = path.join(dir, r);
      if (!fs.existsSync(p)) {
        fs.mkdirSync(p, { mode: 0o755 });
        copyMeta(lowers, r, p);
      }
    }
    const p = path.join(dir, rel);
    if (isDir) fs.mkdirSync(p, { mode: 0o755, recursive: true });
    else fs.writeFileSync(p, '', { mode: 0o644 });
  }
  // parents were given their times before children were added: set them again
  if (made) {
    for (const [rel] of want) {
      const comps = rel.split('/');
      for (let i = comps.length - 1; i >= 0; i--) {
        const r = comps.slice(0, i).join('/');
        const p = path.join(dir, r);
        if (fs.existsSync(p)) copyMeta(lowers, r, p);
      }
    }
  }
  return made;
}

function copyMeta(lowers: string[], rel: string, p: string): void {
  const hit = resolveLower(lowers, rel);
  if (!hit) return;
  fs.chmodSync(p, Number(hit.st.mode) & 0o7777);
  fs.lchownSync(p, Number(hit.st.uid), Number(hit.st.gid));
  setTimesNs(p, hit.st.atimeNs, hit.st.mtimeNs);
}
