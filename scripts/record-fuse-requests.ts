// Records the kernel's real FUSE requests for test/fuse-wire-recorded.test.ts: mounts a
// union of temporary directories in this process (passthrough off, and no native read or
// xattr shortcut, so every READ, WRITE and GETXATTR reaches JavaScript), runs one small
// Python step per operation against it, and writes each step's requests as hex to
// test/fixtures/fuse-requests.json. Run as root, once per protocol change:
//   node dist/scripts/record-fuse-requests.js
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { OPS } from '../src/fuse/ops';
import { InHeader } from '../src/fuse/protocol';
import { FuseSession, nativeDevice, type FuseDevice } from '../src/fuse/session';
import { native, MNT_DETACH } from '../src/native';
import { LayerStack } from '../src/union/layers';
import { UnionFs } from '../src/union/unionfs';

/** Each step is Python with `m` the mount point and umask 022; what it asks for is what
 *  the test expects to see decoded. */
const STEPS: [name: string, python: string][] = [
  ['mkdir', "os.mkdir(m + '/newdir', 0o750)"],
  ['mkfifo', "os.mkfifo(m + '/fifo', 0o640)"],
  ['create', "os.close(os.open(m + '/created', os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o604))"],
  ['write', "fd = os.open(m + '/created', os.O_WRONLY); os.pwrite(fd, b'hello wire', 4096); os.close(fd)"],
  ['read', "fd = os.open(m + '/lower-file', os.O_RDONLY); os.pread(fd, 100, 3); os.close(fd)"],
  ['truncate', "os.truncate(m + '/created', 3)"],
  ['chmod', "os.chmod(m + '/created', 0o4751)"],
  ['chown', "os.chown(m + '/created', 1234, 5678)"],
  ['utime', "os.utime(m + '/created', ns=(1_500_000_000_123_456_789, -1_000_000_001))"],
  ['symlink', "os.symlink('some/target', m + '/sym')"],
  ['link', "os.link(m + '/created', m + '/hardlink')"],
  ['rename', "os.rename(m + '/hardlink', m + '/newdir/moved')"],
  ['rename-exchange', (
    "import ctypes; libc = ctypes.CDLL(None, use_errno=True); "
    + "r = libc.renameat2(-100, (m + '/fifo').encode(), -100, (m + '/sym').encode(), 2); "
    + 'assert r == 0, ctypes.get_errno()'
  )],
  ['setxattr', "os.setxattr(m + '/created', 'user.wire', b'v\\x00alue', os.XATTR_CREATE)"],
  ['getxattr', "os.getxattr(m + '/created', 'user.wire')"],
  ['listxattr', "os.listxattr(m + '/created')"],
  ['removexattr', "os.removexattr(m + '/created', 'user.wire')"],
  ['fallocate', "fd = os.open(m + '/created', os.O_RDWR); os.posix_fallocate(fd, 8192, 4096); os.close(fd)"],
  ['lseek', "fd = os.open(m + '/created', os.O_RDONLY); os.lseek(fd, 1, os.SEEK_HOLE); os.close(fd)"],
  ['copy_file_range', (
    "a = os.open(m + '/created', os.O_RDONLY); b = os.open(m + '/copy', os.O_CREAT | os.O_WRONLY, 0o600); "
    + 'os.copy_file_range(a, b, 5, 1, 2); os.close(a); os.close(b)'
  )],
  ['fsync', "fd = os.open(m + '/created', os.O_WRONLY); os.fdatasync(fd); os.close(fd)"],
  ['statfs', 'os.statvfs(m)'],
  ['readdir', "os.listdir(m + '/lower-dir')"],
  ['unlink', "os.unlink(m + '/newdir/moved')"],
  ['rmdir', "os.rmdir(m + '/lower-dir/empty')"],
];

interface Recorded { op: string; hex: string }

async function main(): Promise<void> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-record-'));
  const [lower, upper, work, mnt] = ['lower', 'upper', 'work', 'mnt'].map((d) => path.join(root, d));
  for (const d of [lower, upper, work, mnt]) fs.mkdirSync(d!);
  fs.writeFileSync(path.join(lower!, 'lower-file'), 'abcdefghijklmnopqrstuvwxyz');
  fs.mkdirSync(path.join(lower!, 'lower-dir', 'empty'), { recursive: true });
  fs.writeFileSync(path.join(lower!, 'lower-dir', 'x'), '');

  LayerStack.prepareWorkDir(work!);
  const union = new UnionFs(new LayerStack({ lowers: [lower!], upper, work }));
  process.umask(0);
  const fd = native.openFuse();
  native.mount('strata-record', mnt!, 'fuse.strata-fs', 0, `fd=${fd},rootmode=40000,user_id=0,group_id=0,allow_other,default_permissions`);
  const dev: FuseDevice = { ...nativeDevice(fd), serveReads: () => {}, markXattrFree: () => {} };
  const session = new FuseSession(fd, union, {
    entryTimeout: 0, attrTimeout: 0, negativeTimeout: 0, passthrough: false, cacheDirs: false, debug: false,
    log: (m) => process.stderr.write(m + '\n'),
  }, dev);
  let current: Recorded[] = [];
  const buf = native.startPoll(fd, (1 << 20) + 8192, (len) => {
    if (len < 0) return;
    current.push({ op: OPS[buf.readUInt32LE(InHeader.opcode)]?.name ?? '?', hex: buf.subarray(0, len).toString('hex') });
    session.receive(buf, len);
  });

  const steps: { name: string; python: string; requests: Recorded[] }[] = [];
  try {
    for (const [name, python] of STEPS) {
      current = [];
      await run(`import os; os.umask(0o022); m = ${JSON.stringify(mnt)}; ${python}`);
      steps.push({ name, python, requests: current });
    }
  } finally {
    native.umount2(mnt!, MNT_DETACH);
  }
  const out = path.join(__dirname, '..', '..', 'test', 'fixtures', 'fuse-requests.json');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const doc = { recorded: 'node dist/scripts/record-fuse-requests.js', kernel: os.release(), steps };
  fs.writeFileSync(out, JSON.stringify(doc, null, 1) + '\n', { mode: 0o644 });
  process.stdout.write(`${steps.reduce((n, s) => n + s.requests.length, 0)} requests in ${steps.length} steps -> ${out}\n`);
  setTimeout(() => {
    fs.rmSync(root, { recursive: true, force: true });
    process.exit(0);
  }, 200);
}

function run(code: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn('/usr/bin/python3', ['-c', code], { stdio: ['ignore', 'inherit', 'inherit'] });
    p.on('exit', (c) => (c === 0 ? resolve() : reject(new Error(`step failed (${c}): ${code}`))));
  });
}

main().catch((e: Error) => {
  process.stderr.write(`${e.message}\n`);
  process.exit(1);
});
