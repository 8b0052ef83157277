// The overlay on-disk format's one rule for xattr names (src/union/format.ts), checked
// where it applies: the rule itself, the layer importer and packer, and kernel overlayfs
// as the oracle for what a mount shows and what copy-up keeps.
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { extractLayer } from '../src/image/extract';
import { packLayer } from '../src/image/pack';
import { lgetxattr, llistxattr, lsetxattr } from '../src/native';
import { escapeXattr, isInternalXattr, unescapeXattr } from '../src/union/format';
import { makeTar, mkTmp } from './image-helpers';
import { runBoth, sameAsOverlay } from './helpers/union';

test('the rule: trusted.overlay.* is the union\'s own, except trusted.overlay.overlay.* (a user\'s, escaped)', (t) => {
  t.true(isInternalXattr('trusted.overlay.opaque'));
  t.true(isInternalXattr('trusted.overlay.redirect'));
  t.true(isInternalXattr('trusted.overlay.origin'));
  t.false(isInternalXattr('trusted.overlay.overlay.opaque'));
  t.false(isInternalXattr('trusted.other'));
  t.false(isInternalXattr('user.overlay.opaque'), 'user.overlay.* is overlayfs\'s only with -o userxattr');
  t.is(escapeXattr('trusted.overlay.opaque'), 'trusted.overlay.overlay.opaque');
  t.is(escapeXattr('trusted.overlay.overlay.x'), 'trusted.overlay.overlay.overlay.x', 'escaping always adds one level');
  t.is(escapeXattr('user.x'), 'user.x');
  t.is(unescapeXattr('trusted.overlay.overlay.overlay.x'), 'trusted.overlay.overlay.x');
  t.is(unescapeXattr('trusted.overlay.opaque'), null);
  t.is(unescapeXattr('security.capability'), 'security.capability');
  for (const n of ['trusted.overlay.a', 'trusted.overlay.overlay.b', 'user.c']) t.is(unescapeXattr(escapeXattr(n)), n);
});

async function tarXattrs(file: string): Promise<Record<string, Record<string, string>>> {
  const out: Record<string, Record<string, string>> = {};
  const ex = tar.extract();
  ex.on('entry', (h, stream, next) => {
    const x: Record<string, string> = {};
    for (const [k, v] of Object.entries(h.pax ?? {})) if (k.startsWith('SCHILY.xattr.')) x[k.slice(13)] = String(v);
    out[h.name] = x;
    stream.on('end', next);
    stream.resume();
  });
  await new Promise<void>((res, rej) => {
    ex.on('finish', res);
    ex.on('error', rej);
    Readable.from([zlib.gunzipSync(fs.readFileSync(file))]).pipe(ex);
  });
  return out;
}

test('a layer tar names xattrs as users see them: import escapes trusted.overlay.*, export unescapes, the union\'s own stay out', async (t) => {
  const d = mkTmp(t);
  const layer = path.join(d, 'layer');
  fs.mkdirSync(layer);
  await extractLayer(Readable.from([await makeTar([
    { name: 'f', body: 'x', pax: { 'SCHILY.xattr.trusted.overlay.opaque': 'y', 'SCHILY.xattr.trusted.overlay.overlay.x': 'n', 'SCHILY.xattr.user.overlay.u': 'u' } },
    { name: 'd/', type: 'directory' },
    { name: 'd/.wh..wh..opq', body: '' },
  ])]), layer, { lowers: [] });
  const f = path.join(layer, 'f');
  t.deepEqual(llistxattr(f).sort(), ['trusted.overlay.overlay.opaque', 'trusted.overlay.overlay.overlay.x', 'user.overlay.u']);
  t.is(lgetxattr(f, 'trusted.overlay.opaque'), null, 'a tar cannot make layer structure');
  t.is(lgetxattr(path.join(layer, 'd'), 'trusted.overlay.opaque')?.toString(), 'y', 'an opaque whiteout file can');
  // the union's own marks on the disk never reach a tar
  lsetxattr(f, 'trusted.overlay.origin', Buffer.from('o'));
  const out = path.join(d, 'out.tar.gz');
  await packLayer(layer, out);
  const x = await tarXattrs(out);
  t.deepEqual(x.f, { 'trusted.overlay.opaque': 'y', 'trusted.overlay.overlay.x': 'n', 'user.overlay.u': 'u' });
  t.deepEqual(x['d/'], {});
  t.true('d/.wh..wh..opq' in x);
});

// Kernel overlayfs (>= 6.7) is the oracle for what a mount shows of each kind of name and
// what a copy-up keeps.
test('through a mount: escaped names show unescaped, the union\'s own never, and copy-up keeps exactly the escaped and ordinary ones', async (t) => {
  const r = await runBoth(t, {
    layers: [[
      { p: 'f', t: 'file', xattrs: { 'trusted.overlay.overlay.esc': 'e', 'trusted.overlay.origin': 'o', 'trusted.overlay.impure': 'y', 'user.overlay.u': 'u', 'user.plain': 'p' } },
    ]],
  }, async (c) => {
    const listed = ((await c.ops.must('listxattr', { p: c.p('f') })) as string[]).filter((n) => n !== 'security.selinux').sort();
    const esc = await c.ops.call('getxattr', { p: c.p('f'), name: 'trusted.overlay.esc' });
    const own = await c.ops.call('getxattr', { p: c.p('f'), name: 'trusted.overlay.origin' });
    await c.ops.must('chmod', { p: c.p('f'), mode: 0o600 }); // copy-up
    return { listed, esc: esc.ok ? esc.v : esc.err, own: own.ok ? own.v : own.err };
  }, (c) => llistxattr(path.join(c.upper, 'f')).filter((n) => n !== 'security.selinux').sort());
  sameAsOverlay(t, { overlay: r.overlay, strata: r.strata }, {
    listed: ['trusted.overlay.esc', 'user.overlay.u', 'user.plain'],
    esc: Buffer.from('e').toString('hex'),
    own: 'ENODATA',
  });
  // kernel overlayfs writes its own origin mark at copy-up (strata does not); the lower's
  // own marks (origin, impure) are copied by neither
  t.deepEqual(r.overlayAfter.filter((n) => !isInternalXattr(n)), ['trusted.overlay.overlay.esc', 'user.overlay.u', 'user.plain'], 'kernel overlayfs copies up');
  t.false(r.overlayAfter.includes('trusted.overlay.impure'));
  t.deepEqual(r.strataAfter, ['trusted.overlay.overlay.esc', 'user.overlay.u', 'user.plain'], 'strata-fs copies up the same names, and no mark of the union\'s own');
});
