// The places a test of a user's store needs: a home the user owns, and a work dir with a
// subordinate ID file (bound over /etc/subuid and /etc/subgid in the test's private mount
// namespace, never the host's), where a 0666 /dev/fuse node goes, and an out dir both root
// and the user write to.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ExecutionContext } from 'ava';
import { tempDirFor } from './tmp';

export interface SubidPlaces {
  home: string;
  work: string;
  /** the subuid/subgid file: the user's range is 100000-165535 */
  ids: string;
  /** where the test's mknod puts its 0666 fuse node */
  node: string;
  out: string;
}

export function subidPlaces(t: ExecutionContext, user: { uid: number; gid: number }): SubidPlaces {
  const home = tempDirFor(t, 'strata-home-');
  fs.chownSync(home, user.uid, user.gid);
  const work = tempDirFor(t, 'strata-subid-');
  fs.chmodSync(work, 0o755);
  const ids = path.join(work, 'subid');
  fs.writeFileSync(ids, `${user.uid}:100000:65536\n`);
  fs.chmodSync(ids, 0o644);
  const out = path.join(work, 'out');
  fs.mkdirSync(out);
  fs.chmodSync(out, 0o777); // written to by the user too
  return { home, work, ids, node: path.join(work, 'fuse-node'), out };
}
