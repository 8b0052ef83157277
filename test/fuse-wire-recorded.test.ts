// Real requests of a real kernel, recorded once from a live mount (scripts/record-fuse-
// requests.ts; test/fixtures/fuse-requests.json), decoded by the session against a fake
// filesystem: what each step's syscall asked for must come out of the decoders. No mount.
import test, { type ExecutionContext } from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OPS } from '../src/fuse/ops';
import type { FileSystem } from '../src/fuse/types';
import { harness, sampleAttr, sampleEntry, type Call } from './helpers/fuse-harness';
import { OPCODES, unpack } from './helpers/fuse-structs';
import { repoRoot } from './helpers/paths';

interface Step { name: string; python: string; requests: { op: string; hex: string }[] }
const recorded = JSON.parse(fs.readFileSync(path.join(repoRoot, 'test', 'fixtures', 'fuse-requests.json'), 'utf8')) as { kernel: string; steps: Step[] };

function step(name: string): Buffer[] {
  const s = recorded.steps.find((x) => x.name === name);
  if (!s) throw new Error(`no recorded step ${name}`);
  return s.requests.map((r) => Buffer.from(r.hex, 'hex'));
}

const INIT_REQUEST = recorded.steps.flatMap((s) => s.requests).find((r) => r.op === 'INIT')!;

/** Answers every operation with something plausible; the test looks at the calls. */
function answering(): Partial<FileSystem> {
  let n = 100;
  return {
    lookup: () => sampleEntry(n++), getattr: () => sampleAttr(), setattr: () => sampleAttr(), mkdir: () => sampleEntry(n++),
    mknod: () => sampleEntry(n++), symlink: () => sampleEntry(n++), link: () => sampleEntry(n++),
    create: () => ({ entry: sampleEntry(n++), opened: { fh: n++ } }), open: () => ({ fh: n++ }), release: () => {},
    write: (_fh, _off, data) => data.length, read: () => Buffer.alloc(0), rename: () => {}, unlink: () => {}, rmdir: () => {},
    setxattr: () => {}, getxattr: () => Buffer.from('x'), listxattr: () => Buffer.alloc(0), removexattr: () => {},
    fallocate: () => {}, lseek: () => 0, copyFileRange: () => 2, fsync: () => {}, forget: () => {},
    statfs: () => ({ blocks: 1, bfree: 1, bavail: 1, files: 1, ffree: 1, bsize: 4096, namelen: 255, frsize: 4096 }),
    opendir: () => n++, readdir: () => [], releasedir: () => {},
  };
}

/** The step's requests through a fresh session (after the recorded INIT): the filesystem calls they made. */
function replay(name: string): Call[] {
  const h = harness(answering(), { cacheDirs: false });
  h.one(Buffer.from(INIT_REQUEST.hex, 'hex'));
  for (const r of step(name)) if (r.readUInt32LE(4) !== OPCODES.INIT) h.send(r);
  return h.calls.filter((c) => !['lookup', 'getattr', 'forget'].includes(c.op));
}

/** The one call of op, its caller checked (the steps ran as root) and left out. */
function only(t: ExecutionContext, calls: Call[], op: string, which = 0): unknown[] {
  const mine = calls.filter((c) => c.op === op);
  t.true(mine.length > which, `a ${op} call`);
  const args = mine[which]?.args ?? [];
  const c = args[0] as { uid?: number; gid?: number } | undefined;
  if (c && typeof c === 'object' && 'uid' in c) {
    t.deepEqual([c.uid, c.gid], [0, 0], 'the caller');
    return args.slice(1);
  }
  return args;
}

const text = (b: unknown): string => (b as Buffer).toString('latin1');
/** The header nodeid of the first request of opcode in a step. */
function nodeOf(stepName: string, opcode: string): number {
  const r = step(stepName).find((b) => b.readUInt32LE(4) === OPCODES[opcode]);
  if (!r) throw new Error(`${stepName} has no ${opcode}`);
  return unpack('fuse_in_header', r).nodeid as number;
}

test(`framing: every recorded request's fuse_in_header.len is its length, and its opcode has a name (kernel ${recorded.kernel})`, (t) => {
  let n = 0;
  for (const s of recorded.steps) {
    for (const r of s.requests) {
      const b = Buffer.from(r.hex, 'hex');
      const h = unpack('fuse_in_header', b);
      t.is(h.len, b.length, `${s.name} ${r.op}`);
      t.false(OPS[h.opcode as number]?.name.startsWith('OPCODE_') ?? true, `opcode ${h.opcode} is named`);
      if (h.opcode === OPCODES.BATCH_FORGET) {
        const count = b.readUInt32LE(40);
        t.is(40 + 8 + count * 16, b.length, 'fuse_batch_forget_in then count fuse_forget_one');
      }
      n++;
    }
  }
  t.true(n > 100);
});

test("recorded INIT: the reply speaks 7.40 and echoes the kernel's readahead; the kernel offers FUSE_INIT_EXT", (t) => {
  const h = harness();
  const req = Buffer.from(INIT_REQUEST.hex, 'hex');
  const k = unpack('fuse_init_in', req, 40);
  t.is(k.major, 7);
  t.true((k.minor as number) >= 40);
  t.true(((k.flags as number) & (1 << 30)) !== 0, 'INIT_EXT');
  const o = unpack('fuse_init_out', h.one(req).payload);
  t.deepEqual([o.major, o.minor, o.max_readahead, o.max_write], [7, 40, k.max_readahead, 1 << 20]);
});

test('recorded mkdir(0750) under umask 022: MKDIR brings the name, mode 0750 and umask 022 (DONT_MASK)', (t) => {
  t.deepEqual(only(t, replay('mkdir'), 'mkdir'), [1, Buffer.from('newdir'), 0o750, 0o022]);
});

test('recorded mkfifo(0640): MKNOD brings S_IFIFO|0640, rdev 0, umask 022 and the name', (t) => {
  t.deepEqual(only(t, replay('mkfifo'), 'mknod'), [1, Buffer.from('fifo'), 0o10640, 0, 0o022]);
});

test('recorded open(O_CREAT|O_EXCL|O_WRONLY, 0604): CREATE brings the name, S_IFREG|0604, those flags and umask 022', (t) => {
  const [parent, name, mode, flags, umask] = only(t, replay('create'), 'create');
  t.deepEqual([parent, text(name), mode, umask], [1, 'created', 0o100604, 0o022]);
  t.is((flags as number) & 0o303, 0o301, 'O_WRONLY | O_CREAT | O_EXCL');
});

test('recorded pwrite(10 bytes at 4096): WRITE brings the handle, offset and exactly the data; RELEASE the same handle', (t) => {
  const calls = replay('write');
  t.is((only(t, calls, 'open')[1] as number) & 3, 1, 'opened O_WRONLY');
  const [fh, off, data] = only(t, calls, 'write');
  t.deepEqual([off, text(data)], [4096, 'hello wire']);
  t.deepEqual(only(t, calls, 'release'), [fh]);
});

test('recorded pread: READ brings the handle RELEASE closes and a page-aligned range from 0', (t) => {
  const calls = replay('read');
  t.is((only(t, calls, 'open')[1] as number) & 3, 0, 'opened O_RDONLY');
  const [fh, off, size] = only(t, calls, 'read') as number[];
  t.is(off, 0);
  t.true(size! >= 4096 && size! % 4096 === 0, `size ${size}`);
  t.deepEqual(only(t, calls, 'release'), [fh]);
});

test('recorded truncate, chmod, chown, utime: SETATTR brings exactly the attributes each asked for', (t) => {
  t.deepEqual(only(t, replay('truncate'), 'setattr').slice(1), [{ size: 3 }, undefined]);
  const [, chmod] = only(t, replay('chmod'), 'setattr') as [number, { mode: number }];
  t.deepEqual(Object.keys(chmod), ['mode']);
  t.is(chmod.mode & 0o7777, 0o4751);
  const [, chown] = only(t, replay('chown'), 'setattr') as [number, { mode: number; uid: number; gid: number }];
  t.deepEqual([chown.uid, chown.gid], [1234, 5678]);
  t.deepEqual(only(t, replay('utime'), 'setattr').slice(1), [
    { atime: [1_500_000_000, 123_456_789], mtime: [-2, 999_999_999] }, // -1.000000001 s: before 1970
    undefined,
  ]);
});

test('recorded symlink and link: SYMLINK brings name then target; LINK the inode of "created" and the new name', (t) => {
  t.deepEqual(only(t, replay('symlink'), 'symlink'), [1, Buffer.from('sym'), Buffer.from('some/target')]);
  // the inode the kernel named in fuse_link_in is the one it sent chmod's SETATTR to
  t.deepEqual(only(t, replay('link'), 'link'), [nodeOf('chmod', 'SETATTR'), 1, Buffer.from('hardlink')]);
});

test('recorded rename and renameat2(RENAME_EXCHANGE): RENAME with flags 0 into the new parent; RENAME2 with flags 2', (t) => {
  const [parent, from, newdir, to, flags] = only(t, replay('rename'), 'rename');
  t.deepEqual([parent, text(from), text(to), flags], [1, 'hardlink', 'moved', 0]);
  t.is(newdir, nodeOf('unlink', 'UNLINK'), 'newdir is the directory the later unlink is sent to');
  t.deepEqual(only(t, replay('rename-exchange'), 'rename'), [1, Buffer.from('fifo'), 1, Buffer.from('sym'), 2]);
});

test('recorded xattr calls: SETXATTR brings name, value with its NUL and XATTR_CREATE; GET/LIST/REMOVEXATTR the name', (t) => {
  const created = nodeOf('chmod', 'SETATTR');
  t.deepEqual(only(t, replay('setxattr'), 'setxattr'), [created, Buffer.from('user.wire'), Buffer.from('v\0alue'), 1]);
  const gets = replay('getxattr').filter((c) => c.op === 'getxattr').map((c) => text(c.args[2]));
  t.is(gets[gets.length - 1], 'user.wire');
  t.deepEqual(only(t, replay('listxattr'), 'listxattr'), [created]);
  t.deepEqual(only(t, replay('removexattr'), 'removexattr'), [created, Buffer.from('user.wire')]);
});

test('recorded posix_fallocate, lseek(SEEK_HOLE), fdatasync: FALLOCATE, LSEEK, FSYNC bring their arguments and the handle', (t) => {
  const fa = replay('fallocate');
  const [fh, mode, off, len] = only(t, fa, 'fallocate');
  t.deepEqual([mode, off, len], [0, 8192, 4096]);
  t.deepEqual(only(t, fa, 'release'), [fh]);
  const ls = replay('lseek');
  const [lfh, loff, whence] = only(t, ls, 'lseek');
  t.deepEqual([loff, whence], [1, 4]);
  t.deepEqual(only(t, ls, 'release'), [lfh]);
  const fs2 = replay('fsync');
  const [sfh, datasync] = only(t, fs2, 'fsync');
  t.true(datasync);
  t.deepEqual(only(t, fs2, 'release'), [sfh]);
});

test('recorded copy_file_range(5 bytes, 1 -> 2): COPY_FILE_RANGE brings both handles and offsets', (t) => {
  const calls = replay('copy_file_range');
  const [fhIn, offIn, fhOut, offOut, len] = only(t, calls, 'copyFileRange');
  t.deepEqual([offIn, offOut, len], [1, 2, 5]);
  t.not(fhIn, fhOut);
  t.deepEqual(calls.filter((c) => c.op === 'release').map((c) => c.args[0]).sort(), [fhIn, fhOut].sort());
});

test('recorded listdir: READDIRPLUS from offset 0 with the handle of OPENDIR, which RELEASEDIR closes; STATFS of the root', (t) => {
  const calls = replay('readdir');
  const [dir] = only(t, calls, 'opendir');
  const [node, fh, first] = only(t, calls, 'readdir');
  t.deepEqual([node, first], [dir, 0]);
  t.deepEqual(only(t, calls, 'releasedir'), [fh]);
  t.deepEqual(only(t, replay('statfs'), 'statfs'), [1]);
});

test('recorded unlink and rmdir: the name, in the directory the kernel names in the header', (t) => {
  t.deepEqual(only(t, replay('unlink'), 'unlink'), [nodeOf('unlink', 'UNLINK'), Buffer.from('moved')]);
  t.deepEqual(only(t, replay('rmdir'), 'rmdir'), [nodeOf('rmdir', 'RMDIR'), Buffer.from('empty')]);
});
