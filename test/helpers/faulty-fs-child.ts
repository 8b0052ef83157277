// A tiny read-only FUSE filesystem for the fault tests: a passthrough of a real directory
// that answers EIO to chosen operations on chosen names, so that a layer below strata-fs
// really returns EIO from the kernel (there is no device-mapper here for dm-error).
// Served by strata's own FUSE session; every injected error is appended to REPORT as a
// line "<op> <name>" (a file, not stdout: a test blocked in a syscall on this mount would
// read a pipe only later).
//
// usage: node faulty-fs-child.js SRC MNT REPORT '{"read":["bad"],"lookup":["gone"],"getattr":[]}'
// Prints "ready" once mounted; exits when the mount goes away.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FuseSession } from '../../src/fuse/session';
import type { Attr, Caller, DirEntry, Entry, FileSystem, Opened, StatFs } from '../../src/fuse/types';
import { native } from '../../src/native';

export interface Faults {
  read?: string[];
  lookup?: string[];
  getattr?: string[];
}

const MS_RDONLY = 1;
const O_ACCMODE = 3;
const ROOT = 1;

function errno(code: string): Error {
  return Object.assign(new Error(code), { code });
}

function attrOf(st: fs.BigIntStats): Attr {
  const t = (ns: bigint): [number, number] => [Number(ns / 1_000_000_000n), Number(ns % 1_000_000_000n)];
  const [atime, atimeNs] = t(st.atimeNs);
  const [mtime, mtimeNs] = t(st.mtimeNs);
  const [ctime, ctimeNs] = t(st.ctimeNs);
  return {
    ino: Number(st.ino), size: Number(st.size), blocks: Number(st.blocks), atime, atimeNs, mtime, mtimeNs, ctime, ctimeNs,
    mode: Number(st.mode), nlink: Number(st.nlink), uid: Number(st.uid), gid: Number(st.gid), rdev: Number(st.rdev),
  };
}

function dtype(d: fs.Dirent): number {
  return d.isDirectory() ? 4 : d.isSymbolicLink() ? 10 : d.isFile() ? 8 : d.isFIFO() ? 1 : d.isSocket() ? 12 : d.isCharacterDevice() ? 2 : d.isBlockDevice() ? 6 : 0;
}

class FaultyFs implements FileSystem {
  private readonly nodes = new Map<number, { p: string; refs: number }>();
  private readonly byPath = new Map<string, number>();
  private readonly files = new Map<number, { fd: number; name: string }>();
  private readonly dirs = new Map<number, string>();
  private next = 2;

  constructor(root: string, private readonly faults: Faults, private readonly report: string) {
    this.nodes.set(ROOT, { p: root, refs: 1 });
  }

  private inject(op: keyof Faults, p: string): void {
    const name = path.basename(p);
    if (this.faults[op]?.includes(name)) {
      fs.appendFileSync(this.report, `${op} ${name}\n`);
      throw errno('EIO');
    }
  }

  private pathOf(nodeid: number): string {
    const n = this.nodes.get(nodeid);
    if (!n) throw errno('ESTALE');
    return n.p;
  }

  lookup(_c: Caller, parent: number, name: Buffer): Entry {
    const p = path.join(this.pathOf(parent), name.toString());
    this.inject('lookup', p);
    const attr = attrOf(fs.lstatSync(p, { bigint: true }));
    let nodeid = this.byPath.get(p);
    if (nodeid === undefined) {
      nodeid = this.next++;
      this.byPath.set(p, nodeid);
      this.nodes.set(nodeid, { p, refs: 0 });
    }
    this.nodes.get(nodeid)!.refs++;
    return { nodeid, attr };
  }

  forget(nodeid: number, n: number): void {
    const node = this.nodes.get(nodeid);
    if (!node || nodeid === ROOT) return;
    node.refs -= n;
    if (node.refs <= 0) {
      this.nodes.delete(nodeid);
      this.byPath.delete(node.p);
    }
  }

  getattr(_c: Caller, nodeid: number): Attr {
    const p = this.pathOf(nodeid);
    this.inject('getattr', p);
    return attrOf(fs.lstatSync(p, { bigint: true }));
  }

  open(_c: Caller, nodeid: number, flags: number): Opened {
    if ((flags & O_ACCMODE) !== fs.constants.O_RDONLY) throw errno('EROFS');
    const p = this.pathOf(nodeid);
    const fh = this.next++;
    this.files.set(fh, { fd: fs.openSync(p, 'r'), name: p });
    // no fd in the answer: every READ comes to read() below, where the fault is
    return { fh };
  }

  read(fh: number, offset: number, size: number): Buffer {
    const f = this.files.get(fh);
    if (!f) throw errno('EBADF');
    this.inject('read', f.name);
    const b = Buffer.allocUnsafe(size);
    return b.subarray(0, fs.readSync(f.fd, b, 0, size, offset));
  }

  release(fh: number): void {
    const f = this.files.get(fh);
    this.files.delete(fh);
    if (f) fs.closeSync(f.fd);
  }

  opendir(_c: Caller, nodeid: number): number {
    const fh = this.next++;
    this.dirs.set(fh, this.pathOf(nodeid));
    return fh;
  }

  readdir(_nodeid: number, fh: number): DirEntry[] {
    const p = this.dirs.get(fh);
    if (p === undefined) throw errno('EBADF');
    return fs.readdirSync(p, { withFileTypes: true }).map((d) => ({
      name: Buffer.from(d.name),
      ino: Number(fs.lstatSync(path.join(p, d.name), { bigint: true }).ino),
      type: dtype(d),
    }));
  }

  releasedir(fh: number): void {
    this.dirs.delete(fh);
  }

  readlink(_c: Caller, nodeid: number): Buffer {
    return fs.readlinkSync(this.pathOf(nodeid), { encoding: 'buffer' });
  }

  statfs(): StatFs {
    const s = fs.statfsSync(this.pathOf(ROOT));
    return { blocks: s.blocks, bfree: s.bfree, bavail: s.bavail, files: s.files, ffree: s.ffree, bsize: s.bsize, namelen: 255, frsize: s.bsize };
  }

  getxattr(): Buffer {
    throw errno('ENODATA');
  }

  listxattr(): Buffer {
    return Buffer.alloc(0);
  }

  fsync(): void {}
  destroy(): void {}

  setattr(): Attr { throw errno('EROFS'); }
  symlink(): Entry { throw errno('EROFS'); }
  mknod(): Entry { throw errno('EROFS'); }
  mkdir(): Entry { throw errno('EROFS'); }
  unlink(): void { throw errno('EROFS'); }
  rmdir(): void { throw errno('EROFS'); }
  rename(): void { throw errno('EROFS'); }
  link(): Entry { throw errno('EROFS'); }
  create(): { entry: Entry; opened: Opened } { throw errno('EROFS'); }
  write(): number { throw errno('EROFS'); }
  setxattr(): void { throw errno('EROFS'); }
  removexattr(): void { throw errno('EROFS'); }
  fallocate(): void { throw errno('EROFS'); }
  lseek(): number { throw errno('ENOSYS'); }
  copyFileRange(): number { throw errno('ENOSYS'); }
}

function main(): void {
  const [src, mnt, report, spec] = process.argv.slice(2);
  if (!src || !mnt || !report) throw new Error('usage: faulty-fs-child SRC MNT REPORT [FAULTS-JSON]');
  const faults = JSON.parse(spec ?? '{}') as Faults;
  const fd = native.openFuse();
  native.mount('faulty', mnt, 'fuse.strata-faulty', MS_RDONLY, `fd=${fd},rootmode=40000,user_id=0,group_id=0,allow_other,default_permissions`);
  const session = new FuseSession(fd, new FaultyFs(path.resolve(src), faults, report), {
    // no caching: every access above reaches this process, and so its faults
    entryTimeout: 0, attrTimeout: 0, negativeTimeout: 0,
    passthrough: false, cacheDirs: false, debug: false,
    log: (m) => process.stderr.write(m + '\n'),
  });
  session.onEnd = (err) => {
    if (err) process.stderr.write(`faulty-fs: ${err}\n`);
    process.exit(err ? 1 : 0);
  };
  session.start();
  process.stdout.write('ready\n');
}

main();
