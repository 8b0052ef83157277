// strata-fs's composition: a layer stack, the union over it, a FUSE session serving it,
// and the mount that ties the session to a directory.
import * as fs from 'node:fs';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { FAULT_ENV, parseFault, withFault } from './fuse/fault';
import { FuseSession } from './fuse/session';
import { native, MNT_DETACH } from './native';
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
}

export const MS_RDONLY = 1;
export const MS_NOSUID = 2;
export const MS_NODEV = 4;
export const MS_NOEXEC = 8;
export const MS_SYNCHRONOUS = 16;
export const MS_DIRSYNC = 128;
export const MS_NOATIME = 1024;
export const MS_NODIRATIME = 2048;
export const MS_RELATIME = 1 << 21;
export const MS_STRICTATIME = 1 << 24;

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
  const stack = new LayerStack({ lowers: o.lowers, upper: o.upper, work: o.work, aufsWhiteouts: o.aufsWhiteouts });
  // directories are held open (see DirFds): as many as the hard limit allows
  const union = new UnionFs(stack, { maxDirFds: dirFdBudget(native.raiseNofileLimit()), volatile: o.volatile, staticNlink: o.staticNlink });
  process.umask(0); // modes arrive with the caller's umask applied; ours must not apply again
  const fd = native.openFuse();
  const rootmode = 0o40000;
  const data = `fd=${fd},rootmode=${rootmode.toString(8)},user_id=0,group_id=0,allow_other,default_permissions`;
  const readOnly = !o.upper || (o.flags & MS_RDONLY) !== 0;
  native.mount(o.source, o.mountpoint, 'fuse.strata-fs', o.flags | (readOnly ? MS_RDONLY : 0), data);
  if (fault) log(`strata-fs: ${FAULT_ENV} is set: every ${fault.op} of '${fault.name.toString()}' throws (a test hook)`);
  const session = new FuseSession(fd, fault ? withFault(union, fault) : union, {
    entryTimeout: o.entryTimeout,
    attrTimeout: o.attrTimeout,
    negativeTimeout: o.negativeTimeout,
    passthrough: o.passthrough,
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
      native.umount2(o.mountpoint, lazy ? MNT_DETACH : 0);
    } catch (e) {
      if ((e as { code?: string }).code === 'EBUSY' && !lazy) {
        log(`strata-fs: ${o.mountpoint} is busy; detaching it (lazy unmount), serving until the last user leaves`);
        native.umount2(o.mountpoint, MNT_DETACH);
      } else if ((e as { code?: string }).code !== 'EINVAL') {
        throw e;
      }
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
