import test from 'ava';
import { runBoth, sameAsOverlay } from './helpers/union';
import { treeManifest, manifestLine } from './helpers/manifest';
import { LayerEntry } from './helpers/layers';
import { useDropCachesStressor } from './helpers/dropcaches';

useDropCachesStressor(test);

const USER = { uid: 1000, gid: 1000 };

const layer: LayerEntry[] = [
  { p: 'pub', t: 'dir', mode: 0o1777 },
  { p: 'pub/mine', t: 'file', mode: 0o644, uid: 1000, gid: 1000, data: 'mine' },
  { p: 'pub/theirs', t: 'file', mode: 0o666, uid: 1001, gid: 1001, data: 'theirs' },
  { p: 'pub/rootsuid', t: 'file', mode: 0o4777, uid: 0, gid: 0, data: 'suid' },
  { p: 'pub/ro-mine', t: 'file', mode: 0o444, uid: 1000, gid: 1000, data: 'ro' },
  { p: 'pub/mydir', t: 'dir', mode: 0o755, uid: 1000, gid: 1000 },
  { p: 'pub/mydir/child', t: 'file', mode: 0o644, uid: 1000, gid: 1000 },
  { p: 'pub/loop1', t: 'symlink', target: 'loop2' },
  { p: 'pub/loop2', t: 'symlink', target: 'loop1' },
  { p: 'pub/sym', t: 'symlink', target: 'mine' },
  { p: 'sg', t: 'dir', mode: 0o2777, uid: 0, gid: 3000 },
  { p: 'rootonly', t: 'dir', mode: 0o755 },
  { p: 'rootonly/f', t: 'file', mode: 0o644, data: 'r' },
  { p: 'secret', t: 'dir', mode: 0o700 },
  { p: 'secret/f', t: 'file', mode: 0o644 },
  { p: 'private', t: 'file', mode: 0o600, data: 'private' },
];

test('new objects are owned by the caller; a setgid dir passes on its group (and setgid to subdirs)', async (t) => {
  const r = await runBoth(t, { layers: [layer] }, async (c) => {
    const u = c.as(USER);
    await u.must('create', { p: c.p('pub/ufile'), mode: 0o644 });
    await u.must('mkdir', { p: c.p('pub/udir'), mode: 0o755 });
    await u.must('symlink', { target: 'x', p: c.p('pub/ulink') });
    await u.must('mknod', { p: c.p('pub/ufifo'), kind: 'fifo', mode: 0o644 });
    await u.must('create', { p: c.p('sg/ufile'), mode: 0o664 });
    await u.must('mkdir', { p: c.p('sg/udir'), mode: 0o775 });
    await c.ops.must('create', { p: c.p('pub/rootfile'), mode: 0o644 });
    const own = async (p: string) => {
      const s = await c.ops.must('lstat', { p: c.p(p) });
      return `${s.type} ${s.uid}:${s.gid} ${s.mode.toString(8)}`;
    };
    return Promise.all(['pub/ufile', 'pub/udir', 'pub/ulink', 'pub/ufifo', 'sg/ufile', 'sg/udir', 'pub/rootfile'].map(own));
  });
  sameAsOverlay(t, r, [
    'file 1000:1000 644', 'dir 1000:1000 755', 'symlink 1000:1000 777', 'fifo 1000:1000 644',
    // umask 022 applies to 0664/0775
    'file 1000:3000 644', 'dir 1000:3000 2755', 'file 0:0 644',
  ]);
});

test('errnos for a non-root caller match overlayfs: EACCES, EPERM, ENOTEMPTY, EEXIST, ENAMETOOLONG, ELOOP', async (t) => {
  const r = await runBoth(t, { layers: [layer] }, async (c) => {
    const u = c.as(USER);
    const name255 = 'n'.repeat(255);
    const name256 = 'n'.repeat(256);
    return {
      createInRootDir: await u.res('create', { p: c.p('rootonly/new') }),
      readPrivate: await u.res('read', { p: c.p('private') }),
      searchSecret: await u.res('lstat', { p: c.p('secret/f') }),
      listSecret: await u.res('readdir', { p: c.p('secret') }),
      writeRootFile: await u.res('write', { p: c.p('rootonly/f'), data: 'x' }),
      truncRootFile: await u.res('truncate', { p: c.p('rootonly/f'), n: 0 }),
      writeReadonlyOwn: await u.res('write', { p: c.p('pub/ro-mine'), data: 'x' }),
      chmodRootFile: await u.res('chmod', { p: c.p('rootonly/f'), mode: 0o777 }),
      chownOwnToRoot: await u.res('chown', { p: c.p('pub/mine'), uid: 0, gid: 0 }),
      chgrpOwnToForeign: await u.res('chown', { p: c.p('pub/mine'), uid: -1, gid: 3000 }),
      unlinkTheirsInSticky: await u.res('unlink', { p: c.p('pub/theirs') }),
      renameTheirsInSticky: await u.res('rename', { p: c.p('pub/theirs'), p2: c.p('pub/stolen') }),
      utimesTheirsExplicit: await u.res('utimens', { p: c.p('pub/theirs'), atime: '1000000000', mtime: '1000000000' }),
      utimesTheirsNow: await u.res('utimens', { p: c.p('pub/theirs'), atime: 'now', mtime: 'now' }),
      setxattrRootFile: await u.res('setxattr', { p: c.p('rootonly/f'), name: 'user.x', value: 'v' }),
      setxattrTrusted: await u.res('setxattr', { p: c.p('pub/mine'), name: 'trusted.x', value: 'v' }),
      setxattrOwn: await u.res('setxattr', { p: c.p('pub/mine'), name: 'user.x', value: 'v' }),
      // fs.protected_hardlinks: linking needs read+write access to a foreign file
      linkTheirs: await u.res('link', { p: c.p('pub/theirs'), p2: c.p('pub/mylink') }),
      linkPrivate: await u.res('link', { p: c.p('private'), p2: c.p('pub/mylink2') }),
      rmdirNonEmpty: await u.res('rmdir', { p: c.p('pub/mydir') }),
      mkdirExisting: await u.res('mkdir', { p: c.p('pub/mydir') }),
      createExistingExcl: await u.res('create', { p: c.p('pub/mine'), flags: ['EXCL'] }),
      name255: await u.res('create', { p: c.p('pub', name255) }),
      name256: await u.res('create', { p: c.p('pub', name256) }),
      mkdir256: await u.res('mkdir', { p: c.p('pub', name256) }),
      loop: await u.res('read', { p: c.p('pub/loop1') }),
      nofollow: await u.res('open', { p: c.p('pub/sym'), flags: ['RDONLY', 'NOFOLLOW'] }),
      renameIntoRootDir: await u.res('rename', { p: c.p('pub/mine'), p2: c.p('rootonly/mine') }),
      renameOwnDirAcross: await u.res('rename', { p: c.p('pub/mydir'), p2: c.p('sg/mydir') }),
      mknodChar: await u.res('mknod', { p: c.p('pub/dev'), kind: 'char', major: 1, minor: 3 }),
    };
  });
  sameAsOverlay(t, r, {
    createInRootDir: 'EACCES', readPrivate: 'EACCES', searchSecret: 'EACCES', listSecret: 'EACCES',
    writeRootFile: 'EACCES', truncRootFile: 'EACCES', writeReadonlyOwn: 'EACCES',
    chmodRootFile: 'EPERM', chownOwnToRoot: 'EPERM', chgrpOwnToForeign: 'EPERM',
    unlinkTheirsInSticky: 'EPERM', renameTheirsInSticky: 'EPERM',
    utimesTheirsExplicit: 'EPERM', utimesTheirsNow: 'ok',
    setxattrRootFile: 'EACCES', setxattrTrusted: 'EPERM', setxattrOwn: 'ok', linkTheirs: 'ok', linkPrivate: 'EPERM',
    rmdirNonEmpty: 'ENOTEMPTY', mkdirExisting: 'EEXIST', createExistingExcl: 'EEXIST',
    name255: 'ok', name256: 'ENAMETOOLONG', mkdir256: 'ENAMETOOLONG', loop: 'ELOOP', nofollow: 'ELOOP',
    renameIntoRootDir: 'EACCES', renameOwnDirAcross: 'ok', mknodChar: 'EPERM',
  });
});

test('copy-up by a non-root caller keeps the original owners of the file and its parents', async (t) => {
  const r = await runBoth(t, { layers: [layer] }, async (c) => {
    const u = c.as(USER);
    await u.must('write', { p: c.p('pub/mine'), data: 'X', off: 0 });
    await u.must('write', { p: c.p('pub/theirs'), data: 'X', off: 0 });
    await u.must('create', { p: c.p('pub/mydir/child'), flags: ['TRUNC'] });
    const st = async (p: string) => {
      const s = await c.ops.must('lstat', { p: c.p(p) });
      return `${s.uid}:${s.gid} ${s.mode.toString(8)}${s.type === 'file' ? ` ${s.size}` : ''}`;
    };
    return Promise.all(['pub', 'pub/mine', 'pub/theirs', 'pub/mydir', 'pub/mydir/child'].map(st));
  }, (c) => {
    const m = treeManifest(c.upper, { noHash: true });
    return ['/pub', '/pub/mine', '/pub/theirs', '/pub/mydir', '/pub/mydir/child'].map((p) => manifestLine(m, p));
  });
  sameAsOverlay(t, r, ['0:0 1777', '1000:1000 644 4', '1001:1001 666 6', '1000:1000 755', '1000:1000 644 0']);
  sameAsOverlay(t, { overlay: r.overlayAfter, strata: r.strataAfter }, [
    '/pub type=dir mode=1777 uid=0 gid=0 xattrs=-',
    '/pub/mine type=file mode=0644 uid=1000 gid=1000 size=4 xattrs=-',
    '/pub/theirs type=file mode=0666 uid=1001 gid=1001 size=6 xattrs=-',
    '/pub/mydir type=dir mode=0755 uid=1000 gid=1000 xattrs=-',
    '/pub/mydir/child type=file mode=0644 uid=1000 gid=1000 size=0 xattrs=-',
  ], 'upper copies');
});

test('a write by a non-root caller clears setuid, as on any Linux filesystem', async (t) => {
  const r = await runBoth(t, { layers: [layer] }, async (c) => {
    await c.as(USER).must('write', { p: c.p('pub/rootsuid'), data: 'X', off: 0 });
    return (await c.ops.must('lstat', { p: c.p('pub/rootsuid') })).mode.toString(8);
  });
  sameAsOverlay(t, r, '777');
});
