// strata-fs's composition: a layer stack, the union over it, a FUSE session serving it,
// and the mount that ties the session to a directory.
import * as fs from 'node:fs';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { FAULT_ENV, parseFault, withFault } from './fuse/fault';
import { FuseSession } from './fuse/session';
import { initNamespaceRoot, mayMountDirectly, mountFuse, MS_RDONLY } from './fuse/mount';
import { native } from './native';
import type { IdMap } from './union/idmap';
import { LayerStack } from './union/layers';
import { dirFdBudget } from './union/dirfds';
import { UnionFs } from './union/unionfs';

export interface MountOptions {
  lowers: string[];
  upper?: string;
  work?: string;
  mountpoint: string;
  source: string;
  /** MS_* flags for mount(2): ro, nosuid, nodev, noexec, ... */
  flags: number;
  /** hand open upper files to the kernel (FUSE passthrough) when it offers that */
  passthrough: boolean;
  entryTimeout: number;
  attrTimeout: number;
  negativeTimeout: number;
  debug: boolean;
  /** fsync is a no-op (overlayfs's volatile, fuse-overlayfs's fsync=0) */
  volatile?: boolean;
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
  if (o.upper && o.work) LayerStack.prepareWorkDir(o.work);
  const privileged = initNamespaceRoot();
  const userxattr = o.userxattr ?? !privileged;
  const stack = new LayerStack({ lowers: o.lowers, upper: o.upper, work: o.work, aufsWhiteouts: o.aufsWhiteouts, userxattr });
  // directories are held open (see DirFds): as many as the hard limit allows
  const union = new UnionFs(stack, { maxDirFds: dirFdBudget(native.raiseNofileLimit()), volatile: o.volatile, staticNlink: o.staticNlink, uids: o.uids, gids: o.gids });
  process.umask(0); // modes arrive with the caller's umask applied; ours must not apply again
  const readOnly = !o.upper || (o.flags & MS_RDONLY) !== 0;
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
    cacheDirs: o.attrTimeout > 0,
    acl: o.acl,
    debug: o.debug,
    log,
  });
  let endResolve: (v: string | undefined) => void = () => {};
  const ended = new Promise<string | undefined>((r) => (endResolve = r));
  session.onEnd = (err) => {
    try { fs.closeSync(fd); } catch { /* gone */ }
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

/** After the kernel forgets many inodes, collect at once so the daemon's resident memory
 *  shrinks with them instead of whenever V8 next feels like it. */
function returnMemory(union: UnionFs): void {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as (() => void) | undefined;
  if (typeof gc !== 'function') return;
  let last = 0;
  const timer = setInterval(() => {
    if (union.dropped - last >= 10000) {
      last = union.dropped;
      gc();
    }
  }, 2000);
  timer.unref();
}
