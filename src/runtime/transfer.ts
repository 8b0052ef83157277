// Files in and out of a container through its union mount (so a write copies up, as a
// process in the container would see it): cp both ways, and export of the whole merged
// tree. A container that is not mounted is mounted for the operation and unmounted after.
// Paths inside the container resolve inside its root (an absolute symlink in the image
// means the container's /, never the host's).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import type { Store, ContainerRecord } from '../store/store';
import { isMounted, mountContainer, mountHealth, umountContainer } from '../store/containers';
import { resolveInRoot } from './rootfs';

/** Runs fn with the container's merged tree mounted somewhere; call under the store's lock. */
export async function withMounted<T>(store: Store, c: ContainerRecord, fn: (root: string) => Promise<T>): Promise<T> {
  const m = isMounted(store, c);
  if (m && mountHealth(m.mountpoint) === 'live') return fn(m.mountpoint);
  const st = await mountContainer(store, c, undefined, 'strata-fs');
  try {
    return await fn(st.mountpoint);
  } finally {
    umountContainer(store, c);
  }
}

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} failed: ${(r.stderr || '').trim().split('\n')[0]}`);
}

/** docker cp CONTAINER:SRC DEST: DEST an existing directory receives SRC inside it. */
export function copyOut(root: string, ctrPath: string, hostDest: string): void {
  const src = resolveInRoot(root, ctrPath, false);
  if (!fs.existsSync(src) && !isLink(src)) throw new Error(`no such file or directory in the container: ${ctrPath}`);
  // -a: no symlink in the container's tree is followed; modes, owners, times, xattrs kept
  run('cp', ['-a', '--', src, hostDest]);
}

function isLink(p: string): boolean {
  try {
    return fs.lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

/**
 * docker cp SRC CONTAINER:DEST. Walked here rather than by cp(1): every name is resolved
 * inside the root again, so a symlink the container has where the source has a directory
 * is replaced, never followed out of the container.
 */
export function copyIn(root: string, hostSrc: string, ctrPath: string): void {
  const st = fs.lstatSync(hostSrc);
  const dest = resolveInRoot(root, ctrPath, true);
  let target = ctrPath;
  try {
    if (fs.statSync(dest).isDirectory()) target = path.posix.join(ctrPath, path.basename(hostSrc));
  } catch {
    const parent = resolveInRoot(root, path.posix.dirname(ctrPath.replace(/\/+$/, '') || '/'), true);
    if (!fs.existsSync(parent)) throw new Error(`no such directory in the container: ${path.posix.dirname(ctrPath)}`);
  }
  copyEntry(root, hostSrc, st, target);
}

function copyEntry(root: string, src: string, st: fs.Stats, ctrPath: string): void {
  const dest = resolveInRoot(root, ctrPath, false);
  let cur: fs.Stats | null = null;
  try {
    cur = fs.lstatSync(dest);
  } catch {
    /* new */
  }
  if (cur && !(st.isDirectory() && cur.isDirectory())) fs.rmSync(dest, { recursive: true, force: true });
  if (st.isDirectory()) {
    if (!cur || !cur.isDirectory()) fs.mkdirSync(dest);
    for (const e of fs.readdirSync(src)) copyEntry(root, path.join(src, e), fs.lstatSync(path.join(src, e)), path.posix.join(ctrPath, e));
    fs.chmodSync(dest, st.mode & 0o7777);
  } else if (st.isSymbolicLink()) {
    fs.symlinkSync(fs.readlinkSync(src), dest);
  } else if (st.isFile()) {
    fs.copyFileSync(src, dest);
    fs.chmodSync(dest, st.mode & 0o7777);
  } else {
    throw new Error(`cannot copy ${src}: only files, directories and symlinks can be copied into a container`);
  }
  try {
    fs.lchownSync(dest, st.uid, st.gid);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') throw e; // not root: the files are ours
  }
  fs.lutimesSync(dest, st.atime, st.mtime);
}

/** docker export: the merged tree as one uncompressed tar on out. */
export async function exportTree(root: string, out: NodeJS.WritableStream): Promise<void> {
  const tar = spawn('tar', ['--numeric-owner', '--xattrs', '--xattrs-include=*', '--acls', '--sparse', '-C', root, '-cf', '-', '.'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  tar.stderr.on('data', (d: Buffer) => (err += d.toString()));
  tar.stdout.pipe(out, { end: false });
  const code = await new Promise<number | null>((res, rej) => {
    tar.on('error', rej);
    tar.on('close', res);
  });
  if (code !== 0) throw new Error(`tar failed: ${err.trim().split('\n')[0]}`);
}
