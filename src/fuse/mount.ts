// Mounting a FUSE session, the two ways the kernel allows: mount(2) of /dev/fuse by a
// process that may mount (root, or root of a user namespace that owns its mount
// namespace), and for anyone else through fusermount3, the setuid helper of libfuse. It
// opens /dev/fuse with the caller's rights, mounts, and hands the open descriptor back
// over the socket named by _FUSE_COMMFD (one byte and the fd as SCM_RIGHTS), as libfuse's
// own mount does; fusermount3 -u unmounts. Each refusal is one line saying what to do.
// And libfuse's third way: a mountpoint /dev/fd/N names a /dev/fuse descriptor someone else
// mounted and handed down (as `strata mount` does for a user's store: fusermount3 mounts
// in the host's namespaces, the daemon serves from the user's namespace); that someone
// unmounts it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { MNT_DETACH, native } from '../native';

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

// the mount flags fusermount3 takes by name
const FLAG_NAMES: Array<[number, string]> = [
  [MS_NOSUID, 'nosuid'], [MS_NODEV, 'nodev'], [MS_NOEXEC, 'noexec'], [MS_SYNCHRONOUS, 'sync'],
  [MS_DIRSYNC, 'dirsync'], [MS_NOATIME, 'noatime'], [MS_NODIRATIME, 'nodiratime'],
  [MS_RELATIME, 'relatime'], [MS_STRICTATIME, 'strictatime'],
];

export interface FuseMountSpec {
  source: string;
  mountpoint: string;
  /** the part after "fuse." in the mount's type */
  subtype: string;
  /** MS_* flags */
  flags: number;
  /** let users other than the mounting one in (allow_other) */
  allowOther: boolean;
}

export interface FuseMount {
  /** the session's /dev/fuse descriptor */
  fd: number;
  /** how it was mounted: unmounting goes the same way ('fd': by whoever mounted it) */
  via: 'mount' | 'fusermount3' | 'fd';
  /** throws with code EBUSY when it is busy and not lazy */
  unmount(lazy: boolean): void;
}

/** Root of the initial user namespace: may open /dev/fuse whatever its mode, write trusted.*
 *  xattrs, chown to anyone and use FUSE passthrough. */
export function initNamespaceRoot(): boolean {
  if (process.geteuid?.() !== 0) return false;
  try {
    return /^\s*0\s+0\s+4294967295\s*$/.test(fs.readFileSync('/proc/self/uid_map', 'utf8'));
  } catch {
    return false;
  }
}

/** Whether mount(2) is ours to call: root, in whatever user namespace (mounting FUSE in a
 *  user namespace works when it owns the mount namespace, as `unshare -Urm` makes). */
export function mayMountDirectly(): boolean {
  return process.geteuid?.() === 0;
}

/** The descriptor N of a mountpoint "/dev/fd/N" (libfuse's "already mounted"), or null. */
export function mountedFdOf(mountpoint: string): number | null {
  const m = /^\/dev\/fd\/(\d+)$/.exec(mountpoint);
  return m ? Number(m[1]) : null;
}

export function mountFuse(spec: FuseMountSpec): FuseMount {
  const given = mountedFdOf(spec.mountpoint);
  if (given !== null) return adoptMounted(given);
  return mayMountDirectly() ? mountDirectly(spec) : mountThroughFusermount(spec);
}

// /dev/fuse is the misc device 10:229
const FUSE_RDEV_MAJOR = 10;
const FUSE_RDEV_MINOR = 229;

function adoptMounted(fd: number): FuseMount {
  checkFuseFd(fd);
  return {
    fd,
    via: 'fd',
    unmount(): void {
      throw new Error(`mounted by whoever passed /dev/fd/${fd}: unmount it there (fusermount3 -u MOUNTPOINT)`);
    },
  };
}

/** Throws one line unless fd is an open /dev/fuse descriptor. */
export function checkFuseFd(fd: number): void {
  let st: fs.Stats;
  try {
    st = fs.fstatSync(fd);
  } catch {
    throw new Error(`/dev/fd/${fd} is not open: pass the mounted /dev/fuse descriptor as that fd, or give a directory as the mountpoint`);
  }
  const rdev = st.rdev;
  const major = (rdev >> 8) & 0xfff;
  const minor = (rdev & 0xff) | ((rdev >> 12) & 0xfff00);
  if (!st.isCharacterDevice() || major !== FUSE_RDEV_MAJOR || minor !== FUSE_RDEV_MINOR) {
    throw new Error(`/dev/fd/${fd} is not a /dev/fuse descriptor: pass the mounted /dev/fuse descriptor as that fd, or give a directory as the mountpoint`);
  }
}

function mountDirectly(spec: FuseMountSpec): FuseMount {
  let fd: number;
  try {
    fd = native.openFuse();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error('/dev/fuse does not exist: load the fuse module (modprobe fuse) as root');
    if (code === 'EACCES' || code === 'EPERM') throw new Error('no access to /dev/fuse (it is root-only here): make it mode 0666 as most distributions do (chmod 0666 /dev/fuse as root), or mount as root');
    throw new Error(`cannot open /dev/fuse: ${(e as Error).message}`);
  }
  const rootmode = 0o40000;
  const ids = `user_id=${process.geteuid?.() ?? 0},group_id=${process.getegid?.() ?? 0}`;
  const data = `fd=${fd},rootmode=${rootmode.toString(8)},${ids}${spec.allowOther ? ',allow_other' : ''},default_permissions`;
  try {
    native.mount(spec.source, spec.mountpoint, `fuse.${spec.subtype}`, spec.flags, data);
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
  return {
    fd,
    via: 'mount',
    unmount(lazy: boolean): void {
      try {
        native.umount2(spec.mountpoint, lazy ? MNT_DETACH : 0);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EINVAL') throw e; // EINVAL: not mounted any more
      }
    },
  };
}

/** fusermount3 (or libfuse 2's fusermount) on PATH, or null. */
export function findFusermount(): string | null {
  const dirs = (process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(':').filter(Boolean);
  for (const name of ['fusermount3', 'fusermount']) {
    for (const d of dirs) {
      const p = path.join(d, name);
      try {
        fs.accessSync(p, fs.constants.X_OK);
        return p;
      } catch {
        /* not here */
      }
    }
  }
  return null;
}

/** Does /etc/fuse.conf let users mount with allow_other? */
export function userAllowOther(conf = '/etc/fuse.conf'): boolean {
  try {
    return fs.readFileSync(conf, 'utf8').split('\n').some((l) => l.replace(/#.*/, '').trim() === 'user_allow_other');
  } catch {
    return false;
  }
}

/** Mounts through fusermount3 whoever we are (see above); the caller serves the fd or
 *  hands it to the process that will. */
export function mountThroughFusermount(spec: FuseMountSpec): FuseMount {
  const helper = findFusermount();
  if (!helper) throw new Error('fusermount3 not found on PATH: install the fuse3 package (users other than root mount FUSE filesystems through it), or mount as root');
  try {
    fs.accessSync('/dev/fuse', fs.constants.R_OK | fs.constants.W_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error('/dev/fuse does not exist: load the fuse module (modprobe fuse) as root');
    throw new Error('no access to /dev/fuse (it is root-only here): make it mode 0666 as most distributions do (chmod 0666 /dev/fuse as root), or mount as root');
  }
  if (spec.allowOther && !userAllowOther()) throw new Error('allow_other needs user_allow_other in /etc/fuse.conf: add that line as root, or leave allow_other out (then only you can enter the mount)');
  const opts = [spec.flags & MS_RDONLY ? 'ro' : 'rw'];
  for (const [bit, name] of FLAG_NAMES) if (spec.flags & bit) opts.push(name);
  opts.push('default_permissions');
  if (spec.allowOther) opts.push('allow_other');
  opts.push(`fsname=${spec.source.replace(/[,\\]/g, '\\$&')}`, `subtype=${spec.subtype}`);
  const [ours, theirs] = native.socketPair();
  let fd: number;
  try {
    const r = spawnSync(helper, ['-o', opts.join(','), '--', spec.mountpoint], {
      stdio: ['ignore', 'ignore', 'pipe', theirs],
      env: { ...process.env, _FUSE_COMMFD: '3' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    if (r.error) throw new Error(`cannot run ${helper}: ${r.error.message}`);
    if (r.status !== 0) {
      const why = (r.stderr ?? '').trim().split('\n').pop() || `exit ${r.status ?? r.signal}`;
      throw new Error(`${path.basename(helper)} refused the mount: ${why}`);
    }
    fd = native.receiveFd(ours, 5000);
    if (fd < 0) throw new Error(`${path.basename(helper)} mounted but handed back no /dev/fuse descriptor (errno ${-fd})`);
  } finally {
    fs.closeSync(ours);
    fs.closeSync(theirs);
  }
  return {
    fd,
    via: 'fusermount3',
    unmount(lazy: boolean): void {
      const r = spawnSync(helper, ['-u', ...(lazy ? ['-z'] : []), '--', spec.mountpoint], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', timeout: 60_000 });
      if (r.status === 0) return;
      const why = (r.stderr ?? '').trim();
      if (/not found in|not mounted|Invalid argument/i.test(why)) return; // gone already
      const err = new Error(`${path.basename(helper)} -u ${spec.mountpoint}: ${why || `exit ${r.status}`}`) as NodeJS.ErrnoException;
      if (/busy/i.test(why)) err.code = 'EBUSY';
      throw err;
    },
  };
}
