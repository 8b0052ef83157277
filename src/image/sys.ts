// Syscalls Node lacks (ns timestamps, xattrs on symlinks, mknod), behind one small
// adapter so the extractor does not care whether the C addon is built. The addon is
// preferred; the command-line fallbacks keep extraction working (slowly) without it.
import * as fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import { Native, nativeOrNull } from '../native';

export type PathArg = string | Buffer;

const addon: Native | null = process.env.STRATA_NO_ADDON ? null : nativeOrNull();

function asStr(p: PathArg): string {
  return typeof p === 'string' ? p : p.toString('latin1');
}

/** A path for a command line (argv cannot carry arbitrary bytes; UTF-8 names survive). */
function arg(p: PathArg): string {
  return typeof p === 'string' ? p : p.toString('utf8');
}

function sysErr(syscall: string, p: PathArg, e: unknown): Error {
  const msg = (e as Error).message;
  const err = new Error(`${syscall} ${asStr(p)}: ${msg}`) as NodeJS.ErrnoException;
  err.code = (e as NodeJS.ErrnoException).code;
  return err;
}

/** Sets atime and mtime with nanosecond precision, never following a final symlink. */
export function setTimesNs(p: PathArg, atimeNs: bigint, mtimeNs: bigint): void {
  const split = (ns: bigint): [number, number] => {
    let s = ns / 1_000_000_000n;
    let n = ns % 1_000_000_000n;
    if (n < 0n) {
      n += 1_000_000_000n;
      s -= 1n;
    }
    return [Number(s), Number(n)];
  };
  const [as, an] = split(atimeNs);
  const [ms, mn] = split(mtimeNs);
  if (addon) {
    addon.utimensat(p, as, an, ms, mn, true);
    return;
  }
  // touch sets one time per call when given -a or -m
  const fmt = (s: number, n: number) => `@${s}.${String(n).padStart(9, '0')}`;
  const ps = arg(p);
  execFileSync('touch', ['-h', '-a', '-d', fmt(as, an), ps]);
  execFileSync('touch', ['-h', '-m', '-d', fmt(ms, mn), ps]);
}

export function lsetxattr(p: PathArg, name: string, value: Buffer): void {
  if (addon) {
    try {
      addon.lsetxattr(p, Buffer.from(name, 'latin1'), value, 0);
    } catch (e) {
      throw sysErr('lsetxattr', p, e);
    }
    return;
  }
  execFileSync('setfattr', ['-h', '-n', name, '-v', '0x' + value.toString('hex'), arg(p)]);
}

export function lremovexattr(p: PathArg, name: string): void {
  if (addon) {
    addon.lremovexattr(p, Buffer.from(name, 'latin1'));
    return;
  }
  execFileSync('setfattr', ['-h', '-x', name, arg(p)]);
}

/** Value of one xattr, or null if unset. */
export function lgetxattr(p: PathArg, name: string): Buffer | null {
  if (addon) {
    try {
      return addon.lgetxattr(p, Buffer.from(name, 'latin1'));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENODATA' || code === 'ENOTSUP' || code === 'EOPNOTSUPP') return null;
      throw sysErr('lgetxattr', p, e);
    }
  }
  try {
    const out = execFileSync('getfattr', ['-h', '--absolute-names', '-e', 'hex', '-n', name, arg(p)], {
      stdio: ['ignore', 'pipe', 'ignore'],
    }).toString('latin1');
    const m = /=0x([0-9a-f]*)/.exec(out);
    return m ? Buffer.from(m[1], 'hex') : Buffer.alloc(0);
  } catch {
    return null;
  }
}

/** All xattr names of a path (latin1 strings, i.e. raw bytes). */
export function llistxattr(p: PathArg): string[] {
  let raw: Buffer;
  if (addon) {
    try {
      raw = addon.llistxattr(p);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOTSUP' || code === 'EOPNOTSUPP') return [];
      throw sysErr('llistxattr', p, e);
    }
  } else {
    let out = '';
    try {
      out = execFileSync('getfattr', ['-h', '--absolute-names', '-m', '-', arg(p)], {
        stdio: ['ignore', 'pipe', 'ignore'],
      }).toString('latin1');
    } catch {
      return [];
    }
    return out.split('\n').filter((l) => l && !l.startsWith('#'));
  }
  return raw
    .toString('latin1')
    .split('\0')
    .filter((s) => s.length > 0);
}

export function mknod(p: PathArg, mode: number, major: number, minor: number): void {
  const dev = ((major & 0xfff) << 8) | (minor & 0xff) | ((minor & ~0xff) << 12);
  if (addon) {
    try {
      addon.mknod(p, mode, dev);
    } catch (e) {
      throw sysErr('mknod', p, e);
    }
    return;
  }
  const type = (mode & 0o170000) === 0o060000 ? 'b' : (mode & 0o170000) === 0o010000 ? 'p' : 'c';
  const args = ['-m', (mode & 0o7777).toString(8), arg(p), type];
  if (type !== 'p') args.push(String(major), String(minor));
  execFileSync('mknod', args);
}

export function lchown(p: PathArg, uid: number, gid: number): void {
  fs.lchownSync(p, uid, gid);
}

export function devMajor(rdev: number): number {
  return (rdev >>> 8) & 0xfff;
}
export function devMinor(rdev: number): number {
  return (rdev & 0xff) | ((rdev >>> 12) & 0xfff00);
}

export function mountOverlay(target: string, data: string): void {
  if (addon) {
    addon.mount('overlay', target, 'overlay', 0, data);
    return;
  }
  execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', data, target]);
}
