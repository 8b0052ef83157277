// strata-fs's composition: a layer stack, the union over it, a FUSE session serving it,
// and the mount that ties the session to a directory.
import * as fs from 'node:fs';
import { FAULT_ENV, parseFault, withFault } from './fuse/fault';
import { OPS } from './fuse/ops';
import { FuseSession, prepareUring } from './fuse/session';
import {
  initNamespaceRoot, mayMountDirectly, mountFuse, MS_NOATIME, MS_NODIRATIME, MS_RDONLY, MS_RELATIME, MS_STRICTATIME,
} from './fuse/mount';
import { native } from './native';
import type { IdMap } from './union/idmap';
import { LayerStack } from './union/layers';
import { dirFdBudget } from './union/dirfds';
import { ATIME_NOATIME, ATIME_NODIRATIME, ATIME_RELATIME, ATIME_STRICTATIME, UnionFs } from './union/unionfs';

export interface MountOptions {
  lowers: string[];
  upper?: string;
  work?: string;
  mountpoint: string;
  source: string;
  /** MS_* flags for mount(2): ro, nosuid, nodev, noexec, ... */
  flags: number;
  /** hand open files to the kernel (FUSE passthrough) when it offers that */
  passthrough: boolean;
  /** overlayfs's volatile: no syncs to the upper layer; the work dir is marked so that a
   *  later mount refuses until the marker is removed */
  volatile: boolean;
  entryTimeout: number;
  attrTimeout: number;
  negativeTimeout: number;
  debug: boolean;
  /** no syncs, as volatile, but no marker either (fuse-overlayfs's fsync=0) */
  noSync?: boolean;
  /** directories report st_nlink 1 */
  staticNlink?: boolean;
  /** POSIX ACLs enforced by the kernel (off: noacl) */
  acl?: boolean;
  /** read AUFS .wh. whiteouts in the lower layers: true, false, or undefined (only in
   *  layers of a containers-storage store that mounts through a program) */
  aufsWhiteouts?: boolean;
  /** the union's own xattrs are user.overlay.* (overlayfs's userxattr); default: when not
   *  root of the initial user namespace, which alone may write trusted.* */
  userxattr?: boolean;
  /** FUSE over io_uring: on (refuse to mount without it), auto (when the kernel offers
   *  it), off; default off */
  uring?: 'auto' | 'on' | 'off';
  /** others may enter the mount; default: when mounting as root */
  allowOther?: boolean;
  /** owners shown and written (uidmapping=, gidmapping=, squash_*) */
  uids?: IdMap;
  gids?: IdMap;
}

export {
  MS_DIRSYNC, MS_NOATIME, MS_NODEV, MS_NODIRATIME, MS_NOEXEC, MS_NOSUID, MS_RDONLY, MS_RELATIME,
  MS_STRICTATIME, MS_SYNCHRONOUS,
} from './fuse/mount';

/** Names a file the daemon writes, as it ends, with how many requests of each opcode the
 *  kernel sent it (JSON, by opcode name): what tests and the bench count. */
export const REQUEST_COUNTS_ENV = 'STRATA_FS_REQUEST_COUNTS';

function writeRequestCounts(file: string): void {
  const counts = native.requestCounts();
  const out: Record<string, number> = {};
  counts.forEach((n, op) => {
    if (n > 0) out[op === counts.length - 1 ? 'OTHER' : OPS[op]?.name ?? `OPCODE_${op}`] = n;
  });
  // of those, how many came over io_uring rather than /dev/fuse
  const overRing = native.uringInfo()[2];
  if (overRing > 0) out.OVER_IO_URING = overRing;
  // whole or not at all: a reader waits for the file to appear, and must not find it empty
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(out) + '\n');
  fs.renameSync(`${file}.tmp`, file);
}

export interface Running {
  session: FuseSession;
  /** resolves when the kernel has ended the session (unmounted) */
  ended: Promise<string | undefined>;
  unmount(lazy: boolean): void;
}

/** Mount and serve. The kernel queues every request until INIT is answered, so the mount
 *  is usable the moment mount(2) has returned: that is when this returns. */
export function serve(o: MountOptions, log: (msg: string) => void): Running {
  const fault = process.env[FAULT_ENV] ? parseFault(process.env[FAULT_ENV]) : undefined;
  if (o.upper && o.work) LayerStack.prepareWorkDir(o.work, o.volatile);
  const privileged = initNamespaceRoot();
  const userxattr = o.userxattr ?? !privileged;
  const stack = new LayerStack({
    lowers: o.lowers, upper: o.upper, work: o.work, volatile: o.volatile, noSync: o.noSync, aufsWhiteouts: o.aufsWhiteouts, userxattr,
  });
  // directories are held open (see DirFds): as many as the hard limit allows
  const atime = atimeOptions(o.flags);
  const union = new UnionFs(stack, { maxDirFds: dirFdBudget(native.raiseNofileLimit()), atime, staticNlink: o.staticNlink, uids: o.uids, gids: o.gids });
  if (union.atimeUnavailable) log(`strata-fs: atime options apply as the upper's own mount has them: ${union.atimeUnavailable}`);
  process.umask(0); // modes arrive with the caller's umask applied; ours must not apply again
  const readOnly = !o.upper || (o.flags & MS_RDONLY) !== 0;
  // before the mount: uring=on refuses here, with the reason
  const ring = prepareUring(o.uring ?? 'off');
  const mounted = mountFuse({
    source: o.source,
    mountpoint: o.mountpoint,
    subtype: 'strata-fs',
    flags: o.flags | (readOnly ? MS_RDONLY : 0),
    allowOther: o.allowOther ?? mayMountDirectly(),
  });
  const fd = mounted.fd;
  if (fault) log(`strata-fs: ${FAULT_ENV} is set: every ${fault.op} of '${fault.name.toString()}' throws (a test hook)`);
  const session = new FuseSession(fd, fault ? withFault(union, fault) : union, {
    entryTimeout: o.entryTimeout,
    attrTimeout: o.attrTimeout,
    negativeTimeout: o.negativeTimeout,
    // FUSE passthrough needs CAP_SYS_ADMIN in the initial namespace: data through our loop otherwise
    passthrough: o.passthrough && privileged,
    // every listing of a strictatime mount is an access to record: none is kept
    cacheDirs: o.attrTimeout > 0 && !(o.flags & MS_STRICTATIME),
    acl: o.acl,
    ring,
    debug: o.debug,
    log,
  });
  let endResolve: (v: string | undefined) => void = () => {};
  const ended = new Promise<string | undefined>((r) => (endResolve = r));
  const countsFile = process.env[REQUEST_COUNTS_ENV];
  session.onEnd = (err) => {
    try { fs.closeSync(fd); } catch { /* gone */ }
    if (countsFile) {
      try {
        writeRequestCounts(countsFile);
      } catch (e) {
        log(`strata-fs: ${REQUEST_COUNTS_ENV}: ${(e as Error).message}`);
      }
    }
    endResolve(err);
  };
  session.start();
  returnMemory(union);
  const unmount = (lazy: boolean): void => {
    try {
      mounted.unmount(lazy);
    } catch (e) {
      if ((e as { code?: string }).code !== 'EBUSY' || lazy) throw e;
      log(`strata-fs: ${o.mountpoint} is busy; detaching it (lazy unmount), serving until the last user leaves`);
      mounted.unmount(true);
    }
  };
  return { session, ended, unmount };
}

/** The atime options among the mount flags, as the union takes them; none given: the
 *  upper's own mount's rules (mount(2)'s default, relatime, when it has none). */
function atimeOptions(flags: number): number | undefined {
  if (!(flags & (MS_NOATIME | MS_NODIRATIME | MS_RELATIME | MS_STRICTATIME))) return undefined;
  const mode = flags & MS_NOATIME ? ATIME_NOATIME : flags & MS_STRICTATIME ? ATIME_STRICTATIME : ATIME_RELATIME;
  return mode | (flags & MS_NODIRATIME ? ATIME_NODIRATIME : 0);
}

/** After the kernel forgets many inodes, collect at once so the daemon's resident memory
 *  shrinks with them instead of whenever V8 next feels like it. */
function returnMemory(union: UnionFs): void {
  let last = 0;
  let again = false;
  let gc: (() => void) | undefined;
  const timer = setInterval(() => {
    // node:v8 and node:vm load here, off the path to a live mount
    /* eslint-disable @typescript-eslint/no-require-imports */
    if (gc === undefined) {
      (require('node:v8') as typeof import('node:v8')).setFlagsFromString('--expose-gc');
      gc = (require('node:vm') as typeof import('node:vm')).runInNewContext('gc') as () => void;
      if (typeof gc !== 'function') {
        clearInterval(timer);
        return;
      }
    }
    /* eslint-enable @typescript-eslint/no-require-imports */
    if (union.dropped - last >= 10000) {
      last = union.dropped;
      gc();
      again = true;
    } else if (again) {
      // the forgetting has stopped: a second full collection once the first one's sweeping
      // is done gives back the pages it emptied (measured: 59 -> 54 MB after 100,000 nodes),
      // and the node table's freed arrays go back from the allocator (59 -> 55 MB)
      again = false;
      gc();
      native.trimMemory();
    }
  }, 500);
  timer.unref();
}
