// The overlay on-disk format, as kernel overlayfs writes and reads it
// (Documentation/filesystems/overlayfs.rst), in its default trusted.* form: one
// definition for the union and for the image code that imports and exports layers.
//
// - A whiteout is a character device 0/0: the name is deleted in the layers below.
// - An opaque directory carries trusted.overlay.opaque=y: the directories below it are hidden.
// - A moved directory carries trusted.overlay.redirect: where its lower directories are,
//   as a name in the same parent ("b") or a path from the layer root ("/a/b").
//
// Names in xattrs are latin1 strings here (one char per byte, as names are bytes).

export const S_IFMT = 0o170000;
export const S_IFCHR = 0o020000;

export const OVERLAY_PREFIX = 'trusted.overlay.';
export const OPAQUE_XATTR = 'trusted.overlay.opaque';
export const REDIRECT_XATTR = 'trusted.overlay.redirect';
/** Where a trusted.overlay.* name given by a user is kept: "trusted.overlay.X" is stored as
 *  "trusted.overlay.overlay.X" (overlayfs >= 6.7, for overlays nested in overlays). */
export const ESCAPED_PREFIX = 'trusted.overlay.overlay.';
/** overlayfs's default redirect_max: the longest absolute redirect it writes; a move that
 *  would need a longer one fails with EXDEV (userspace then copies). */
export const REDIRECT_MAX = 256;

/**
 * The other whiteout form, AUFS's, as tar layers carry it and as containers-storage keeps
 * its layers when it mounts them through a program (fuse-overlayfs reads it): a file
 * DIR/.wh.NAME deletes NAME in the layers below, DIR/.wh..wh..opq makes DIR opaque, and
 * neither name is ever shown. Read in lower layers that containers-storage wrote (see
 * layers.ts); never written.
 */
export const AUFS_WHITEOUT_PREFIX = '.wh.';
export const AUFS_OPAQUE_MARKER = '.wh..wh..opq';
/** The file containers-storage's overlay driver writes at its root when it mounts through
 *  a program: its layers below that root keep AUFS whiteouts. */
export const MOUNT_PROGRAM_FLAG_FILE = '.has-mount-program';

export function isWhiteout(st: { mode: number | bigint; rdev: number | bigint }): boolean {
  return (Number(st.mode) & S_IFMT) === S_IFCHR && Number(st.rdev) === 0;
}

/** The value of OPAQUE_XATTR that makes a directory opaque ("y"; null: absent). */
export function isOpaqueValue(v: Buffer | null): boolean {
  return v !== null && v.length === 1 && v[0] === 0x79;
}

/** The namespace of the union's own xattrs: trusted.overlay.* by default; user.overlay.*
 *  with overlayfs's userxattr option, for a server that may not write trusted.* (not root
 *  of the initial user namespace). overlayfs then reads only user.overlay.*, and so does
 *  strata: a trusted.overlay.* name is then an ordinary xattr. */
export interface OverlayXattrs {
  prefix: string;
  opaque: string;
  redirect: string;
  /** where a user's own PREFIX* names are kept (PREFIX + "overlay.") */
  escaped: string;
}

function overlayXattrs(prefix: string): OverlayXattrs {
  return { prefix, opaque: prefix + 'opaque', redirect: prefix + 'redirect', escaped: prefix + 'overlay.' };
}

export const TRUSTED_XATTRS: OverlayXattrs = overlayXattrs(OVERLAY_PREFIX);
export const USER_XATTRS: OverlayXattrs = overlayXattrs('user.overlay.');

/**
 * The one rule for xattr names, as overlayfs has it: every trusted.overlay.* name (with
 * userxattr: user.overlay.*) is the union's own (opaque, redirect, origin, impure, ...)
 * except the escaped ones, trusted.overlay.overlay.*, which are a user's trusted.overlay.*
 * names. The union's own are never shown through a mount, never copied up, never put in a
 * layer tar and never taken from one; escaped ones are shown unescaped, copied up as they
 * are, and travel in layer tars under the name users see (escaped again on import).
 * Everything else, the other namespace's overlay.* included, is an ordinary xattr.
 * Layers in the store are always in the trusted form (the default argument).
 */
export function isInternalXattr(name: string, x: OverlayXattrs = TRUSTED_XATTRS): boolean {
  return name.startsWith(x.prefix) && !name.startsWith(x.escaped);
}

/** The name under which an xattr a user sees as `name` is stored on a layer's object. */
export function escapeXattr(name: string, x: OverlayXattrs = TRUSTED_XATTRS): string {
  return name.startsWith(x.prefix) ? x.escaped + name.slice(x.prefix.length) : name;
}

/** The name a stored xattr shows to users, or null for the union's own. */
export function unescapeXattr(name: string, x: OverlayXattrs = TRUSTED_XATTRS): string | null {
  if (!name.startsWith(x.prefix)) return name;
  if (!name.startsWith(x.escaped)) return null;
  return x.prefix + name.slice(x.escaped.length);
}

export interface Redirect {
  /** from the layer root, else a name in the same parent */
  absolute: boolean;
  /** the path's components (one for a relative redirect) */
  parts: string[];
}

/** A stored redirect value (not empty), or null when it could lead out of the layer or
 *  into nothing (empty, "." or ".." components, a "/" in a relative one): overlayfs
 *  refuses those too. */
export function parseRedirect(v: Buffer): Redirect | null {
  const s = v.toString('latin1');
  const absolute = s[0] === '/';
  const parts = absolute ? s.slice(1).split('/') : [s];
  for (const p of parts) if (p === '' || p === '.' || p === '..' || p.includes('/') || p.includes('\0')) return null;
  return { absolute, parts };
}
