// Faults from below and beside the mount: a full upper (ENOSPC), an upper that turns
// read-only, immutable upper files, and unmounting while files are open. Each runs on
// kernel overlayfs too, which says which errno is right.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { Driver, DRIVERS, fstypeAt, mountUnion, unmount, UnionSpec } from './helpers/mount';
import { tempDirFor } from './helpers/tmp';
import { PyOps } from './helpers/pyops';
import { daemonPid, alive, run, waitDead, sleep } from './helpers/rel-daemon';
import { appendErr, errOf, fillUntilError } from './helpers/rel-errs';

const MIB = 1 << 20;
const sha = (b: Buffer): string => crypto.createHash('sha256').update(b).digest('hex').slice(0, 16);

interface Setup {
  dir: string;
  lower: string;
  upper: string;
  work: string;
  mnt: string;
  spec: UnionSpec;
  pid?: number; // strata's daemon
}

/** A lower on the test filesystem and, with `tmpfsSize`, upper+work on a fresh tmpfs. */
function setup(t: ExecutionContext, driver: Driver, lowerFiles: Record<string, Buffer>, tmpfsSize?: string): Setup {
  const dir = tempDirFor(t, `strata-rel-faults-${driver}-`);
  const lower = path.join(dir, 'lower');
  const mnt = path.join(dir, 'mnt');
  const tt = path.join(dir, 'tt');
  for (const d of [lower, mnt, tt]) fs.mkdirSync(d, { mode: 0o755 });
  for (const [p, data] of Object.entries(lowerFiles)) {
    fs.mkdirSync(path.dirname(path.join(lower, p)), { recursive: true });
    fs.writeFileSync(path.join(lower, p), data, { mode: 0o644 });
  }
  if (tmpfsSize) {
    const r = run('mount', ['-t', 'tmpfs', '-o', `size=${tmpfsSize},mode=0755`, 'tmpfs', tt]);
    if (r.status !== 0) throw new Error(`mount tmpfs: ${r.out}`);
    // mounts are removed deepest first; the union (dir/mnt) must go before its upper (dir/tt)
    t.teardown(() => {
      if (fstypeAt(mnt)) unmount(mnt);
    });
  }
  const upper = path.join(tt, 'upper');
  const work = path.join(tt, 'work');
  fs.mkdirSync(upper, { mode: 0o755 });
  fs.mkdirSync(work, { mode: 0o755 });
  const spec = { lowers: [lower], upper, work, mnt };
  mountUnion(driver, spec);
  t.teardown(() => {
    if (fstypeAt(mnt)) unmount(mnt);
  });
  return { dir, lower, upper, work, mnt, spec, pid: driver === 'strata' ? daemonPid(mnt) : undefined };
}

function workEntries(s: Setup): string[] {
  const w = path.join(s.work, 'work');
  return fs.existsSync(w) ? fs.readdirSync(w) : [];
}

test('ENOSPC on the upper: the errno reaches the caller, no partial copy-up, old files intact, works again once space is freed', async (t) => {
  const big = crypto.randomBytes(3 * MIB);
  const tail = Buffer.from('appended after space was freed');
  const results: Record<string, unknown> = {};
  for (const driver of DRIVERS) {
    const s = setup(t, driver, { big, keep: Buffer.from('lower keep'), 'd/f': Buffer.from('in d') }, '4m');
    const m = (p: string) => path.join(s.mnt, p);
    const fill = Buffer.alloc(1.5 * MIB, 0x41);
    fs.writeFileSync(m('fill'), fill);
    fs.writeFileSync(m('mine'), 'mine');
    const r: Record<string, unknown> = {};
    // 2.5 MiB free, the copy-up needs 3
    r.copyUp = appendErr(m('big'), Buffer.from('x'));
    r.upperHasBig = fs.existsSync(path.join(s.upper, 'big'));
    r.workAfterFailedCopyUp = workEntries(s);
    r.mergedBig = sha(fs.readFileSync(m('big')));
    r.newFileFill = fillUntilError(m('over'), 8 * MIB);
    r.unlinkOver = errOf(() => fs.unlinkSync(m('over')));
    r.intact = [sha(fs.readFileSync(m('fill'))) === sha(fill), fs.readFileSync(m('mine'), 'utf8'), fs.readFileSync(m('keep'), 'utf8'), fs.readFileSync(m('d/f'), 'utf8')];
    r.unlinkFill = errOf(() => fs.unlinkSync(m('fill')));
    r.copyUpAfterFree = appendErr(m('big'), tail);
    r.mergedBigAfter = sha(fs.readFileSync(m('big')));
    r.upperBigAfter = fs.existsSync(path.join(s.upper, 'big')) ? sha(fs.readFileSync(path.join(s.upper, 'big'))) : 'absent';
    if (s.pid !== undefined) r.daemonAlive = alive(s.pid);
    unmount(s.mnt);
    r.workAtEnd = workEntries(s);
    results[driver] = r;
  }
  const want = {
    copyUp: 'ENOSPC',
    upperHasBig: false,
    workAfterFailedCopyUp: [],
    mergedBig: sha(big),
    newFileFill: 'ENOSPC',
    unlinkOver: 'ok',
    intact: [true, 'mine', 'lower keep', 'in d'],
    unlinkFill: 'ok',
    copyUpAfterFree: 'ok',
    mergedBigAfter: sha(Buffer.concat([big, tail])),
    upperBigAfter: sha(Buffer.concat([big, tail])),
    workAtEnd: [],
  };
  t.deepEqual(results.overlay, want, 'kernel overlayfs: the test is wrong');
  t.deepEqual(results.strata, { ...want, daemonAlive: true }, 'strata-fs');
});

test('an upper that turns read-only gives EROFS, and the mount works again once it is writable', async (t) => {
  const results: Record<string, unknown> = {};
  for (const driver of DRIVERS) {
    const s = setup(t, driver, { l1: Buffer.from('one'), l2: Buffer.from('two') }, '8m');
    const m = (p: string) => path.join(s.mnt, p);
    const tt = path.dirname(s.upper);
    const r: Record<string, string> = {};
    r.createBefore = errOf(() => fs.writeFileSync(m('a'), 'a'));
    // a FUSE close sends RELEASE after close(2) returns, so the daemon may hold a's upper
    // file open for writing a moment longer, and a remount read-only is refused as busy
    let ro = run('mount', ['-o', 'remount,ro', tt]);
    for (let i = 0; i < 100 && ro.status !== 0 && /busy/.test(ro.out); i++) {
      await sleep(50);
      ro = run('mount', ['-o', 'remount,ro', tt]);
    }
    if (ro.status !== 0) throw new Error(`remount ro: ${ro.out}`);
    try {
      r.create = errOf(() => fs.writeFileSync(m('b'), 'b'));
      r.copyUp = appendErr(m('l1'), Buffer.from('+'));
      r.unlinkLower = errOf(() => fs.unlinkSync(m('l2')));
      r.mkdir = errOf(() => fs.mkdirSync(m('dd')));
      r.writeUpper = appendErr(m('a'), Buffer.from('+'));
      r.readStill = errOf(() => fs.readFileSync(m('l2')));
    } finally {
      run('mount', ['-o', 'remount,rw', tt]);
    }
    r.createAfter = errOf(() => fs.writeFileSync(m('b'), 'b'));
    r.copyUpAfter = appendErr(m('l1'), Buffer.from('+'));
    r.content = fs.readFileSync(m('l1'), 'utf8');
    if (s.pid !== undefined) r.daemon = alive(s.pid) && daemonPid(s.mnt) === s.pid ? 'same daemon' : 'daemon gone';
    unmount(s.mnt);
    results[driver] = r;
  }
  const want = {
    createBefore: 'ok', create: 'EROFS', copyUp: 'EROFS', unlinkLower: 'EROFS', mkdir: 'EROFS', writeUpper: 'EROFS',
    readStill: 'ok', createAfter: 'ok', copyUpAfter: 'ok', content: 'one+',
  };
  t.deepEqual(results.overlay, want, 'kernel overlayfs: the test is wrong');
  t.deepEqual(results.strata, { ...want, daemon: 'same daemon' }, 'strata-fs');
});

test('permission errors from the upper (immutable file, non-root caller) reach the caller as errnos; the daemon keeps serving', async (t) => {
  const results: Record<string, unknown> = {};
  const user = new PyOps({ uid: 1000, gid: 1000 });
  t.teardown(() => user.close());
  for (const driver of DRIVERS) {
    const s = setup(t, driver, { l: Buffer.from('lower') });
    const m = (p: string) => path.join(s.mnt, p);
    fs.writeFileSync(m('f'), 'data');
    const r: Record<string, string> = {};
    const ch = run('chattr', ['+i', path.join(s.upper, 'f')]);
    if (ch.status !== 0) throw new Error(`chattr: ${ch.out}`);
    try {
      r.append = appendErr(m('f'), Buffer.from('+'));
      r.unlink = errOf(() => fs.unlinkSync(m('f')));
      r.rename = errOf(() => fs.renameSync(m('f'), m('g')));
      r.chmod = errOf(() => fs.chmodSync(m('f'), 0o600));
      r.setxattr = await (async () => {
        const x = await user.call('setxattr', { p: m('f'), name: 'user.x', value: 'v' });
        // EACCES (no write permission) or EPERM (immutable): kernel overlayfs answers
        // EPERM once its inode has picked up the real inode's immutable flag, which
        // depends on whether the inode was evicted in between
        return x.ok ? 'ok' : x.err === 'EACCES' || x.err === 'EPERM' ? 'denied' : String(x.err);
      })();
      r.read = fs.readFileSync(m('f'), 'utf8');
    } finally {
      run('chattr', ['-i', path.join(s.upper, 'f')]);
    }
    r.userCreateInRoot = await user.res('create', { p: m('u') });
    r.userWriteLower = await user.res('write', { p: m('l'), data: 'x' });
    r.appendAfter = appendErr(m('f'), Buffer.from('+'));
    r.content = fs.readFileSync(m('f'), 'utf8');
    if (s.pid !== undefined) r.daemon = alive(s.pid) ? 'alive' : 'dead';
    unmount(s.mnt);
    results[driver] = r;
  }
  const want = {
    append: 'EPERM', unlink: 'EPERM', rename: 'EPERM', chmod: 'EPERM', setxattr: 'denied', read: 'data',
    userCreateInRoot: 'EACCES', userWriteLower: 'EACCES', appendAfter: 'ok', content: 'data+',
  };
  t.deepEqual(results.overlay, want, 'kernel overlayfs: the test is wrong');
  t.deepEqual(results.strata, { ...want, daemon: 'alive' }, 'strata-fs');
});

test('umount with a file open or a process inside fails with EBUSY; umount -l works and nothing written is lost', async (t) => {
  const results: Record<string, unknown> = {};
  for (const driver of DRIVERS) {
    const s = setup(t, driver, { l: Buffer.from('lower\n') });
    const m = (p: string) => path.join(s.mnt, p);
    const r: Record<string, unknown> = {};
    // a process whose cwd is in the mount
    const sitter = spawn('sleep', ['60'], { cwd: s.mnt, stdio: 'ignore' });
    t.teardown(() => { sitter.kill('SIGKILL'); });
    await sleep(100);
    const u1 = run('umount', [s.mnt]);
    r.cwdHolder = [u1.status !== 0, /busy/i.test(u1.out), fstypeAt(s.mnt) !== undefined];
    sitter.kill('SIGKILL');
    await new Promise((res) => (sitter.exitCode !== null || sitter.signalCode !== null ? res(null) : sitter.once('exit', res)));

    const ops = new PyOps();
    t.teardown(() => ops.close());
    const fd = await ops.must('open', { p: m('l'), flags: ['WRONLY', 'APPEND'] });
    await ops.must('fwrite', { fd, data: 'before umount\n' });
    await ops.must('fsync', { fd });
    const u2 = run('umount', [s.mnt]);
    r.openFile = [u2.status !== 0, /busy/i.test(u2.out), fstypeAt(s.mnt) !== undefined];
    r.stillServing = fs.readFileSync(m('l'), 'utf8');
    const lazy = run('umount', ['-l', s.mnt]);
    r.lazy = [lazy.status, fstypeAt(s.mnt) === undefined];
    // the detached mount still serves the open file
    await ops.must('fwrite', { fd, data: 'after lazy umount\n' });
    await ops.must('close', { fd });
    await ops.close();
    if (s.pid !== undefined) r.daemonExited = await waitDead(s.pid);
    r.upper = fs.readFileSync(path.join(s.upper, 'l'), 'utf8');
    results[driver] = r;
  }
  const want = {
    cwdHolder: [true, true, true],
    openFile: [true, true, true],
    stillServing: 'lower\nbefore umount\n',
    lazy: [0, true],
    upper: 'lower\nbefore umount\nafter lazy umount\n',
  };
  t.deepEqual(results.overlay, want, 'kernel overlayfs: the test is wrong');
  t.deepEqual(results.strata, { ...want, daemonExited: true }, 'strata-fs');
});
