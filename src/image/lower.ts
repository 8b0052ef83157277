// Looks a path up through a stack of overlay-format layer dirs (top first) the way the
// kernel would, so that an importer can inherit what the lower layers show there.
import * as fs from 'node:fs';
import { lgetxattr } from '../native';
import { isOpaqueValue, isWhiteout, OverlayXattrs, TRUSTED_XATTRS } from '../union/format';

export interface LowerHit {
  layerIndex: number;
  abs: Buffer;
  st: fs.BigIntStats;
}

export function bytesPath(dir: string, rel: string): Buffer {
  return rel === '' ? Buffer.from(dir, 'utf8') : Buffer.concat([Buffer.from(dir, 'utf8'), Buffer.from('/' + rel, 'latin1')]);
}

export function lstatOrNull(p: Buffer | string): fs.BigIntStats | null {
  try {
    return fs.lstatSync(p, { bigint: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw e;
  }
}

export function isOpaque(p: Buffer | string, x: OverlayXattrs = TRUSTED_XATTRS): boolean {
  return isOpaqueValue(lgetxattr(p, x.opaque));
}

export type LayerFinding =
  | { kind: 'present'; st: fs.BigIntStats; opaque: boolean }
  | { kind: 'whiteout' }
  | { kind: 'hidden-by-parent'; parent: string; why: 'whiteout' | 'not-a-dir' | 'opaque' }
  | { kind: 'absent' };

/**
 * What one layer says about rel: the entry itself, a whiteout, or a parent in this
 * layer that hides everything below (whiteout/non-dir) or hides lower layers (opaque).
 */
export function examineLayer(dir: string, rel: string, x: OverlayXattrs = TRUSTED_XATTRS): LayerFinding {
  const comps = rel === '' ? [] : rel.split('/');
  let cur = '';
  let opaqueParent: string | null = null;
  for (let i = 0; i < comps.length; i++) {
    cur = cur ? cur + '/' + comps[i] : comps[i];
    const abs = bytesPath(dir, cur);
    const st = lstatOrNull(abs);
    const last = i === comps.length - 1;
    if (!st) return opaqueParent !== null ? { kind: 'hidden-by-parent', parent: opaqueParent, why: 'opaque' } : { kind: 'absent' };
    if (last) {
      if (isWhiteout(st)) return { kind: 'whiteout' };
      return { kind: 'present', st, opaque: st.isDirectory() && isOpaque(abs, x) };
    }
    if (isWhiteout(st)) return { kind: 'hidden-by-parent', parent: cur, why: 'whiteout' };
    if (!st.isDirectory()) return { kind: 'hidden-by-parent', parent: cur, why: 'not-a-dir' };
    if (isOpaque(abs, x)) opaqueParent = cur;
  }
  const st = lstatOrNull(bytesPath(dir, ''));
  if (!st) return { kind: 'absent' };
  return { kind: 'present', st, opaque: isOpaque(bytesPath(dir, ''), x) };
}

/** The entry that a union of these layers (top first) shows at rel, or null. */
export function resolveLower(lowers: string[], rel: string, x: OverlayXattrs = TRUSTED_XATTRS): LowerHit | null {
  for (let i = 0; i < lowers.length; i++) {
    const f = examineLayer(lowers[i], rel, x);
    switch (f.kind) {
      case 'present':
        return { layerIndex: i, abs: bytesPath(lowers[i], rel), st: f.st };
      case 'whiteout':
      case 'hidden-by-parent':
        return null;
      case 'absent':
        break;
    }
  }
  return null;
}
