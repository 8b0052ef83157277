// Where a store lives, and whether a directory is one. A store is marked by ROOT/strata-store.json
// ({"layout": N}), written when a writing command creates it, so a later command knows the
// directory is a store and which layout it has. A store is only created in a missing or empty
// directory; a non-empty directory without the marker is refused, except a store made before
// markers existed (exactly the known layout), which is adopted: read as it is, marked on its
// first write. Commands that only read never create anything.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';

export const MARKER = 'strata-store.json';
export const LAYOUT_VERSION = 1;

/** The directories every store has (Store.open created them all before markers existed). */
export const STORE_DIRS = ['tmp', 'blobs', 'blobs/sha256', 'layers', 'l', 'images', 'containers'];
const TOP_DIRS = ['tmp', 'blobs', 'layers', 'l', 'images', 'containers'];
/** Anything else a store made by earlier versions may hold at its top. */
const TOP_OTHER = new Set(['lock', 'lock.break', 'repositories.json', 'txn.json', 'config.json', 'runc', MARKER]);
/** Short-lived names: a lock being linked into place, a marker being renamed into place. */
const TRANSIENT = /^(lock(\.break)?\.\d+\.\d+|\.strata-store\.json\.[0-9a-f]+)$/;

export interface Marker {
  layout: number;
  created?: string;
  /** made by a user other than root: its layers carry the union's marks as user.overlay.*
   *  xattrs (overlayfs's userxattr form) and their owners as that user's subordinate IDs */
  userxattr?: boolean;
}

export type RootState =
  | { kind: 'missing' } // nothing there: reads see an empty store, the first write creates it
  | { kind: 'empty' } // an empty directory (or one holding only the store's config.json): same
  | { kind: 'marked'; layout: number }
  | { kind: 'legacy' }; // unmarked, exactly the known layout

/** A filesystem error as one sentence naming the path and the cause. */
export class StoreRootError extends Error {}

const CAUSES: Record<string, string> = {
  EROFS: 'read-only filesystem',
  EACCES: 'permission denied: run as root or use a store you own',
  EPERM: 'operation not permitted: run as root or use a store you own',
  ENOTDIR: 'not a directory',
  EEXIST: 'a file of that name is in the way',
  ENOENT: 'no such file or directory',
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  ELOOP: 'too many levels of symbolic links',
  ENAMETOOLONG: 'file name too long',
  EIO: 'input/output error',
  EMFILE: 'too many open files',
  EBUSY: 'device or resource busy',
  EISDIR: 'is a directory',
};

export function causeOf(e: NodeJS.ErrnoException): string {
  return (e.code && CAUSES[e.code]) ?? (e.code ? e.code.toLowerCase() : e.message);
}

/** "cannot DOING PATH: CAUSE" for an errno error, the error itself otherwise. */
export function fsSentence(e: unknown, doing?: string): string {
  const err = e as NodeJS.ErrnoException;
  if (!err || typeof err !== 'object' || typeof err.code !== 'string' || !/^E[A-Z]+$/.test(err.code)) return (err as Error)?.message ?? String(e);
  const p = err.path ?? '';
  const verb = doing ?? (err.syscall ? `${err.syscall}` : 'use');
  return `cannot ${verb} ${p}${p ? ': ' : ''}${causeOf(err)}`;
}

function rootError(root: string, e: unknown, doing: string): StoreRootError {
  const err = e as NodeJS.ErrnoException;
  const at = err.path && err.path !== root ? ` (${err.path})` : '';
  return new StoreRootError(`cannot ${doing} the store at ${root}${at}: ${causeOf(err)}`);
}

/**
 * mkdir -p with a bound: Node's recursive mkdir retries forever where mkdir(2) keeps
 * returning ENOENT under an existing parent (/proc/x). Each path component is tried once.
 */
export function mkdirs(dir: string, mode = 0o755): void {
  const abs = path.resolve(dir);
  const missing: string[] = [];
  let p = abs;
  for (;;) {
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(p);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    if (st) {
      if (!st.isDirectory()) throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${p}'`), { code: 'ENOTDIR', path: p, syscall: 'mkdir' });
      break;
    }
    missing.push(p);
    const up = path.dirname(p);
    if (up === p) break;
    p = up;
  }
  for (const m of missing.reverse()) {
    try {
      fs.mkdirSync(m, { mode });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || !fs.statSync(m).isDirectory()) throw e;
    }
  }
}

export function readMarker(root: string): Marker | null {
  let text: string;
  try {
    text = fs.readFileSync(path.join(root, MARKER), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw rootError(root, e, 'read');
  }
  let m: Marker;
  try {
    m = JSON.parse(text) as Marker;
  } catch {
    throw new StoreRootError(`${path.join(root, MARKER)} is not valid JSON: the store's marker is damaged (expected {"layout": ${LAYOUT_VERSION}})`);
  }
  if (!m || typeof m !== 'object' || !Number.isInteger(m.layout) || m.layout < 1) throw new StoreRootError(`${path.join(root, MARKER)} has no layout version: the store's marker is damaged (expected {"layout": ${LAYOUT_VERSION}})`);
  return m;
}

function isFile(p: string): boolean {
  try {
    return fs.lstatSync(p).isFile();
  } catch {
    return false;
  }
}

function isDir(p: string): boolean {
  try {
    return fs.lstatSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** What is at ROOT, without changing anything; throws a StoreRootError when it is not usable as a store. */
export function probeRoot(root: string): RootState {
  if (root === '') throw new StoreRootError('the store root is empty: give a directory (--root DIR)');
  let st: fs.Stats;
  try {
    st = fs.statSync(root);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'missing' };
    throw rootError(root, e, 'use');
  }
  if (!st.isDirectory()) throw new StoreRootError(`cannot use the store at ${root}: not a directory`);
  let entries: string[];
  try {
    entries = fs.readdirSync(root);
  } catch (e) {
    throw rootError(root, e, 'read');
  }
  const marker = readMarker(root);
  if (marker) {
    if (marker.layout > LAYOUT_VERSION) throw new StoreRootError(`the store at ${root} has layout ${marker.layout}, newer than this strata knows (${LAYOUT_VERSION}): use a newer strata`);
    return { kind: 'marked', layout: marker.layout };
  }
  const real = entries.filter((f) => !TRANSIENT.test(f));
  if (real.length === 0) return { kind: 'empty' };
  const known = real.every((f) => (TOP_DIRS.includes(f) || f === 'runc' ? isDir(path.join(root, f)) : TOP_OTHER.has(f) && isFile(path.join(root, f))));
  if (known && TOP_DIRS.every((d) => real.includes(d)) && isDir(path.join(root, 'blobs', 'sha256'))) return { kind: 'legacy' };
  // the store's settings written before its first use (README: config.json)
  if (known && real.length === 1 && real[0] === 'config.json') return { kind: 'empty' };
  throw new StoreRootError(`${root} is not a strata store (no ${MARKER}) and not empty: refusing to use it; give an empty or missing directory`);
}

/**
 * Makes ROOT a store ready for writing: creates it (missing or empty), marks a legacy one,
 * adds the directories a marked one lacks. Throws StoreRootError, one sentence, on failure.
 */
export function prepareRoot(root: string): void {
  const state = probeRoot(root);
  const doing = state.kind === 'missing' || state.kind === 'empty' ? 'create' : 'write to';
  try {
    if (state.kind === 'missing') mkdirs(root, 0o700);
    for (const d of STORE_DIRS) {
      try {
        fs.mkdirSync(path.join(root, d), { mode: 0o700 });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        if (!isDir(path.join(root, d))) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR', path: path.join(root, d) });
      }
    }
    if (state.kind !== 'marked') writeMarker(root);
  } catch (e) {
    if (e instanceof StoreRootError) throw e;
    throw rootError(root, e, doing);
  }
}

function writeMarker(root: string): void {
  const tmp = path.join(root, `.${MARKER}.${randomBytes(6).toString('hex')}`);
  const m: Marker = { layout: LAYOUT_VERSION, created: new Date().toISOString() };
  if ((process.geteuid?.() ?? 0) !== 0) m.userxattr = true;
  try {
    fs.writeFileSync(tmp, JSON.stringify(m) + '\n', { mode: 0o644, flag: 'wx' });
    fs.renameSync(tmp, path.join(root, MARKER));
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}
