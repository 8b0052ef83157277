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
import { inUserNamespace, namespaceAnswer, needsUserNamespace } from '../userns';

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

/**
 * A user's store: the container's files belong to the user's subordinate IDs, which the user
 * alone may not read or write (a 0700 directory of the image's), so cp and export run in the
 * user's namespace (src/userns.ts), where its root may, and sees the owners as the image has
 * them (0..N). What it writes on the host is the user's, what it writes in the container the
 * container root's, as docker and podman rootless give them. Answers one JSON line.
 */
interface Job {
  op: 'in' | 'out';
  root: string;
  from: string;
  to: string;
}

function inNamespace(job: Job): void {
  const argv = inUserNamespace([process.execPath, __filename, JSON.stringify(job)]);
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const end = { code: r.status, signal: r.signal, stdout: r.stdout ?? '', stderr: r.stderr || r.error?.message || '' };
  namespaceAnswer<{ ok?: boolean }>(end, 'the copy', (a) => a.ok === true);
}

/** docker cp CONTAINER:SRC DEST: DEST an existing directory receives SRC inside it. */
export function copyOut(root: string, ctrPath: string, hostDest: string): void {
  if (needsUserNamespace()) return inNamespace({ op: 'out', root, from: ctrPath, to: path.resolve(hostDest) });
  copyOutHere(root, ctrPath, hostDest, true);
}

function copyOutHere(root: string, ctrPath: string, hostDest: string, owners: boolean): void {
  const src = resolveInRoot(root, ctrPath, false);
  if (!fs.existsSync(src) && !isLink(src)) throw new Error(`no such file or directory in the container: ${ctrPath}`);
  // -a: no symlink in the container's tree is followed; modes, owners, times, xattrs kept
  // (the owners only by root: docker gives a user's copy the user)
  run('cp', ['-a', ...(owners ? [] : ['--no-preserve=ownership']), '--', src, hostDest]);
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
  if (needsUserNamespace()) return inNamespace({ op: 'in', root, from: path.resolve(hostSrc), to: ctrPath });
  copyInHere(root, hostSrc, ctrPath, true);
}

function copyInHere(root: string, hostSrc: string, ctrPath: string, owners: boolean): void {
  const st = fs.lstatSync(hostSrc);
  const dest = resolveInRoot(root, ctrPath, true);
  let target = ctrPath;
  try {
    if (fs.statSync(dest).isDirectory()) target = path.posix.join(ctrPath, path.basename(hostSrc));
  } catch {
    const parent = resolveInRoot(root, path.posix.dirname(ctrPath.replace(/\/+$/, '') || '/'), true);
    if (!fs.existsSync(parent)) throw new Error(`no such directory in the container: ${path.posix.dirname(ctrPath)}`);
  }
  copyEntry(root, hostSrc, st, target, owners);
}

function copyEntry(root: string, src: string, st: fs.Stats, ctrPath: string, owners: boolean): void {
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
    for (const e of fs.readdirSync(src)) copyEntry(root, path.join(src, e), fs.lstatSync(path.join(src, e)), path.posix.join(ctrPath, e), owners);
    fs.chmodSync(dest, st.mode & 0o7777);
  } else if (st.isSymbolicLink()) {
    fs.symlinkSync(fs.readlinkSync(src), dest);
  } else if (st.isFile()) {
    fs.copyFileSync(src, dest);
    fs.chmodSync(dest, st.mode & 0o7777);
  } else {
    throw new Error(`cannot copy ${src}: only files, directories and symlinks can be copied into a container`);
  }
  // in a user's namespace: the creator's, root of the container
  if (owners) {
    try {
      fs.lchownSync(dest, st.uid, st.gid);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EPERM') throw e; // not root: the files are ours
    }
  }
  fs.lutimesSync(dest, st.atime, st.mtime);
}

/** docker export: the merged tree as one uncompressed tar on out. */
export async function exportTree(root: string, out: NodeJS.WritableStream): Promise<void> {
  // a user's store: read in the user's namespace (see Job above), the owners the image's
  const wrap = (argv: string[]) => (needsUserNamespace() ? inUserNamespace(argv) : argv);
  const [cmd, ...args] = wrap(['tar','--numeric-owner', '--xattrs', '--xattrs-include=*', '--acls', '--sparse', '-C', root, '-cf', '-', '.']);
  const tar = spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  tar.stderr.on('data', (d: Buffer) => (err += d.toString()));
  tar.stdout.pipe(out, { end: false });
  const code = await new Promise<number | null>((res, rej) => {
    tar.on('error', rej);
    tar.on('close', res);
  });
  if (code !== 0) throw new Error(`tar failed: ${err.trim().split('\n')[0]}`);
}

function childMain(): void {
  const job = JSON.parse(process.argv[2]!) as Job;
  try {
    if (job.op === 'out') copyOutHere(job.root, job.from, job.to, false);
    else copyInHere(job.root, job.from, job.to, false);
    process.stdout.write(JSON.stringify({ ok: true }) + '\n');
  } catch (e) {
    process.stdout.write(JSON.stringify({ error: (e as Error).message }) + '\n');
    process.exitCode = 1;
  }
}

if (require.main === module) childMain();
