// A digest of a layer dir's shape, recorded at import so that `strata check` can tell
// whether anything changed the dir since, without re-reading file contents: names,
// types, modes, owners, sizes, device numbers, symlink targets, file and dir mtimes
// and xattrs. A content change that keeps size and mtime is NOT detected by it.
import * as fs from 'node:fs';
import { createHash, Hash } from 'node:crypto';
import * as sys from '../native';

export interface TreeDigest {
  entries: number;
  digest: string;
}

function walk(h: Hash, dir: Buffer, rel: Buffer, count: { n: number }): void {
  const abs = rel.length ? Buffer.concat([dir, Buffer.from('/'), rel]) : dir;
  const st = fs.lstatSync(abs, { bigint: true });
  count.n++;
  h.update(rel);
  h.update(`\0${st.mode} ${st.uid} ${st.gid} ${st.isDirectory() ? 0n : st.size} ${st.rdev} ${st.isDirectory() || st.isFile() ? st.mtimeNs : 0n}\0`);
  if (st.isSymbolicLink()) h.update(fs.readlinkSync(abs, { encoding: 'buffer' }));
  for (const x of sys.llistxattr(abs).sort()) {
    h.update(`\0x:${x}=`);
    h.update(sys.lgetxattr(abs, x) ?? Buffer.alloc(0));
  }
  h.update('\n');
  if (!st.isDirectory()) return;
  const names = (fs.readdirSync(abs, { encoding: 'buffer' }) as Buffer[]).sort(Buffer.compare);
  for (const n of names) walk(h, dir, rel.length ? Buffer.concat([rel, Buffer.from('/'), n]) : n, count);
}

export function treeDigest(dir: string): TreeDigest {
  const h = createHash('sha256');
  const count = { n: 0 };
  walk(h, Buffer.from(dir), Buffer.alloc(0), count);
  return { entries: count.n, digest: 'sha256:' + h.digest('hex') };
}

/** treeDigest as root of the user's namespace (src/userns.ts), for a user's store: the
 *  user alone may not read everything its range owns, and the digest recorded at import
 *  was taken there (owners as the namespace shows them). */
export function treeDigestInUserNamespace(dir: string): TreeDigest {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { inUserNamespace } = require('../userns') as typeof import('../userns');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { spawnSync } = require('node:child_process') as typeof import('node:child_process');
  const argv = inUserNamespace([process.execPath, __filename, dir]);
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new Error(`cannot read ${dir} in your user namespace: ${(r.stderr || `exit ${r.status}`).trim().split('\n').pop()}`);
  return JSON.parse(r.stdout) as TreeDigest;
}

if (require.main === module) process.stdout.write(JSON.stringify(treeDigest(process.argv[2]!)) + '\n');
