// Lower files through FUSE passthrough: the kernel reads them itself (the daemon sees no
// READ), from a read-only noatime mount of their layer, so no way of reading moves their
// atime; writes still copy up. The layers sit on a strictatime tmpfs, where any read
// through an ordinary mount would move the atime.
import test from 'ava';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { native } from '../src/native';
import { LayerStack } from '../src/union/layers';
import { mountStrataFs, unmount } from './helpers/mount';
import { tempDirFor } from './helpers/tmp';
import { useDropCachesStressor } from './helpers/dropcaches';

useDropCachesStressor(test);

const OLD = new Date('2001-01-01T00:00:00Z');
const SIZE = 3 * (1 << 20) + 12345;

interface Setup {
  lower: string;
  mnt: string;
  spec: { lowers: string[]; upper: string; work: string; mnt: string };
  counts: string;
  data: Buffer;
}

function setup(t: Parameters<typeof tempDirFor>[0]): Setup {
  const dir = tempDirFor(t, 'strata-lpt-');
  const fsDir = path.join(dir, 'fs');
  fs.mkdirSync(fsDir);
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'strictatime,size=64m', 'tmpfs', fsDir], { encoding: 'utf8' });
  if (m.status !== 0) throw new Error(`mount tmpfs: ${m.stderr}`);
  const lower = path.join(fsDir, 'lower');
  for (const d of ['lower/d', 'upper', 'work']) fs.mkdirSync(path.join(fsDir, d), { recursive: true });
  const data = Buffer.alloc(SIZE);
  for (let i = 0; i < SIZE; i++) data[i] = (i * 7 + (i >> 12)) & 0xff;
  fs.writeFileSync(path.join(lower, 'd/big'), data);
  const mnt = path.join(dir, 'mnt');
  fs.mkdirSync(mnt);
  return {
    lower, mnt, data, counts: path.join(dir, 'counts.json'),
    spec: { lowers: [lower], upper: path.join(fsDir, 'upper'), work: path.join(fsDir, 'work'), mnt },
  };
}

function mount(s: Setup, extra: string[] = [], env: NodeJS.ProcessEnv = {}): void {
  fs.rmSync(s.counts, { force: true });
  mountStrataFs(s.spec, extra, { ...process.env, STRATA_FS_REQUEST_COUNTS: s.counts, ...env });
}

/** Unmounts and returns the requests the daemon was sent, by opcode name. */
async function unmountCounts(s: Setup): Promise<Record<string, number>> {
  unmount(s.mnt);
  // the daemon writes them as its session ends, just after the unmount
  for (let i = 0; i < 200 && !fs.existsSync(s.counts); i++) await new Promise((r) => setTimeout(r, 50));
  return JSON.parse(fs.readFileSync(s.counts, 'utf8')) as Record<string, number>;
}

function ageAtime(p: string): void {
  fs.utimesSync(p, OLD, fs.statSync(p).mtime);
}

function atime(p: string): number {
  return fs.statSync(p).atimeMs;
}

/** cat, mmap, sendfile and splice of the file; the sha256 each one saw. */
function readEveryWay(file: string): string[] {
  const cat = spawnSync('sh', ['-c', `cat "$1" | sha256sum`, 'sh', file], { encoding: 'utf8' });
  if (cat.status !== 0) throw new Error(`cat: ${cat.stderr}`);
  const py = spawnSync('python3', ['-c', `
import hashlib, mmap, os, sys
p = sys.argv[1]
size = os.stat(p).st_size
out = []
with open(p, 'rb') as f:
    m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
    out.append(hashlib.sha256(m[:]).hexdigest())
    m.close()
def through_pipe(move):
    fd = os.open(p, os.O_RDONLY)
    r, w = os.pipe()
    h = hashlib.sha256()
    off = 0
    while off < size:
        n = move(fd, w, off, min(65536, size - off))
        if n <= 0: break
        off += n
        left = n
        while left:
            b = os.read(r, left)
            h.update(b)
            left -= len(b)
    os.close(fd); os.close(r); os.close(w)
    return h.hexdigest()
out.append(through_pipe(lambda fd, w, off, n: os.sendfile(w, fd, off, n)))
def splice(fd, w, off, n):
    os.lseek(fd, off, os.SEEK_SET)
    return os.splice(fd, w, n)
out.append(through_pipe(splice))
print(' '.join(out))
`, file], { encoding: 'utf8' });
  if (py.status !== 0) throw new Error(`python: ${py.stderr}`);
  return [cat.stdout.split(' ')[0]!, ...py.stdout.trim().split(' ')];
}

function sha256(b: Buffer): string {
  return crypto.createHash('sha256').update(b).digest('hex');
}

test('reading a lower file (cat, mmap, sendfile, splice) sends no READ and leaves its atime', async (t) => {
  const s = setup(t);
  const big = path.join(s.lower, 'd/big');
  ageAtime(big);
  const before = atime(big);
  t.is(before, OLD.getTime());
  mount(s);
  const seen = readEveryWay(path.join(s.mnt, 'd/big'));
  const counts = await unmountCounts(s);
  t.deepEqual(seen, Array(4).fill(sha256(s.data)), 'every way of reading sees the lower data');
  t.is(atime(big), before, 'lower atime unchanged');
  t.is(counts.READ ?? 0, 0, `the daemon answered no READ (${JSON.stringify(counts)})`);
  t.true((counts.OPEN ?? 0) >= 3, 'the opens did reach the daemon');
  // the conditions were such that a read moves the atime: reading the layer directly does
  fs.readFileSync(big);
  t.not(atime(big), before, 'a direct read of the lower file moves its atime (strictatime)');
});

test('without passthrough the daemon serves the READs, still without moving the atime', async (t) => {
  const s = setup(t);
  const big = path.join(s.lower, 'd/big');
  ageAtime(big);
  mount(s, ['passthrough=off']);
  const seen = readEveryWay(path.join(s.mnt, 'd/big'));
  const counts = await unmountCounts(s);
  t.deepEqual(seen, Array(4).fill(sha256(s.data)));
  t.true((counts.READ ?? 0) > 0, `READs reached the daemon (${JSON.stringify(counts)})`);
  t.is(atime(big), OLD.getTime(), 'lower atime unchanged');
});

test('where no noatime mount can be made (old kernel), lower reads are the daemon\'s, atime unchanged', async (t) => {
  const s = setup(t);
  const big = path.join(s.lower, 'd/big');
  ageAtime(big);
  mount(s, [], { STRATA_OLD_KERNEL_CALLS: '1' });
  const seen = readEveryWay(path.join(s.mnt, 'd/big'));
  const counts = await unmountCounts(s);
  t.deepEqual(seen, Array(4).fill(sha256(s.data)));
  t.true((counts.READ ?? 0) > 0, `READs reached the daemon (${JSON.stringify(counts)})`);
  t.is(atime(big), OLD.getTime(), 'lower atime unchanged');
});

test('a write to a lower file open for passthrough reads copies it up; the reader keeps the lower data', async (t) => {
  const s = setup(t);
  const big = path.join(s.lower, 'd/big');
  ageAtime(big);
  mount(s);
  const f = path.join(s.mnt, 'd/big');
  const reader = fs.openSync(f, 'r');
  const head = Buffer.alloc(16);
  fs.readSync(reader, head, 0, 16, 0);
  // the kernel binds the inode to the lower backing file: the write open gets ESTALE,
  // looks the name up again and opens the upper copy
  const w = fs.openSync(f, 'r+');
  fs.writeSync(w, Buffer.from('NEW!'), 0, 4, 0);
  fs.closeSync(w);
  const again = Buffer.alloc(4);
  fs.readSync(reader, again, 0, 4, 0);
  fs.closeSync(reader);
  const merged = fs.readFileSync(f);
  const counts = await unmountCounts(s);
  t.deepEqual(head, s.data.subarray(0, 16));
  t.deepEqual(again, s.data.subarray(0, 4), 'the open reader still reads the lower file');
  const want = Buffer.concat([Buffer.from('NEW!'), s.data.subarray(4)]);
  t.true(merged.equals(want), 'the union shows the write');
  t.true(fs.readFileSync(path.join(s.spec.upper, 'd/big')).equals(want), 'the upper copy has it');
  t.true(fs.readFileSync(big).equals(s.data), 'the lower file is unchanged');
  t.is(counts.READ ?? 0, 0, 'reads went through passthrough, lower and upper');
});

test('a lower layer\'s objects, reached through its noatime mount, cannot be written at all', (t) => {
  const s = setup(t);
  const stack = new LayerStack({ lowers: [s.lower] });
  t.teardown(() => stack.close());
  const root = stack.lowers[0]!;
  t.true(root.noatimeMount);
  const d = native.openDirAt(root.rootFd, 'd');
  t.true(d >= 0);
  try {
    const code = (fn: () => unknown): string => {
      try {
        fn();
        return 'ok';
      } catch (e) {
        return (e as NodeJS.ErrnoException).code ?? String(e);
      }
    };
    t.is(code(() => fs.closeSync(native.openAt(d, 'big', fs.constants.O_WRONLY, 0))), 'EROFS');
    t.is(code(() => native.utimensAt(d, 'big', 1, 0, 1, 0)), 'EROFS');
    t.is(code(() => native.mkdirAt(d, 'new', 0o755)), 'EROFS');
    t.is(code(() => native.unlinkAt(d, 'big', 0)), 'EROFS');
    t.is(code(() => fs.closeSync(native.openAt(d, 'big', fs.constants.O_RDONLY, 0))), 'ok');
  } finally {
    fs.closeSync(d);
  }
  t.true(fs.readFileSync(path.join(s.lower, 'd/big')).equals(s.data), 'the lower file is unchanged');
});

test('a lower file copied up by a metadata change or truncate while a passthrough reader holds it opens again, on the copy', async (t) => {
  const s = setup(t);
  fs.writeFileSync(path.join(s.lower, 'd/small'), 'lower small\n');
  mount(s);
  const m = (p: string): string => path.join(s.mnt, p);
  const r1 = fs.openSync(m('d/big'), 'r');
  const r2 = fs.openSync(m('d/small'), 'r');
  try {
    fs.chmodSync(m('d/small'), 0o600); // copies it up, no open
    fs.truncateSync(m('d/big'), 4096);
    // the kernel's inodes are bound to the lower files: the opens get ESTALE, look the
    // names up again and open the copies
    const small = fs.readFileSync(m('d/small'), 'utf8');
    const big = fs.readFileSync(m('d/big'));
    fs.appendFileSync(m('d/small'), 'appended\n');
    t.is(small, 'lower small\n');
    t.true(big.equals(s.data.subarray(0, 4096)));
    t.is(fs.readFileSync(m('d/small'), 'utf8'), 'lower small\nappended\n');
    t.is(fs.statSync(m('d/small')).mode & 0o777, 0o600);
    t.is(fs.statSync(m('d/big')).size, 4096);
    // the readers still read the lower files
    const b = Buffer.alloc(5);
    fs.readSync(r2, b, 0, 5, 0);
    t.is(b.toString(), 'lower');
  } finally {
    fs.closeSync(r1);
    fs.closeSync(r2);
  }
  await unmountCounts(s);
  t.is(fs.readFileSync(path.join(s.lower, 'd/small'), 'utf8'), 'lower small\n');
  t.is(fs.readFileSync(path.join(s.spec.upper, 'd/small'), 'utf8'), 'lower small\nappended\n');
  t.is(fs.statSync(path.join(s.lower, 'd/big')).size, SIZE);
});
