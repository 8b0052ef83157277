import { spawnSync } from 'node:child_process';
import { treeManifestBin, python } from './paths';

export interface ManifestOptions {
  mtime?: boolean;
  nlink?: boolean;
  allXattrs?: boolean;
  noRootMeta?: boolean;
  noHash?: boolean;
  exclude?: string[];
  xattrExclude?: string[]; // replaces tree-manifest's defaults, which are kept here
}

export function treeManifest(root: string, o: ManifestOptions = {}): string {
  const args: string[] = [];
  if (o.mtime) args.push('--mtime');
  if (o.nlink) args.push('--nlink');
  if (o.allXattrs) args.push('--all-xattrs');
  if (o.noRootMeta) args.push('--no-root-meta');
  if (o.noHash) args.push('--no-hash');
  for (const e of o.exclude ?? []) args.push('--exclude', e);
  if (o.xattrExclude) {
    for (const x of ['trusted.overlay.', 'user.overlay.', 'security.selinux', ...o.xattrExclude]) args.push('--xattr-exclude', x);
  }
  args.push(root);
  // Bounded: a union that stops answering must fail the test, not hang the run.
  // Run by the system python directly: a pyenv shim in between costs ~0.6 s a call.
  const r = spawnSync(python, [treeManifestBin, ...args], { encoding: 'utf8', maxBuffer: 256 << 20, timeout: 240_000, killSignal: 'SIGKILL' });
  if (r.error) throw new Error(`tree-manifest ${root}: ${r.error.message}`);
  // Exit 1 means some entry was unreadable; the entry carries error=..., which the
  // comparison then shows, so only a usage error or crash is fatal here.
  if (r.status !== 0 && r.status !== 1) {
    throw new Error(`tree-manifest ${root} exited ${r.status}: ${r.stderr}`);
  }
  return r.stdout;
}

function byPath(manifest: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of manifest.split('\n')) {
    if (!line) continue;
    const sp = line.indexOf(' ');
    m.set(sp < 0 ? line : line.slice(0, sp), line);
  }
  return m;
}

// A compact diff for assertion messages: "-" lines only in `expected`, "+" only in `actual`.
export function manifestDiff(actual: string, expected: string, max = 40): string[] {
  const a = byPath(actual);
  const e = byPath(expected);
  const out: string[] = [];
  const paths = [...new Set([...a.keys(), ...e.keys()])].sort();
  for (const p of paths) {
    const al = a.get(p);
    const el = e.get(p);
    if (al === el) continue;
    if (el !== undefined) out.push(`- ${el}`);
    if (al !== undefined) out.push(`+ ${al}`);
    if (out.length >= max) {
      out.push('... (more differences)');
      break;
    }
  }
  return out;
}

export function manifestLine(manifest: string, p: string): string | undefined {
  return manifest.split('\n').find((l) => l.startsWith(`${p} `));
}
