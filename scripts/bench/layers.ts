import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { isOpaque, lstatOrNull } from '../../src/image/lower';
import { devMajor, devMinor, lchown, lgetxattr, llistxattr, lremovexattr, lsetxattr, mknod, native, setTimesNs } from '../../src/native';
import { isWhiteout } from '../../src/union/format';

/**
 * Laying overlay-format layer directories (whiteouts are 0/0 character devices, opaque
 * directories carry trusted.overlay.opaque=y) down as plain trees, for the drivers that
 * have no union: btrfs (each layer a snapshot of the one below with the layer applied)
 * and vfs (a full copy). The result must read like kernel overlayfs's merged view of the
 * same layers: test/bench-layers.test.ts checks it against a real overlay mount.
 */

const SLASH = Buffer.from('/');
/** overlayfs's own bookkeeping (opaque, redirect, origin): it means nothing in a plain tree. */
const OVERLAY_XATTRS = 'trusted.overlay.';

function join(dir: Buffer, name: Buffer): Buffer {
  return Buffer.concat([dir, SLASH, name]);
}

function remove(p: Buffer): void {
  // rmSync never follows a symlink it removes, so nothing outside the target is touched.
  fs.rmSync(p, { recursive: true, force: true });
}

function emptyDir(dir: Buffer): void {
  for (const name of fs.readdirSync(dir, { encoding: 'buffer' })) remove(join(dir, name));
}

function copyData(src: Buffer, dst: Buffer, st: fs.BigIntStats): void {
  const fin = fs.openSync(src, 'r');
  try {
    const fout = fs.openSync(dst, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
    try {
      // Keeps holes: the fixtures have a sparse file, and a driver's copy of it should too.
      native.copySparse(fin, fout, st.size);
    } finally {
      fs.closeSync(fout);
    }
  } finally {
    fs.closeSync(fin);
  }
}

/** Owner, mode, xattrs (exactly the source's) and times; in that order, as chown clears set-id bits and capabilities. */
function copyMeta(src: Buffer, dst: Buffer, st: fs.BigIntStats): void {
  lchown(dst, Number(st.uid), Number(st.gid));
  if (!st.isSymbolicLink()) fs.chmodSync(dst, Number(st.mode & 0o7777n));
  const names = llistxattr(src).filter((n) => !n.startsWith(OVERLAY_XATTRS));
  const keep = new Set(names);
  // A directory that was already there keeps the xattrs of the layer below unless removed.
  for (const n of llistxattr(dst)) if (!keep.has(n)) lremovexattr(dst, n);
  for (const n of names) {
    const v = lgetxattr(src, n);
    if (v !== null) lsetxattr(dst, n, v);
  }
  setTimesNs(dst, st.atimeNs, st.mtimeNs);
}

type Links = Map<string, Buffer>;

function copyEntry(src: Buffer, dst: Buffer, st: fs.BigIntStats, links: Links): void {
  if (st.isFile()) {
    const key = `${st.dev}:${st.ino}`;
    const first = st.nlink > 1n ? links.get(key) : undefined;
    if (first) {
      fs.linkSync(first, dst);
      return;
    }
    copyData(src, dst, st);
    if (st.nlink > 1n) links.set(key, dst);
  } else if (st.isSymbolicLink()) {
    fs.symlinkSync(fs.readlinkSync(src, { encoding: 'buffer' }), dst);
  } else {
    const rdev = Number(st.rdev);
    mknod(dst, Number(st.mode), devMajor(rdev), devMinor(rdev));
  }
  copyMeta(src, dst, st);
}

/**
 * Applies the entries of one layer directory onto dst, a real directory. Depth first, a
 * parent before its children, so that by the time a child's name is looked at in the
 * target its parent there is a real directory (never a symlink that leads elsewhere).
 */
function applyDir(src: Buffer, dst: Buffer, links: Links): void {
  for (const name of fs.readdirSync(src, { encoding: 'buffer' })) {
    const s = join(src, name);
    const d = join(dst, name);
    const st = fs.lstatSync(s, { bigint: true });
    const there = lstatOrNull(d);
    if (isWhiteout(st)) {
      if (there) remove(d);
      continue;
    }
    if (!st.isDirectory()) {
      if (there) remove(d);
      copyEntry(s, d, st, links);
      continue;
    }
    if (there && !there.isDirectory()) remove(d);
    if (!there || !there.isDirectory()) fs.mkdirSync(d);
    else if (isOpaque(s)) emptyDir(d);
    applyDir(s, d, links);
    copyMeta(s, d, st);
  }
}

/**
 * Makes target (a copy or snapshot of the layers below) read as the union of those
 * layers with this one on top: whiteouts become deletions, opaque directories are emptied
 * before the layer's own entries go in, anything else replaces what was there (a
 * directory merges). Hard links within the layer stay links.
 */
export function applyLayer(layer: string, target: string): void {
  const src = Buffer.from(layer);
  const dst = Buffer.from(target);
  applyDir(src, dst, new Map());
  copyMeta(src, dst, fs.lstatSync(src, { bigint: true }));
}

/** A directory name for a stack of layer dirs (bottom first): the same dirs, the same name. */
export function stackId(bottomFirst: string[]): string {
  return createHash('sha256').update(bottomFirst.join('\0')).digest('hex').slice(0, 16);
}
