// Lookup through the layers, as overlayfs's: the upper, then each lower layer the parent
// directory merges; a whiteout ends the search, an opaque directory hides the layers
// below it, a non-directory everything below it, and a redirected directory continues
// at another name or path. Relative to the parent's descriptor in each layer: one
// fstatat (and one listxattrat for a directory) per layer, whatever the depth.
import * as fs from 'node:fs';
import { native } from '../native';
import type { DirFds } from './dirfds';
import { fail } from './errors';
import { AUFS_OPAQUE_MARKER, AUFS_WHITEOUT_PREFIX, isOpaqueValue, isWhiteout, OverlayXattrs, parseRedirect, Redirect } from './format';
import type { LayerStack } from './layers';
import { Loc, Node, NO_LOWERS, Resolved } from './node';
import { errnoName, isDir, RealStat, statOrNull } from './real';

export const NAME_MAX = 255;
const ENOENT = -2;
const ENOTDIR = -20;
const ELOOP = -40;

interface Marks {
  opaque: boolean;
  redirect: Redirect | null;
  /** a redirect that could lead out of the layer: the lookup ends in this layer */
  refused: boolean;
}
const NO_MARKS: Marks = { opaque: false, redirect: null, refused: false };

/** A name the kernel may give for one directory entry: never ".", ".." or a path. */
export function checkName(name: string): void {
  if (name.length > NAME_MAX) fail('ENAMETOOLONG');
  if (name === '' || name === '.' || name === '..' || name.includes('/')) fail('EINVAL');
}

export function isOpaqueAt(dirfd: number, name: string, x: OverlayXattrs): boolean {
  return isOpaqueValue(native.getxattrAt(dirfd, name, x.opaque));
}

/** A directory's overlay marks, in one syscall when it has none (most directories). */
function dirMarks(dirfd: number, name: string, x: OverlayXattrs, redirects: boolean): Marks {
  const names = native.listxattrAt(dirfd, name);
  if (names.indexOf(x.prefix, 0, 'latin1') < 0) return NO_MARKS;
  const opaque = isOpaqueAt(dirfd, name, x);
  const v = native.getxattrAt(dirfd, name, x.redirect);
  if (!v || v.length === 0) return { opaque, redirect: null, refused: false };
  // where redirects are not followed, one found ends the lookup in this layer
  if (!redirects) return { opaque, redirect: null, refused: true };
  const redirect = parseRedirect(v);
  return { opaque, redirect, refused: redirect === null };
}

/** In a layer with AUFS whiteouts: is `name` below dirfd whited out by a .wh. file? */
export function aufsWhitedOut(dirfd: number, name: string): boolean {
  return name.length + AUFS_WHITEOUT_PREFIX.length <= NAME_MAX && statOrNull(dirfd, AUFS_WHITEOUT_PREFIX + name) !== null;
}

/** In a layer with AUFS whiteouts: does directory `name` below dirfd hide the layers below it? */
export function aufsOpaque(dirfd: number, name: string): boolean {
  return statOrNull(dirfd, name === '' ? AUFS_OPAQUE_MARKER : name + '/' + AUFS_OPAQUE_MARKER) !== null;
}

function findLoc(locs: Loc[], layer: number): Loc | undefined {
  for (const l of locs) if (l.layer === layer) return l;
  return undefined;
}

export class Lookup {
  constructor(private readonly stack: LayerStack, private readonly fds: DirFds) {}

  /** Find `name` in `dir` through the layers. */
  resolveChild(dir: Node, name: string): Resolved | null {
    checkName(name);
    let st: RealStat | null = null;
    let layer = -1;
    let upper = false;
    const lowers: Loc[] = [];
    let absolute: string[] | null = null; // redirect from a layer root, for the layers below
    let relName = name; // redirect to another name in the same parent
    if (dir.upper && this.stack.upper) {
      const fd = this.fds.upper(dir);
      const s = statOrNull(fd, name);
      if (s) {
        if (isWhiteout(s)) return null;
        st = s;
        layer = 0;
        upper = true;
        if (!isDir(s)) return { upper, lowers: NO_LOWERS, st, layer };
        const m = dirMarks(fd, name, this.stack.xattrs, this.stack.redirects);
        // a redirect that could leave the layers ends the lookup here, as overlayfs refuses it
        if (m.opaque || m.refused) return { upper, lowers: NO_LOWERS, st, layer };
        if (m.redirect) {
          if (m.redirect.absolute) absolute = m.redirect.parts;
          else relName = m.redirect.parts[0]!;
        }
      }
    }
    const dirLowers = dir.lowers;
    const nLower = this.stack.lowers.length;
    for (let li = 1; li <= nLower; li++) {
      let parent: Loc;
      let child: string;
      let lastLayer = false;
      if (absolute !== null) {
        const walk = this.walkRedirect(li, absolute);
        if (walk === 'absent') continue;
        if (walk === 'stop') break;
        lastLayer = walk.last;
        parent = walk.parent;
        child = absolute[absolute.length - 1]!;
      } else {
        const dl = findLoc(dirLowers, li);
        if (!dl) continue;
        parent = dl;
        child = relName;
      }
      const fd = this.fds.lower(parent);
      const aufs = this.stack.lower(li).aufs;
      // in such a layer the .wh. names are its whiteouts, never entries
      const s = aufs && child.startsWith(AUFS_WHITEOUT_PREFIX) ? null : statOrNull(fd, child);
      if (!s) {
        if (lastLayer || (aufs && aufsWhitedOut(fd, child))) break;
        continue;
      }
      if (isWhiteout(s)) break;
      if (!st) {
        st = s;
        layer = li;
        lowers.push(new Loc(li, parent, child));
        if (!isDir(s)) break;
      } else {
        if (!isDir(s)) break; // a non-directory below a directory hides nothing more
        lowers.push(new Loc(li, parent, child));
      }
      const m = dirMarks(fd, child, this.stack.xattrs, this.stack.redirects);
      if (m.opaque || lastLayer || m.refused || (aufs && aufsOpaque(fd, child))) break;
      if (m.redirect) {
        if (m.redirect.absolute) absolute = m.redirect.parts;
        // a relative redirect renames the last component of the path looked up
        else if (absolute !== null) absolute = [...absolute.slice(0, -1), m.redirect.parts[0]!];
        else relName = m.redirect.parts[0]!;
      }
    }
    if (!st) return null;
    // nodes keep this array: an exact-size copy, not one with room to grow
    return { upper, lowers: lowers.length ? lowers.slice() : NO_LOWERS, st, layer };
  }

  /** Walk the directories leading to a redirect target in lower layer li from its root, as
   *  overlayfs does: never through a symlink or other non-directory, nor past a whiteout
   *  (either ends the lookup), and an opaque directory on the way makes this layer the
   *  last. Gives the target's parent directory. */
  private walkRedirect(li: number, parts: string[]): { parent: Loc; last: boolean } | 'absent' | 'stop' {
    const layer = this.stack.lower(li);
    let loc = layer.rootLoc;
    let fd = layer.rootFd;
    let last = false;
    let found = false;
    try {
      for (let i = 0; i < parts.length - 1; i++) {
        const next = native.openDirAt(fd, parts[i]!);
        if (next === ENOENT) return 'absent';
        if (next === ENOTDIR || next === ELOOP) return 'stop';
        if (next < 0) fail(errnoName(next));
        if (fd !== layer.rootFd) fs.closeSync(fd);
        fd = next;
        loc = new Loc(li, loc, parts[i]!);
        if (dirMarks(fd, '', this.stack.xattrs, this.stack.redirects).opaque) last = true;
      }
      found = true;
    } finally {
      if (!found && fd !== layer.rootFd) fs.closeSync(fd);
    }
    // the descriptor of the target's parent is the one the lookup needs next
    if (fd !== layer.rootFd) this.fds.add(loc, fd);
    return { parent: loc, last };
  }

  /** Is `name` present (not whited out) in the lower layers merged below `dir`? Then removing
   *  or moving it away needs a whiteout. */
  lowerHas(dir: Node, name: string): boolean {
    for (const loc of dir.lowers) {
      const fd = this.fds.lower(loc);
      const aufs = this.stack.lower(loc.layer).aufs;
      const st = aufs && name.startsWith(AUFS_WHITEOUT_PREFIX) ? null : statOrNull(fd, name);
      if (st) return !isWhiteout(st);
      if (aufs && aufsWhitedOut(fd, name)) return false;
    }
    return false;
  }
}
