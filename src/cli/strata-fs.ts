// strata-fs [-f] [-d] -o lowerdir=L1[:L2...][,upperdir=U,workdir=W][,OPTS] [SOURCE] MOUNTPOINT
// Parses like mount(8) helpers, validates, then mounts in a detached daemon and returns
// once the mount is live (or with a one-line error).
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  MS_DIRSYNC, MS_NOATIME, MS_NODEV, MS_NODIRATIME, MS_NOEXEC, MS_NOSUID, MS_RDONLY, MS_RELATIME,
  MS_STRICTATIME, MS_SYNCHRONOUS, MountOptions, serve,
} from '../daemon';
import { checkFuseFd, mountedFdOf } from '../fuse/mount';
import { DAEMON_ENV, type DaemonReport } from '../launch';
import { IdMap, type IdRange, parseIdRanges } from '../union/idmap';

export class UsageError extends Error {}

const USAGE = `usage: strata-fs [-f] [-d] -o lowerdir=L1[:L2...][,upperdir=U,workdir=W][,OPTS] [SOURCE] MOUNTPOINT

Mounts the union of the lower directories (topmost first) and, if given, the writable
upper directory, like mount -t overlay. Without upperdir the mount is read-only.
  -f            stay in the foreground (SIGINT/SIGTERM unmount)
  -d            debug: log every request (implies -f)
  -o OPTS       overlayfs options (lowerdir, upperdir, workdir, redirect_dir, index, xino,
                metacopy, userxattr, volatile), allow_other, mount flags (ro, rw, nosuid, nodev, noexec, noatime, ...) and
                strata's own: passthrough=on|off, uring=auto|on|off, entry_timeout=S, attr_timeout=S,
                negative_timeout=S, log=FILE, aufs_whiteouts=on|off|auto; and what
                containers-storage and fuse-overlayfs users pass: volatile, fsync=0|1,
                static_nlink, noacl, timeout=S, context=..., threaded=N, fast_ino=N,
                writeback=N, noxattrs=0, xattr_permissions=0, plugins=, and owners as
                fuse-overlayfs maps them: uidmapping=C:H:N[:C:H:N...], gidmapping=...,
                squash_to_root, squash_to_uid=U, squash_to_gid=G

Exit status:
  0  mounted (the daemon serves it in the background); with -f/-d: unmounted cleanly
  1  the mount failed (one line on stderr says why), or with -f/-d the session ended
     with an error
  2  bad usage: unknown option, missing or invalid lowerdir/upperdir/workdir/mountpoint

Example:
  strata-fs -o lowerdir=/l2:/l1,upperdir=/u,workdir=/w /mnt/merged

MOUNTPOINT /dev/fd/N (libfuse's convention): N is a /dev/fuse descriptor already mounted
(e.g. by fusermount3) and handed down; strata-fs serves it, whoever mounted it unmounts.`;

interface Parsed {
  opts: MountOptions;
  foreground: boolean;
  logFile: string | null;
}

const FLAG_OPTS: Record<string, [number, boolean]> = {
  ro: [MS_RDONLY, true], rw: [MS_RDONLY, false],
  nosuid: [MS_NOSUID, true], suid: [MS_NOSUID, false],
  nodev: [MS_NODEV, true], dev: [MS_NODEV, false],
  noexec: [MS_NOEXEC, true], exec: [MS_NOEXEC, false],
  sync: [MS_SYNCHRONOUS, true], async: [MS_SYNCHRONOUS, false],
  dirsync: [MS_DIRSYNC, true],
  noatime: [MS_NOATIME, true], atime: [MS_NOATIME, false],
  nodiratime: [MS_NODIRATIME, true], diratime: [MS_NODIRATIME, false],
  relatime: [MS_RELATIME, true], norelatime: [MS_RELATIME, false],
  strictatime: [MS_STRICTATIME, true], nostrictatime: [MS_STRICTATIME, false],
};

// accepted for compatibility with overlayfs and mount(8); strata's behaviour is fixed
const OVERLAY_VALUES: Record<string, string[]> = {
  redirect_dir: ['on', 'follow', 'off', 'nofollow'],
  index: ['on', 'off'],
  xino: ['on', 'off', 'auto'],
  metacopy: ['on', 'off'],
  nfs_export: ['on', 'off'],
  uuid: ['on', 'off', 'null', 'auto'],
  verity: ['on', 'off', 'require'],
};
const IGNORED = new Set(['default_permissions', 'defaults', 'auto', 'noauto', 'nofail', '_netdev', 'user', 'users', 'nouser', 'owner', 'lazytime', 'nolazytime', 'silent', 'loud']);
// SELinux labels (containers-storage passes context="..." when it labels mounts) and
// mount(8)'s bookkeeping: the kernel labels a FUSE mount itself
const IGNORED_VALUED = new Set(['fsname', 'subtype', 'comment', 'context', 'fscontext', 'defcontext', 'rootcontext']);
// fuse-overlayfs's tuning knobs (its threads, inode check, writeback cache): strata has
// its own request loop and caches; the values are checked, their effect is strata's
const FUSE_OVERLAYFS_TUNING = new Set(['threaded', 'fast_ino', 'writeback']);

function splitOpts(s: string): string[] {
  // commas separate options; "\," and "\:" escape inside paths
  // and commas inside double quotes are part of the value (context="a:b:s0:c1,c2")
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (ch === '\\' && i + 1 < s.length) {
      cur += ch + s[++i];
    } else if (ch === '"') {
      quoted = !quoted;
      cur += ch;
    } else if (ch === ',' && !quoted) {
      out.push(cur);
      cur = '';
    } else {
      cur += ch;
    }
  }
  out.push(cur);
  return out.filter((x) => x.length > 0);
}

function splitLower(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (ch === '\\' && i + 1 < s.length) cur += s[++i];
    else if (ch === ':') { out.push(cur); cur = ''; }
    else cur += ch;
  }
  out.push(cur);
  return out;
}

function unescape(s: string): string {
  return s.replace(/\\(.)/g, '$1');
}

function seconds(name: string, v: string): number {
  const n = Number(v);
  if (v === '' || !Number.isFinite(n) || n < 0 || n > 1e9) throw new UsageError(`bad value for ${name}: '${v}' (seconds expected)`);
  return n;
}

function requireDir(what: string, p: string): string {
  const abs = path.resolve(p);
  let st: fs.Stats;
  try {
    st = fs.statSync(abs);
  } catch (e) {
    throw new UsageError(`${what} '${p}': ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such directory' : (e as Error).message}`);
  }
  if (!st.isDirectory()) throw new UsageError(`${what} '${p}': not a directory`);
  return abs;
}

function inside(a: string, b: string): boolean {
  const rel = path.relative(b, a);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

export function parseArgs(argv: string[]): Parsed {
  const optStrings: string[] = [];
  const positional: string[] = [];
  let foreground = false;
  let debug = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-f') foreground = true;
    else if (a === '-d' || a === '--debug') { debug = true; foreground = true; }
    else if (a === '-o') {
      const v = argv[++i];
      if (v === undefined) throw new UsageError('-o needs a value');
      optStrings.push(v);
    } else if (a.startsWith('-o')) optStrings.push(a.slice(2));
    else if (a === '-h' || a === '--help') throw new UsageError('');
    else if (a === '-s' || a === '-n' || a === '-v') { /* mount(8) helper flags: single-threaded, no mtab, verbose */ }
    else if (a.startsWith('-')) throw new UsageError(`unknown flag '${a}'`);
    else positional.push(a);
  }
  if (positional.length < 1 || positional.length > 2) throw new UsageError('expected [SOURCE] MOUNTPOINT');
  // /dev/fd/N: mounted already, N the /dev/fuse fd (libfuse's convention); never stat'd
  // (nothing answers in the mount until we do)
  const mp = positional[positional.length - 1]!;
  const mountpoint = mountedFdOf(mp) !== null ? mp : requireDir('mountpoint', mp);
  const source = positional.length === 2 ? positional[0]! : 'strata';
  let flags = 0;
  let lowers: string[] | null = null;
  let upper: string | undefined;
  let work: string | undefined;
  let passthrough = true;
  let volatile = false;
  // Every change goes through strata-fs and the kernel sees each one, so its caches stay
  // right however long it keeps them (lower layers must not change under a mount, as
  // with overlayfs).
  let entryTimeout = 86400;
  let attrTimeout = 86400;
  let negativeTimeout = 86400;
  let logFile: string | null = null;
  let noSync = false;
  let staticNlink = false;
  let acl = true;
  let aufsWhiteouts: boolean | undefined;
  let userxattr: boolean | undefined;
  let allowOther: boolean | undefined;
  let uring = uringMode('STRATA_FS_URING', process.env.STRATA_FS_URING ?? 'off');
  let uidRanges: IdRange[] | null = null;
  let gidRanges: IdRange[] | null = null;
  let squashRoot = false;
  let squashUid: number | null = null;
  let squashGid: number | null = null;
  const id = (key: string, val: string): number => {
    if (!/^\d+$/.test(val) || Number(val) > 0xfffffffe) throw new UsageError(`bad value for ${key}: '${val}' (a numeric ID expected)`);
    return Number(val);
  };
  const ranges = (key: string, val: string): IdRange[] => {
    try {
      return parseIdRanges(key, val);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  };
  const zeroOnly = (key: string, val: string, why: string): void => {
    if (!/^\d+$/.test(val)) throw new UsageError(`bad value for ${key}: '${val}' (a number expected)`);
    if (Number(val) !== 0) throw new UsageError(`${key}=${val} is not supported: ${why}`);
  };
  for (const o of optStrings.flatMap(splitOpts)) {
    const eq = o.indexOf('=');
    const key = eq < 0 ? o : o.slice(0, eq);
    const val = eq < 0 ? '' : o.slice(eq + 1);
    if (key in FLAG_OPTS && eq < 0) {
      const [bit, set] = FLAG_OPTS[key]!;
      flags = set ? flags | bit : flags & ~bit;
    } else if (key === 'lowerdir') {
      if (!val) throw new UsageError('lowerdir= is empty');
      lowers = splitLower(val);
      if (lowers.some((l) => l === '')) throw new UsageError(`lowerdir '${val}' has an empty entry`);
    } else if (key === 'upperdir') {
      if (!val) throw new UsageError('upperdir= is empty');
      upper = unescape(val);
    } else if (key === 'workdir') {
      if (!val) throw new UsageError('workdir= is empty');
      work = unescape(val);
    } else if (key in OVERLAY_VALUES) {
      if (!OVERLAY_VALUES[key]!.includes(val)) throw new UsageError(`bad value for ${key}: '${val}' (one of ${OVERLAY_VALUES[key]!.join(', ')})`);
    } else if (key === 'passthrough') {
      if (val !== 'on' && val !== 'off') throw new UsageError(`bad value for passthrough: '${val}' (on or off)`);
      passthrough = val === 'on';
    } else if (key === 'uring') uring = uringMode(key, val);
    else if (key === 'volatile' && eq < 0) volatile = true;
    else if (key === 'entry_timeout') entryTimeout = seconds(key, val);
    else if (key === 'attr_timeout') attrTimeout = seconds(key, val);
    else if (key === 'negative_timeout') negativeTimeout = seconds(key, val);
    else if (key === 'log') {
      if (!val) throw new UsageError('log= is empty');
      logFile = path.resolve(val);
    } else if (key === 'debug' && eq < 0) { debug = true; foreground = true; }
    else if (key === 'userxattr' && eq < 0) userxattr = true;
    else if (key === 'allow_other' && eq < 0) allowOther = true;
    else if (key === 'uidmapping') uidRanges = ranges(key, val);
    else if (key === 'gidmapping') gidRanges = ranges(key, val);
    else if (key === 'squash_to_root' && eq < 0) squashRoot = true;
    else if (key === 'squash_to_uid') squashUid = id(key, val);
    else if (key === 'squash_to_gid') squashGid = id(key, val);
    else if (key === 'fsync') {
      if (val !== '0' && val !== '1') throw new UsageError(`bad value for fsync: '${val}' (0 or 1)`);
      noSync = val === '0'; // fuse-overlayfs's: no syncs, but no volatile marker either
    } else if (key === 'static_nlink' && eq < 0) staticNlink = true;
    else if (key === 'noacl' && eq < 0) acl = false;
    else if (key === 'timeout') {
      entryTimeout = seconds(key, val);
      attrTimeout = entryTimeout;
    } else if (FUSE_OVERLAYFS_TUNING.has(key)) {
      if (!/^\d+$/.test(val)) throw new UsageError(`bad value for ${key}: '${val}' (a number expected)`);
    } else if (key === 'noxattrs') zeroOnly(key, val, 'strata-fs always serves xattrs; leave the option out');
    else if (key === 'xattr_permissions') zeroOnly(key, val, 'strata-fs keeps owners and modes in the files themselves; remove force_mask from storage.conf');
    else if (key === 'plugins') {
      if (val !== '') throw new UsageError(`plugins=${val}: strata-fs has no plugins (fuse-overlayfs's layer plugins); leave the option out`);
    } else if (key === 'aufs_whiteouts') {
      if (val !== 'on' && val !== 'off' && val !== 'auto') throw new UsageError(`bad value for aufs_whiteouts: '${val}' (on, off or auto)`);
      aufsWhiteouts = val === 'auto' ? undefined : val === 'on';
    }
    else if ((IGNORED.has(key) && eq < 0) || IGNORED_VALUED.has(key) || key.startsWith('x-')) { /* compatible no-op */ }
    else throw new UsageError(`unknown option '${o}'`);
  }
  if (!lowers) throw new UsageError('missing lowerdir=');
  // squash_to_uid/gid take precedence over squash_to_root, as in fuse-overlayfs
  const uids = new IdMap(uidRanges, squashUid ?? (squashRoot ? 0 : null));
  const gids = new IdMap(gidRanges, squashGid ?? (squashRoot ? 0 : null));
  const lowerAbs = lowers.map((l) => requireDir('lowerdir', l));
  if ((upper === undefined) !== (work === undefined)) throw new UsageError('upperdir and workdir go together: give both or neither');
  let upperAbs: string | undefined;
  let workAbs: string | undefined;
  if (upper !== undefined && work !== undefined) {
    upperAbs = requireDir('upperdir', upper);
    workAbs = requireDir('workdir', work);
    if (fs.statSync(upperAbs).dev !== fs.statSync(workAbs).dev) throw new UsageError(`workdir '${work}' is not on the same filesystem as upperdir '${upper}'`);
    if (inside(upperAbs, workAbs) || inside(workAbs, upperAbs)) throw new UsageError('workdir and upperdir must not contain each other');
    for (const l of lowerAbs) {
      if (inside(upperAbs, l) || inside(l, upperAbs)) throw new UsageError(`upperdir '${upper}' overlaps lowerdir '${l}'`);
    }
    try {
      fs.accessSync(upperAbs, fs.constants.W_OK);
      fs.accessSync(workAbs, fs.constants.W_OK);
    } catch (e) {
      throw new UsageError(`upperdir/workdir not writable: ${(e as Error).message}`);
    }
  }
  return {
    opts: {
      lowers: lowerAbs, upper: upperAbs, work: workAbs, mountpoint, source, flags, passthrough,
      volatile, noSync, entryTimeout, attrTimeout, negativeTimeout, debug, staticNlink, acl, aufsWhiteouts, userxattr, allowOther, uids, gids, uring,
    },
    foreground,
    logFile,
  };
}

/** uring=auto|on|off (and STRATA_FS_URING, its default) */
function uringMode(key: string, val: string): 'auto' | 'on' | 'off' {
  if (val !== 'auto' && val !== 'on' && val !== 'off') throw new UsageError(`bad value for ${key}: '${val}' (auto, on or off)`);
  return val;
}

/** Where a detached daemon logs unless told: /run/strata-fs.log, else (not root, or root
 *  of a user namespace, who may not write there) the user's runtime directory; else
 *  nowhere: a daemon must not fail for want of a log. */
function defaultLog(): (msg: string) => void {
  const candidates = ['/run/strata-fs.log'];
  if (process.env.XDG_RUNTIME_DIR) candidates.push(path.join(process.env.XDG_RUNTIME_DIR, 'strata-fs.log'));
  for (const c of candidates) {
    try {
      return openLog(c);
    } catch {
      /* the next one */
    }
  }
  return () => {};
}

function openLog(file: string | null): (msg: string) => void {
  if (!file) return (msg) => process.stderr.write(msg.endsWith('\n') ? msg : msg + '\n');
  const fd = fs.openSync(file, 'a', 0o600);
  return (msg) => {
    fs.writeSync(fd, `${new Date().toISOString()} [${process.pid}] ${msg}${msg.endsWith('\n') ? '' : '\n'}`);
  };
}

async function runDaemon(p: Parsed, toParent: ((m: DaemonReport) => void) | null): Promise<number> {
  let log: (msg: string) => void;
  try {
    log = p.logFile || !toParent ? openLog(p.logFile) : defaultLog();
  } catch (e) {
    const msg = `log ${p.logFile}: ${(e as Error).message}`;
    if (toParent) toParent({ error: msg });
    else process.stderr.write(`strata-fs: ${msg}\n`);
    return 1;
  }
  let running;
  try {
    running = serve(p.opts, log);
  } catch (e) {
    const msg = `mount ${p.opts.mountpoint}: ${(e as Error).message}`;
    if (toParent) toParent({ error: msg });
    else process.stderr.write(`strata-fs: ${msg}\n`);
    return 1;
  }
  const stop = (): void => {
    try {
      running.unmount(false);
    } catch (e) {
      log(`strata-fs: unmount failed: ${(e as Error).message}`);
    }
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.on('SIGHUP', () => {});
  if (toParent) toParent({ ok: true });
  const err = await running.ended;
  if (err) log(`strata-fs: session ended: ${err}`);
  return err ? 1 : 0;
}

export async function main(argv: string[]): Promise<number> {
  // started by launchDaemon: the one message to the waiting starter, then on our own
  const toStarter = process.env[DAEMON_ENV] === '1' && process.send
    ? (m: DaemonReport): void => {
      process.send!(m);
      process.disconnect();
    }
    : null;
  let parsed: Parsed;
  try {
    parsed = parseArgs(argv);
  } catch (e) {
    if (e instanceof UsageError) {
      if (toStarter) {
        toStarter({ error: e.message || 'no mount options given' });
        return 2;
      }
      if (e.message) process.stderr.write(`strata-fs: ${e.message}\n`);
      else process.stdout.write(USAGE + '\n');
      return e.message ? 2 : 0;
    }
    throw e;
  }
  if (toStarter) return runDaemon(parsed, toStarter);
  if (parsed.foreground) return runDaemon(parsed, null);
  try {
    // child_process is for the starter only, not the daemon it starts
    const { launchDaemon } = await import('../launch');
    // a mounted descriptor (/dev/fd/N) goes down to the daemon under the same number
    const given = mountedFdOf(parsed.opts.mountpoint);
    if (given !== null) checkFuseFd(given);
    await launchDaemon(argv, given === null ? {} : { fds: { [given]: given } });
    return 0;
  } catch (e) {
    process.stderr.write(`strata-fs: ${(e as Error).message}\n`);
    return 1;
  }
}
