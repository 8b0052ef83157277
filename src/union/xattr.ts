// Extended attributes of the real objects, with the overlay format's one rule for names
// (format.ts): what a caller may see of an object's xattrs, and what a copy carries.
import { native } from '../native';
import { isInternalXattr, OverlayXattrs, unescapeXattr } from './format';

/** The names of a real object's xattrs (listxattr's NUL-separated list, split; latin1). */
export function xattrNames(dirfd: number, name: string): string[] {
  const raw = native.listxattrAt(dirfd, name);
  return raw.length === 0 ? [] : raw.toString('latin1').split('\0').filter((n) => n.length > 0);
}

/** The NUL-separated list a caller gets: escaped names unescaped, the union's own left out,
 *  trusted.* only for root (the daemon reads as root; the kernel lists trusted.* to
 *  CAP_SYS_ADMIN only). */
export function visibleXattrs(dirfd: number, name: string, root: boolean, x: OverlayXattrs): Buffer {
  let list = '';
  for (const n of xattrNames(dirfd, name)) {
    if (!root && n.startsWith('trusted.')) continue;
    const shown = unescapeXattr(n, x);
    if (shown !== null) list += shown + '\0';
  }
  return Buffer.from(list, 'latin1');
}

/** Has the object no xattr anyone could see through the mount? */
export function noVisibleXattrs(dirfd: number, name: string, x: OverlayXattrs): boolean {
  return xattrNames(dirfd, name).every((n) => unescapeXattr(n, x) === null);
}

/** Every xattr of src onto dst but the union's own marks (escaped names travel as they are). */
export function copyXattrs(srcDir: number, src: string, dstDir: number, dst: string, x: OverlayXattrs): void {
  for (const n of xattrNames(srcDir, src)) {
    if (isInternalXattr(n, x)) continue;
    const v = native.getxattrAt(srcDir, src, n);
    if (v !== null) native.setxattrAt(dstDir, dst, n, v, 0);
  }
}
