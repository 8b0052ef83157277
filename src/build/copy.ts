// COPY and ADD into a build container's mounted root: destinations resolved inside the
// root (its symlinks followed there, never to the host), docker's rules for files,
// directories (their contents), several sources (the destination must be a directory),
// --chown and --chmod; ADD extracts local tar archives and fetches URLs.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { spawn, spawnSync } from 'node:child_process';
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { resolveInRoot } from '../runtime/rootfs';
import { hostId, inUserNamespace } from '../userns';
import type { BuildContext } from './context';

export interface Owner {
  uid: number;
  gid: number;
}

export interface CopyOptions {
  owner: Owner | null;
  chmod: number | null;
}

/**
 * Gives a path in the build container's mounted root the owner the image knows (0..N).
 * As root the mount shows those IDs. In a user's store it shows the host's (the daemon maps
 * them, see userns.ts): the user's own IDs for the image's root, which the user's files
 * already have; any other owner only root of the user's namespace may give. Those are
 * given at the end of the step (ownersGiven), in one child in the namespace, so that the
 * chmod and times that follow a chown here still find the user's own file.
 */
let lchown: (p: string, uid: number, gid: number) => void = fs.lchownSync;
let pending: Array<[string, number, number]> = [];

export function ownersThroughUserNamespace(): void {
  lchown = (p, uid, gid) => {
    const hu = hostId(uid, 'uid');
    const hg = hostId(gid, 'gid');
    if (hu === null || hg === null) throw new Error(`the owner ${uid}:${gid} is outside your subordinate ID ranges (/etc/subuid, /etc/subgid): give an owner inside them, add a larger range, or run as root`);
    try {
      fs.lchownSync(p, hu, hg); // the image's root: the user's own IDs
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EPERM') throw e;
      pending.push([p, uid, gid]);
    }
  };
}

/** Gives what ownersThroughUserNamespace deferred (nothing as root): lchown, then the mode
 *  again (a chown clears set-user-ID and set-group-ID bits). */
export function ownersGiven(): void {
  if (!pending.length) return;
  const job = pending;
  pending = [];
  const argv = inUserNamespace([process.execPath, __filename]);
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', input: JSON.stringify(job), stdio: ['pipe', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`cannot give the copied files their owners in your user namespace: ${(r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n').pop()}`);
}

function childMain(): void {
  try {
    const job = JSON.parse(fs.readFileSync(0, 'utf8')) as Array<[string, number, number]>;
    for (const [p, uid, gid] of job) {
      const st = fs.lstatSync(p);
      fs.lchownSync(p, uid, gid);
      if (!st.isSymbolicLink()) fs.chmodSync(p, st.mode & 0o7777);
    }
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    process.exitCode = 1;
  }
}

if (require.main === module) childMain();

/** mkdir -p inside root; new directories 0755, owned by root or the --chown owner (as buildah and BuildKit make them). */
export function mkdirInRoot(root: string, dir: string, owner: Owner | null = null): string {
  const parts = dir.split('/').filter((p) => p && p !== '.');
  let cur = '/';
  for (let i = 0; i < parts.length; i++) {
    cur = path.posix.join(cur, parts[i]);
    const host = resolveInRoot(root, cur);
    let st: fs.Stats | null = null;
    try {
      st = fs.statSync(host);
    } catch {
      /* missing */
    }
    if (st && !st.isDirectory()) throw new Error(`${cur} is not a directory`);
    if (!st) {
      fs.mkdirSync(host, { mode: 0o755 });
      fs.chmodSync(host, 0o755);
      if (owner) lchown(host, owner.uid, owner.gid);
    }
  }
  return resolveInRoot(root, dir);
}

function isDirIn(root: string, p: string): boolean {
  try {
    return fs.statSync(resolveInRoot(root, p)).isDirectory();
  } catch {
    return false;
  }
}

/** Copies one context entry (already checked to be inside the context) to host path `to`. */
function copyEntry(src: string, st: fs.Stats, to: string, o: CopyOptions): void {
  try {
    const old = fs.lstatSync(to);
    if (!(old.isDirectory() && st.isDirectory())) fs.rmSync(to, { recursive: true, force: true });
  } catch {
    /* new */
  }
  const uid = o.owner?.uid ?? 0;
  const gid = o.owner?.gid ?? 0;
  if (st.isDirectory()) {
    if (!fs.existsSync(to)) fs.mkdirSync(to);
    lchown(to, uid, gid);
    fs.chmodSync(to, o.chmod ?? st.mode & 0o7777);
  } else if (st.isSymbolicLink()) {
    fs.symlinkSync(fs.readlinkSync(src), to);
    lchown(to, uid, gid);
  } else if (st.isFile()) {
    fs.copyFileSync(src, to);
    lchown(to, uid, gid);
    fs.chmodSync(to, o.chmod ?? st.mode & 0o7777);
  } else return; // devices, fifos, sockets: docker copies none from a context
  fs.lutimesSync(to, st.atime, st.mtime);
}

/** COPY/ADD of local sources (context paths, or paths of a --from root) to dest in root. */
export function copySources(ctx: BuildContext, sources: string[], root: string, dest: string, multi: boolean, o: CopyOptions): void {
  const destIsDir = dest.endsWith('/') || multi || isDirIn(root, dest);
  if (multi && !dest.endsWith('/')) throw new Error('When using COPY with more than one source file, the destination must be a directory and end with a /');
  const dirTimes: Array<[string, fs.Stats]> = [];
  for (const src of sources) {
    const st = fs.statSync(src); // the source itself is followed (resolved inside the context)
    let target: string;
    if (st.isDirectory()) target = mkdirInRoot(root, dest, o.owner);
    else if (destIsDir) target = path.join(mkdirInRoot(root, dest, o.owner), ctx.names.get(src) ?? path.basename(src));
    else {
      mkdirInRoot(root, path.posix.dirname(dest), o.owner);
      target = resolveInRoot(root, dest);
    }
    ctx.walk(src, (abs, rel, est) => {
      if (rel === '') {
        if (!est.isDirectory()) copyEntry(abs, fs.statSync(abs), target, o);
        return;
      }
      const to = path.join(target, rel);
      copyEntry(abs, est, to, o);
      if (est.isDirectory()) dirTimes.push([to, est]);
    });
  }
  // a directory's mtime changes as its entries are made: set them again, deepest first
  for (const [to, st] of dirTimes.reverse()) fs.lutimesSync(to, st.atime, st.mtime);
}

/** What kind of archive a file is, by its magic bytes (ADD extracts these). */
export function archiveKind(file: string): 'gzip' | 'bzip2' | 'xz' | 'zstd' | 'tar' | null {
  const b = Buffer.alloc(512);
  let n = 0;
  try {
    const fd = fs.openSync(file, 'r');
    n = fs.readSync(fd, b, 0, 512, 0);
    fs.closeSync(fd);
  } catch {
    return null;
  }
  if (n >= 2 && b[0] === 0x1f && b[1] === 0x8b) return 'gzip';
  if (n >= 3 && b.subarray(0, 3).toString('latin1') === 'BZh') return 'bzip2';
  if (n >= 6 && b.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  if (n >= 4 && b.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  if (n >= 262 && b.subarray(257, 262).toString('latin1') === 'ustar') return 'tar';
  return null;
}

function decompressed(file: string, kind: NonNullable<ReturnType<typeof archiveKind>>): Readable {
  const raw = fs.createReadStream(file);
  if (kind === 'tar') return raw;
  if (kind === 'gzip') return raw.pipe(zlib.createGunzip());
  const tool = kind === 'bzip2' ? 'bzip2' : kind === 'xz' ? 'xz' : 'zstd';
  const p = spawn(tool, ['-dc', file], { stdio: ['ignore', 'pipe', 'ignore'] });
  raw.destroy();
  return p.stdout;
}

/** ADD of a local archive: its entries extracted under dest, each path resolved inside root. */
export async function extractArchive(file: string, kind: NonNullable<ReturnType<typeof archiveKind>>, root: string, dest: string): Promise<void> {
  const base = mkdirInRoot(root, dest);
  const baseRel = path.relative(root, base);
  const ex = tar.extract();
  const dirTimes: Array<[string, Date]> = [];
  ex.on('entry', (h, stream, next) => {
    const fail = (e: Error) => ex.destroy(e);
    try {
      const name = path.posix.normalize(h.name).replace(/^(\.\/)+/, '').replace(/\/+$/, '');
      if (name === '.' || name === '') {
        stream.resume();
        stream.on('end', next);
        return;
      }
      if (name.startsWith('../') || name === '..' || path.posix.isAbsolute(h.name) && name.split('/').includes('..')) throw new Error(`archive entry ${h.name} leaves the destination`);
      const parent = mkdirInRoot(root, path.posix.join('/', baseRel, path.posix.dirname(name)));
      const to = path.join(parent, path.posix.basename(name));
      const mode = (h.mode ?? 0o644) & 0o7777;
      const existing = fs.existsSync(to) ? fs.lstatSync(to) : null;
      if (existing && !(existing.isDirectory() && h.type === 'directory')) fs.rmSync(to, { recursive: true, force: true });
      const finish = () => {
        try {
          if (h.type !== 'symlink') fs.chmodSync(to, mode);
          lchown(to, h.uid ?? 0, h.gid ?? 0);
          if (h.mtime) {
            if (h.type === 'directory') dirTimes.push([to, h.mtime]);
            fs.lutimesSync(to, h.mtime, h.mtime);
          }
        } catch (e) {
          return fail(e as Error);
        }
        next();
      };
      switch (h.type) {
        case 'directory':
          if (!fs.existsSync(to)) fs.mkdirSync(to);
          stream.resume();
          stream.on('end', finish);
          return;
        case 'file':
        case 'contiguous-file': {
          const out = fs.createWriteStream(to, { mode });
          stream.pipe(out);
          out.on('finish', finish);
          out.on('error', fail);
          return;
        }
        case 'symlink':
          fs.symlinkSync(h.linkname ?? '', to);
          stream.resume();
          stream.on('end', finish);
          return;
        case 'link': {
          const target = path.posix.normalize(h.linkname ?? '');
          if (target.startsWith('..')) throw new Error(`archive hard link ${h.name} leaves the destination`);
          fs.linkSync(resolveInRoot(root, path.posix.join('/', baseRel, target), false), to);
          stream.resume();
          stream.on('end', () => next());
          return;
        }
        default:
          stream.resume();
          stream.on('end', next);
      }
    } catch (e) {
      fail(e as Error);
    }
  });
  await new Promise<void>((resolve, reject) => {
    ex.on('finish', resolve);
    ex.on('error', reject);
    const input = decompressed(file, kind);
    input.on('error', reject);
    input.pipe(ex);
  });
  for (const [to, t] of dirTimes.reverse()) fs.lutimesSync(to, t, t);
}

/** ADD of a URL: fetched (http/https) to dest; the file gets mode 0600 and the server's Last-Modified. */
export async function fetchUrl(url: string, root: string, dest: string, o: CopyOptions): Promise<void> {
  let res: Response;
  try {
    res = await fetch(url, { redirect: 'follow', signal: AbortSignal.timeout(30_000) });
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    throw new Error(`cannot fetch ${url}: ${cause?.code ?? cause?.message ?? (e as Error).message}`);
  }
  if (!res.ok) throw new Error(`cannot fetch ${url}: HTTP ${res.status} ${res.statusText}`);
  const body = Buffer.from(await res.arrayBuffer());
  let name = path.posix.basename(new URL(url).pathname);
  if (!name) name = 'download';
  const target = dest.endsWith('/') || isDirIn(root, dest) ? path.join(mkdirInRoot(root, dest, o.owner), name) : (mkdirInRoot(root, path.posix.dirname(dest), o.owner), resolveInRoot(root, dest));
  fs.rmSync(target, { force: true, recursive: true });
  fs.writeFileSync(target, body, { mode: 0o600 });
  fs.chmodSync(target, o.chmod ?? 0o600);
  lchown(target, o.owner?.uid ?? 0, o.owner?.gid ?? 0);
  const lm = res.headers.get('last-modified');
  if (lm && !Number.isNaN(Date.parse(lm))) fs.utimesSync(target, new Date(lm), new Date(lm));
}
