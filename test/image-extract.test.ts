import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { execFileSync } from 'node:child_process';
import { extractLayer } from '../src/image/extract';
import { lgetxattr } from '../src/native';
import { makeTar, mkTmp, rawHeader, pad512, END, E } from './image-helpers';

async function extract(tarBuf: Buffer, dest: string, lowers: string[] = []): Promise<void> {
  fs.mkdirSync(dest, { recursive: true });
  await extractLayer(Readable.from([tarBuf]), dest, { lowers });
}

const st = (p: string) => fs.lstatSync(p, { bigint: true });
const T = new Date('2021-02-03T04:05:06Z');

test('whiteouts become 0/0 char devices, opaque markers an xattr', async (t) => {
  const d = mkTmp(t);
  await extract(await makeTar([{ name: 'a/', type: 'directory' }, { name: 'a/.wh.gone', body: '' }, { name: 'b/', type: 'directory' }, { name: 'b/.wh..wh..opq', body: '' }, { name: 'b/new', body: 'x' }]), path.join(d, 'l'));
  const w = st(path.join(d, 'l/a/gone'));
  t.true(w.isCharacterDevice());
  t.is(w.rdev, 0n);
  t.false(fs.existsSync(path.join(d, 'l/a/.wh.gone')));
  t.is(lgetxattr(path.join(d, 'l/b'), 'trusted.overlay.opaque')?.toString(), 'y');
  t.false(fs.existsSync(path.join(d, 'l/b/.wh..wh..opq')));
  t.is(fs.readFileSync(path.join(d, 'l/b/new'), 'utf8'), 'x');
});

test('./ root entry and ./-prefixed names; root metadata from "./"', async (t) => {
  const d = mkTmp(t);
  await extract(await makeTar([{ name: './', type: 'directory', mode: 0o711 }, { name: './etc/', type: 'directory', mtime: T }, { name: './etc/x', body: 'hi' }]), path.join(d, 'l'));
  t.is(fs.readFileSync(path.join(d, 'l/etc/x'), 'utf8'), 'hi');
  t.is(fs.statSync(path.join(d, 'l')).mode & 0o7777, 0o711);
  t.is(fs.statSync(path.join(d, 'l/etc')).mtimeMs, T.getTime());
});

test('implicit parents keep the lower layer metadata', async (t) => {
  const d = mkTmp(t);
  const low = path.join(d, 'low');
  await extract(await makeTar([{ name: 'opt/', type: 'directory', mode: 0o750, uid: 12, gid: 34, mtime: T, pax: { 'SCHILY.xattr.user.tag': 'lower' } }, { name: 'opt/old', body: 'o' }]), low);
  const up = path.join(d, 'up');
  await extract(await makeTar([{ name: 'opt/new', body: 'n' }, { name: 'fresh/sub/f', body: 'f' }]), up, [low]);
  const s = fs.statSync(path.join(up, 'opt'));
  t.is(s.mode & 0o7777, 0o750);
  t.is(s.uid, 12);
  t.is(s.gid, 34);
  t.is(s.mtimeMs, T.getTime());
  t.is(lgetxattr(path.join(up, 'opt'), 'user.tag')?.toString(), 'lower');
  t.false(fs.existsSync(path.join(up, 'opt/old')), 'lower content is not copied');
  t.is(fs.statSync(path.join(up, 'fresh/sub')).mode & 0o7777, 0o755);
});

test('whiteouts below a path the same layer made a file are skipped', async (t) => {
  const d = mkTmp(t);
  const low = path.join(d, 'low');
  await extract(await makeTar([{ name: 'etc/default/', type: 'directory' }, { name: 'etc/default/nss', body: 'x' }]), low);
  const up = path.join(d, 'up');
  await extract(await makeTar([{ name: 'etc/', type: 'directory' }, { name: 'etc/default', body: 'now a file' }, { name: 'etc/default/.wh.nss', body: '' }, { name: 'nothere/.wh.x', body: '' }]), up, [low]);
  t.true(st(path.join(up, 'etc/default')).isFile());
  t.false(fs.existsSync(path.join(up, 'nothere')), 'a whiteout under a dir no layer has creates nothing');
});

test('a whiteout and a directory of the same name in one layer: the dir is opaque', async (t) => {
  const d = mkTmp(t);
  await extract(await makeTar([{ name: '.wh.d', body: '' }, { name: 'd/', type: 'directory' }, { name: 'd/x', body: '1' }, { name: 'e/', type: 'directory' }, { name: '.wh.e', body: '' }]), path.join(d, 'l'));
  t.is(lgetxattr(path.join(d, 'l/d'), 'trusted.overlay.opaque')?.toString(), 'y');
  t.is(lgetxattr(path.join(d, 'l/e'), 'trusted.overlay.opaque')?.toString(), 'y');
  t.is(fs.readFileSync(path.join(d, 'l/d/x'), 'utf8'), '1');
});

test('hard links inside the layer share an inode; links to lower files are copied up', async (t) => {
  const d = mkTmp(t);
  const low = path.join(d, 'low');
  await extract(await makeTar([{ name: 'usr/bin/gzip', body: 'GZ', mode: 0o755, mtime: T }]), low);
  const up = path.join(d, 'up');
  await extract(
    await makeTar([
      { name: 'a', body: 'same' },
      { name: 'sub/b', type: 'link', linkname: 'a' },
      { name: 'usr/bin/gunzip', type: 'link', linkname: 'usr/bin/gzip' },
    ]),
    up,
    [low],
  );
  t.is(st(path.join(up, 'a')).ino, st(path.join(up, 'sub/b')).ino);
  t.is(st(path.join(up, 'usr/bin/gzip')).ino, st(path.join(up, 'usr/bin/gunzip')).ino);
  t.is(fs.readFileSync(path.join(up, 'usr/bin/gunzip'), 'utf8'), 'GZ');
  t.is(fs.statSync(path.join(up, 'usr/bin/gzip')).mode & 0o7777, 0o755);
  t.is(fs.statSync(path.join(up, 'usr/bin/gzip')).mtimeMs, T.getTime());
});

test('PAX xattrs: binary values kept, empty value means unset, caps survive chown', async (t) => {
  const d = mkTmp(t);
  const bin = Buffer.from([0, 1, 2, 0xfe, 0xff, 0x80, 0x0a]);
  // a real v2 file capability: cap_net_raw+ep
  const cap = Buffer.from('0100000200200000000000000000000000000000', 'hex');
  await extract(
    await makeTar([
      { name: 'f', body: 'x', uid: 1000, gid: 1000, pax: { 'SCHILY.xattr.user.bin': bin.toString('latin1'), 'SCHILY.xattr.user.empty': '', 'SCHILY.xattr.trusted.overlay.opaque': 'y' } },
      { name: 'ping', body: 'elf', mode: 0o4755, uid: 0, gid: 0, pax: { 'SCHILY.xattr.security.capability': cap.toString('latin1') } },
      { name: 'dir/', type: 'directory', pax: { 'SCHILY.xattr.user.d': 'dv' } },
    ]),
    path.join(d, 'l'),
  );
  t.deepEqual(lgetxattr(path.join(d, 'l/f'), 'user.bin'), bin);
  t.is(lgetxattr(path.join(d, 'l/f'), 'user.empty'), null);
  t.is(lgetxattr(path.join(d, 'l/f'), 'trusted.overlay.opaque'), null, 'a tar cannot forge overlay structure');
  t.is(fs.statSync(path.join(d, 'l/f')).uid, 1000);
  t.deepEqual(lgetxattr(path.join(d, 'l/ping'), 'security.capability'), cap);
  t.is(fs.statSync(path.join(d, 'l/ping')).mode & 0o7777, 0o4755);
  t.is(lgetxattr(path.join(d, 'l/dir'), 'user.d')?.toString(), 'dv');
});

test('PAX nanosecond mtimes on files, symlinks and directories (dirs set after contents)', async (t) => {
  const d = mkTmp(t);
  await extract(
    await makeTar([
      { name: 'd/', type: 'directory', pax: { mtime: '1600000000.123456789' } },
      { name: 'd/f', body: 'x', pax: { mtime: '1500000000.000000001' } },
      { name: 'd/l', type: 'symlink', linkname: 'f', pax: { mtime: '1400000000.5' } },
      { name: 'd/e/', type: 'directory', mtime: T },
    ]),
    path.join(d, 'l'),
  );
  t.is(st(path.join(d, 'l/d')).mtimeNs, 1600000000123456789n);
  t.is(st(path.join(d, 'l/d/f')).mtimeNs, 1500000000000000001n);
  t.is(st(path.join(d, 'l/d/l')).mtimeNs, 1400000000500000000n);
  t.is(st(path.join(d, 'l/d/e')).mtimeNs, BigInt(T.getTime()) * 1000000n);
});

test('devices, fifos, setuid/setgid/sticky, owners, symlink owners, UTF-8 and spaces', async (t) => {
  const d = mkTmp(t);
  const utf = Buffer.from('ünïcødé-名前.txt').toString('latin1');
  await extract(
    await makeTar([
      { name: 'null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
      { name: 'loop', type: 'block-device', devmajor: 7, devminor: 300, mode: 0o660 },
      { name: 'fifo', type: 'fifo', mode: 0o600 },
      { name: 'sg/', type: 'directory', mode: 0o2775 },
      { name: 'tmp/', type: 'directory', mode: 0o1777 },
      { name: 'zero', body: 'z', mode: 0o000 },
      { name: 'lnk', type: 'symlink', linkname: 'zero', uid: 4321, gid: 8765 },
      { name: utf, body: 'u' },
      { name: 'with space', body: 's' },
    ]),
    path.join(d, 'l'),
  );
  const n = st(path.join(d, 'l/null'));
  t.true(n.isCharacterDevice());
  t.is(n.rdev, BigInt((1 << 8) | 3));
  const b = fs.lstatSync(path.join(d, 'l/loop'));
  t.true(b.isBlockDevice());
  t.true(fs.lstatSync(path.join(d, 'l/fifo')).isFIFO());
  t.is(fs.statSync(path.join(d, 'l/sg')).mode & 0o7777, 0o2775);
  t.is(fs.statSync(path.join(d, 'l/tmp')).mode & 0o7777, 0o1777);
  t.is(fs.statSync(path.join(d, 'l/zero')).mode & 0o7777, 0);
  t.is(fs.lstatSync(path.join(d, 'l/lnk')).uid, 4321);
  t.is(fs.readFileSync(path.join(d, 'l', 'ünïcødé-名前.txt'), 'utf8'), 'u');
  t.is(fs.readFileSync(path.join(d, 'l/with space'), 'utf8'), 's');
});

test('GNU long names and long link targets (raw GNU headers)', async (t) => {
  const d = mkTmp(t);
  const long = 'd'.repeat(60) + '/' + 'f'.repeat(204) + '.txt';
  const target = 'long-target-'.repeat(20);
  const name = Buffer.from(long + '\0');
  const link = Buffer.from(target + '\0');
  const body = Buffer.from('long!');
  const tarBuf = Buffer.concat([
    rawHeader({ name: 'd'.repeat(60) + '/', typeflag: '5', size: 0, mode: 0o755 }),
    rawHeader({ name: '././@LongLink', typeflag: 'L', size: name.length }),
    pad512(name),
    rawHeader({ name: long.slice(0, 99), typeflag: '0', size: body.length }),
    pad512(body),
    rawHeader({ name: '././@LongLink', typeflag: 'K', size: link.length }),
    pad512(link),
    rawHeader({ name: 'sym', typeflag: '2', size: 0, linkname: target.slice(0, 99) }),
    END,
  ]);
  await extract(tarBuf, path.join(d, 'l'));
  t.is(fs.readFileSync(path.join(d, 'l', long), 'utf8'), 'long!');
  t.is(fs.readlinkSync(path.join(d, 'l/sym')), target);
});

test('sparse files written by GNU tar (gnu and posix formats) come out right and sparse', async (t) => {
  const d = mkTmp(t);
  const src = path.join(d, 'src');
  fs.mkdirSync(src);
  const f = path.join(src, 'sparse');
  const fd = fs.openSync(f, 'w');
  fs.writeSync(fd, Buffer.from('begin'), 0, 5, 0);
  fs.writeSync(fd, Buffer.from('middle'), 0, 6, 4 << 20);
  fs.writeSync(fd, Buffer.from('end'), 0, 3, (8 << 20) - 3);
  fs.closeSync(fd);
  const want = fs.readFileSync(f);
  for (const fmt of [['--format=gnu'], ['--format=posix', '--sparse-version=1.0'], ['--format=posix', '--sparse-version=0.1']]) {
    const tarBuf = execFileSync('tar', ['-c', '-S', ...fmt, '-C', src, 'sparse'], { maxBuffer: 1 << 26 });
    t.true(tarBuf.length < 1 << 20, `${fmt.join(' ')} archive is sparse`);
    const out = path.join(d, 'out-' + fmt.join('').replace(/[^a-z0-9]/g, ''));
    await extract(tarBuf, out);
    const got = fs.readFileSync(path.join(out, 'sparse'));
    t.true(got.equals(want), `${fmt.join(' ')} content`);
    t.true(fs.statSync(path.join(out, 'sparse')).blocks * 512 < 1 << 20, `${fmt.join(' ')} extracted sparse`);
  }
});

// ---- hostile input ----
const bad: Array<[string, () => Promise<Buffer>, RegExp]> = [
  ['../ name', () => makeTar([{ name: '../evil', body: 'x' }]), /escapes the layer/],
  ['nested ../ name', () => makeTar([{ name: 'a/../../evil', body: 'x' }]), /escapes the layer/],
  ['absolute name', () => makeTar([{ name: '/etc/evil', body: 'x' }]), /absolute path/],
  ['write through a symlink', () => makeTar([{ name: 'link', type: 'symlink', linkname: '/tmp' }, { name: 'link/evil', body: 'x' }]), /through a symlink/],
  ['write through a relative symlink', () => makeTar([{ name: 'dir/', type: 'directory' }, { name: 'up', type: 'symlink', linkname: '..' }, { name: 'up/evil', body: 'x' }]), /through a symlink/],
  ['hard link outside', () => makeTar([{ name: 'pw', type: 'link', linkname: '../../../../etc/passwd' }]), /escapes the layer/],
  ['hard link absolute', () => makeTar([{ name: 'pw', type: 'link', linkname: '/etc/passwd' }]), /absolute path/],
  ['hard link through a symlink', () => makeTar([{ name: 'etc', type: 'symlink', linkname: '/etc' }, { name: 'pw', type: 'link', linkname: 'etc/passwd' }]), /non-directory/],
  ['hard link to nothing', () => makeTar([{ name: 'pw', type: 'link', linkname: 'missing' }]), /not in the layer/],
];

for (const [what, mk, re] of bad) {
  test(`hostile layer refused: ${what}`, async (t) => {
    const d = mkTmp(t);
    const outside = path.join(d, 'outside');
    fs.mkdirSync(outside);
    const dest = path.join(d, 'x', 'y', 'l');
    const err = await t.throwsAsync(extract(await mk(), dest));
    t.regex(err!.message, re);
    t.deepEqual(fs.readdirSync(outside), []);
    t.false(fs.existsSync(path.join(d, 'x', 'evil')));
    t.false(fs.existsSync(path.join(d, 'x', 'y', 'evil')));
    t.false(fs.existsSync('/tmp/evil'));
  });
}

test('LIBARCHIVE.xattr names are URI-decoded; a malformed one is a one-line layer error', async (t) => {
  const d = mkTmp(t);
  await extract(await makeTar([{ name: 'f', body: 'x', pax: { 'LIBARCHIVE.xattr.user.a%20b': Buffer.from('v1').toString('base64') } }]), path.join(d, 'l'));
  t.is(lgetxattr(path.join(d, 'l/f'), 'user.a b')?.toString(), 'v1');
  const err = await t.throwsAsync(extract(await makeTar([{ name: 'g', body: 'x', pax: { 'LIBARCHIVE.xattr.user.%zz': 'eA==' } }]), path.join(d, 'm')));
  t.regex(err!.message, /^malformed LIBARCHIVE\.xattr name in a PAX header: "user\.%zz"$/);
});

test('truncated tar is an error', async (t) => {
  const d = mkTmp(t);
  const full = await makeTar([{ name: 'big', body: Buffer.alloc(10000, 1) } as E]);
  await t.throwsAsync(extract(full.subarray(0, 3000), path.join(d, 'l')));
});
