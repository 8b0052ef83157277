// Extended attributes through the union: the user., trusted., security. and overlay
// namespaces, and changes seen at once where strata-fs answers "no xattrs" itself.
import test from 'ava';
import { runBoth, sameAsOverlay } from './helpers/union';
import { hx, layers } from './helpers/feature-layers';
import { dropCaches, useDropCachesStressor } from './helpers/dropcaches';

useDropCachesStressor(test);

test('xattrs in user., trusted. and security. namespaces through the union', async (t) => {
  const r = await runBoth(t, { layers }, async (c) => {
    const p = c.p('d/lower');
    for (const [n, v] of [['user.u', 'U'], ['trusted.t', 'T'], ['security.s', 'S']]) await c.ops.must('setxattr', { p, name: n, value: v });
    const got = await Promise.all(['user.u', 'trusted.t', 'security.s'].map((n) => c.ops.must('getxattr', { p, name: n })));
    const create = await c.ops.res('setxattr', { p, name: 'user.u', value: 'again', flag: 'CREATE' });
    const replaceMissing = await c.ops.res('setxattr', { p, name: 'user.none', value: 'x', flag: 'REPLACE' });
    await c.ops.must('removexattr', { p, name: 'trusted.t' });
    const list = (await c.ops.must('listxattr', { p })).filter((n: string) => !n.startsWith('trusted.overlay.'));
    // kernel >= 6.7 stores it escaped (trusted.overlay.overlay.*) instead of obeying it
    const overlayNs = await c.ops.res('setxattr', { p, name: 'trusted.overlay.opaque', value: 'y' });
    const back = await c.ops.call('getxattr', { p, name: 'trusted.overlay.opaque' });
    const overlayNsBack = back.ok ? back.v : back.err;
    return { got, create, replaceMissing, list, overlayNs, overlayNsBack };
  });
  sameAsOverlay(t, r, {
    got: [hx('U'), hx('T'), hx('S')], create: 'EEXIST', replaceMissing: 'ENODATA', list: ['security.s', 'user.u'],
    overlayNs: 'ok', overlayNsBack: hx('y'),
  });
});

// strata-fs answers xattr requests of an inode it knows has none without asking the
// layers again: each change must be seen at once, by every name of the file.
test('xattrs set after one was missed are seen; removal and hard links too', async (t) => {
  const r = await runBoth(t, { layers }, async (c) => {
    const get = async (p: string, name: string) => {
      const x = await c.ops.call('getxattr', { p: c.p(p), name });
      return x.ok ? x.v : x.err;
    };
    const list = async (p: string) => ((await c.ops.must('listxattr', { p: c.p(p) })) as string[]).filter((n) => !n.startsWith('trusted.overlay.')).sort();
    const out: Record<string, unknown> = {};
    await c.ops.must('create', { p: c.p('d/fresh') });
    await c.ops.must('write', { p: c.p('d/fresh'), data: 'x', flags: ['APPEND'] }); // the kernel asks for security.capability
    out.missed = [await get('d/lower', 'user.a'), await get('d/fresh', 'user.a'), await get('d/other', 'trusted.x')];
    out.emptyLists = [await list('d/lower'), await list('d/fresh')];
    await c.ops.must('setxattr', { p: c.p('d/lower'), name: 'user.a', value: '1' });
    await c.ops.must('setxattr', { p: c.p('d/other'), name: 'trusted.x', value: 'T' });
    out.afterSet = [await get('d/lower', 'user.a'), await get('d/other', 'trusted.x'), await list('d/lower')];
    await c.ops.must('removexattr', { p: c.p('d/lower'), name: 'user.a' });
    out.afterRemove = [await get('d/lower', 'user.a'), await list('d/lower')];
    await c.ops.must('link', { p: c.p('d/fresh'), p2: c.p('d/sub/hl') });
    out.linkMissed = await get('d/sub/hl', 'user.b');
    await c.ops.must('setxattr', { p: c.p('d/fresh'), name: 'user.b', value: '2' });
    out.viaLink = [await get('d/sub/hl', 'user.b'), await list('d/sub/hl')];
    dropCaches();
    out.afterForget = [await get('d/lower', 'user.a'), await get('d/sub/hl', 'user.b'), await get('d/other', 'trusted.x')];
    return out;
  });
  sameAsOverlay(t, r, {
    missed: ['ENODATA', 'ENODATA', 'ENODATA'], emptyLists: [[], []],
    afterSet: [hx('1'), hx('T'), ['user.a']], afterRemove: ['ENODATA', []],
    linkMissed: 'ENODATA', viaLink: [hx('2'), ['user.b']],
    afterForget: ['ENODATA', hx('2'), hx('T')],
  });
});
