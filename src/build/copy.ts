// COPY and ADD into a build container's mounted root: destinations resolved inside the
// root (its symlinks followed there, never to the host), docker's rules for files,
// directories (their contents), several sources (the destination must be a directory),
// --chown and --chmod; ADD extracts local tar archives and fetches URLs.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { spawn } from 'node:child_process';
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { resolveInRoot } from '../runtime/rootfs';
import type { BuildContext } from './context';

export interface Owner {
  uid: number;
  gid: number;
}

export interface CopyOptions {
  owner: Owner | null;
  chmod: number | null;
}

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
      if (owner) fs.lchownSync(host, owner.uid, owner.gid);
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
    fs.lchownSync(to, uid, gid);
    fs.chmodSync(to, o.chmod ?? st.mode & 0o7777);
  } else if (st.isSymbolicLink()) {
    fs.symlinkSync(fs.readlinkSync(src), to);
    fs.lchownSync(to, uid, gid);
  } else if (st.isFile()) {
    fs.copyFileSync(src, to);
    fs.lchownSync(to, uid, gid);
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
          fs.lchownSync(to, h.uid ?? 0, h.gid ?? 0);
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
  fs.lchownSync(target, o.owner?.uid ?? 0, o.owner?.gid ?? 0);
  const lm = res.headers.get('last-modified');
  if (lm && !Number.isNaN(Date.parse(lm))) fs.utimesSync(target, new Date(lm), new Date(lm));
}

/** A COPY or ADD step's work, as the builder gives it (serializable: see userns-copy.ts). */
export interface CopyStep {
  sources: string[];
  urls: string[];
  isAdd: boolean;
  root: string;
  dest: string;
  multi: boolean;
  opts: CopyOptions;
}

export async function copyStep(srcCtx: BuildContext, j: CopyStep): Promise<void> {
  const plain: string[] = [];
  for (const src of j.sources) {
    const k = j.isAdd && !fs.statSync(src).isDirectory() ? archiveKind(src) : null;
    if (k) await extractArchive(src, k, j.root, j.dest.endsWith('/') ? j.dest : j.dest + '/');
    else plain.push(src);
  }
  if (plain.length) copySources(srcCtx, plain, j.root, j.dest, j.multi, j.opts);
  for (const u of j.urls) await fetchUrl(u, j.root, j.multi ? (j.dest.endsWith('/') ? j.dest : j.dest + '/') : j.dest, j.opts);
}
