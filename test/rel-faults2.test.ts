// Faults that need their own machinery: a quota on the upper (EDQUOT, from a btrfs qgroup),
// a lower layer that answers EIO (a small FUSE filesystem below the union), and a strata-fs
// bug in one request (the STRATA_FS_FAULT hook). The first two run on kernel overlayfs too,
// which says which errno is right.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { DRIVERS, fstypeAt, mountUnion, unmount, UnionSpec } from './helpers/mount';
import { tempDirFor } from './helpers/tmp';
import { PyOps } from './helpers/pyops';
import { python } from './helpers/paths';
import { alive, daemonPid, logTail, memKb, mountStrata, run, statErr, waitDead } from './helpers/rel-daemon';
import { appendErr, errOf, fillUntilError } from './helpers/rel-errs';
import { startFaultyFs } from './helpers/faulty-fs';
import { buildLoadLower, seedFor, startWriter } from './helpers/rel-load';
import { seedFromEnv } from './helpers/rng';
import { useDropCachesStressor } from './helpers/dropcaches';

useDropCachesStressor(test);

const MIB = 1 << 20;
const sha = (b: Buffer): string => crypto.createHash('sha256').update(b).digest('hex').slice(0, 16);
const must = (cmd: string, args: string[]): string => {
  const r = run(cmd, args);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.out}`);
  return r.out;
};

function writeTree(root: string, files: Record<string, Buffer | string>): void {
  for (const [p, data] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, p)), { recursive: true, mode: 0o755 });
    fs.writeFileSync(path.join(root, p), data, { mode: 0o644 });
  }
}

/** As fillUntilError, by another uid: writes `total` bytes of `byte` (a short write counts
 *  as written), fsyncs, closes; the first errno or "ok". */
async function userFill(user: PyOps, p: string, total: number, byte: number): Promise<string> {
  const o = await user.call('open', { p, flags: ['WRONLY', 'CREAT', 'TRUNC'] });
  // a create may already fail (btrfs reserves quota for the new inode)
  if (!o.ok) return String(o.err);
  const fd = o.v as number;
  let err = 'ok';
  for (let n = 0; n < total && err === 'ok';) {
    const w = await user.call('fwrite', { fd, data: Buffer.alloc(Math.min(256 << 10, total - n), byte) });
    if (w.ok) n += w.v as number;
    else err = String(w.err);
  }
  if (err === 'ok') err = await user.res('fsync', { fd });
  const c = await user.res('close', { fd });
  return err === 'ok' ? c : err;
}

function workEntries(work: string): string[] {
  const w = path.join(work, 'work');
  return fs.existsSync(w) ? fs.readdirSync(w) : [];
}

/** Unmounts at teardown; register after whatever the mount sits on (teardowns run last-first). */
function unmountAtTeardown(t: ExecutionContext, mnt: string): void {
  t.teardown(() => {
    if (fstypeAt(mnt)) unmount(mnt);
  });
}

// This kernel has CONFIG_QUOTA but neither QFMT_V2 (ext4 user quotas: "The kernel was not
// built with CONFIG_QUOTA and CONFIG_QFMT_V2"), XFS_QUOTA nor TMPFS_QUOTA. A btrfs qgroup
// limit on the upper's subvolume is the quota that works here, and it binds root too
// (CAP_SYS_RESOURCE does not lift it), so the daemon needs no capability dropped.
test('EDQUOT on the upper (btrfs qgroup): the errno reaches the caller, no partial copy-up, old files intact, works again once space is freed or the quota raised', async (t) => {
  const dir = tempDirFor(t, 'strata-rel-edquot-');
  const img = path.join(dir, 'btrfs.img');
  const bt = path.join(dir, 'bt');
  fs.mkdirSync(bt);
  fs.writeFileSync(img, '');
  fs.truncateSync(img, 160 * MIB);
  must('mkfs.btrfs', ['-q', '-f', img]);
  must('mount', ['-o', 'loop', img, bt]);
  unmountAtTeardown(t, bt);
  must('btrfs', ['quota', 'enable', bt]);

  const big = crypto.randomBytes(6 * MIB);
  const tail = Buffer.from('appended after space was freed');
  const lower = path.join(dir, 'lower');
  writeTree(lower, { big, keep: 'lower keep', 'd/f': 'in d' });
  const user = new PyOps({ uid: 1000, gid: 1000 });
  t.teardown(() => user.close());
  const results: Record<string, unknown> = {};
  for (const driver of DRIVERS) {
    // one subvolume, and so one quota, per driver
    const sv = path.join(bt, driver);
    must('btrfs', ['subvolume', 'create', sv]);
    must('btrfs', ['qgroup', 'limit', '8M', sv]);
    const spec: UnionSpec = { lowers: [lower], upper: path.join(sv, 'upper'), work: path.join(sv, 'work'), mnt: path.join(dir, `mnt-${driver}`) };
    for (const d of [spec.upper!, spec.work!, spec.mnt]) fs.mkdirSync(d, { mode: 0o755 });
    const log = path.join(dir, `log-${driver}`);
    const pid = driver === 'strata' ? mountStrata(spec, log) : (mountUnion('overlay', spec), undefined);
    unmountAtTeardown(t, spec.mnt);
    const m = (p: string) => path.join(spec.mnt, p);
    const fill = Buffer.alloc(3 * MIB, 0x41);
    fs.writeFileSync(m('fill'), fill);
    fs.writeFileSync(m('mine'), 'mine');
    fs.mkdirSync(m('u'));
    fs.chownSync(m('u'), 1000, 1000);
    const r: Record<string, unknown> = {};
    // 3 MiB used of 8, the copy-up needs 6
    r.copyUp = appendErr(m('big'), Buffer.from('x'));
    r.upperHasBig = fs.existsSync(path.join(spec.upper!, 'big'));
    r.workAfterFailedCopyUp = workEntries(spec.work!);
    r.mergedBig = sha(fs.readFileSync(m('big')));
    r.newFileFill = fillUntilError(m('over'), 16 * MIB);
    r.userWrite = await userFill(user, m('u/f'), MIB, 1);
    r.unlinkOver = errOf(() => fs.unlinkSync(m('over')));
    r.intact = [sha(fs.readFileSync(m('fill'))) === sha(fill), fs.readFileSync(m('mine'), 'utf8'), fs.readFileSync(m('keep'), 'utf8'), fs.readFileSync(m('d/f'), 'utf8')];
    r.unlinkFill = errOf(() => fs.unlinkSync(m('fill')));
    // btrfs gives freed space back to the qgroup when the transaction commits
    must('sync', ['-f', spec.upper!]);
    r.copyUpAfterFree = appendErr(m('big'), tail);
    r.mergedBigAfter = sha(fs.readFileSync(m('big')));
    r.upperBigAfter = fs.existsSync(path.join(spec.upper!, 'big')) ? sha(fs.readFileSync(path.join(spec.upper!, 'big'))) : 'absent';
    // ~6 MiB used of 8: 4 more fit only under a raised quota
    r.userWriteOver = await userFill(user, m('u/g'), 4 * MIB, 2);
    must('btrfs', ['qgroup', 'limit', '64M', sv]);
    r.userWriteRaised = await userFill(user, m('u/g'), 4 * MIB, 3);
    r.userFile = [fs.statSync(m('u/g')).uid, sha(fs.readFileSync(m('u/g'))) === sha(Buffer.alloc(4 * MIB, 3))];
    if (pid !== undefined) {
      r.daemonAlive = alive(pid);
      r.log = logTail(log, 50).match(/internal error|uncaught|exception/gi) ?? [];
    }
    unmount(spec.mnt);
    r.workAtEnd = workEntries(spec.work!);
    results[driver] = r;
  }
  const want = {
    copyUp: 'EDQUOT',
    upperHasBig: false,
    workAfterFailedCopyUp: [],
    mergedBig: sha(big),
    newFileFill: 'EDQUOT',
    userWrite: 'EDQUOT',
    unlinkOver: 'ok',
    intact: [true, 'mine', 'lower keep', 'in d'],
    unlinkFill: 'ok',
    copyUpAfterFree: 'ok',
    mergedBigAfter: sha(Buffer.concat([big, tail])),
    upperBigAfter: sha(Buffer.concat([big, tail])),
    userWriteOver: 'EDQUOT',
    userWriteRaised: 'ok',
    userFile: [1000, true],
    workAtEnd: [],
  };
  t.deepEqual(results.overlay, want, 'kernel overlayfs: the test is wrong');
  t.deepEqual(results.strata, { ...want, daemonAlive: true, log: [] }, 'strata-fs');
});

test('EIO from a lower file (a faulty FUSE lower) reaches the caller; no partial copy-up; other files and the daemon keep working', async (t) => {
  const dir = tempDirFor(t, 'strata-rel-eio-');
  const src = path.join(dir, 'src');
  const bad = crypto.randomBytes(MIB);
  writeTree(src, { good: 'good data', bad, 'x/gone': 'unreachable', 'x/ok': 'ok in x', 'd/keep': 'keep' });
  const fmnt = path.join(dir, 'faulty');
  fs.mkdirSync(fmnt);
  // READ of "bad" and LOOKUP of "gone" fail in the kernel's FUSE layer below the union
  const faulty = await startFaultyFs(src, fmnt, path.join(dir, 'faults'), { read: ['bad'], lookup: ['gone'] });
  t.teardown(() => faulty.stop());
  t.deepEqual([errOf(() => fs.readFileSync(path.join(fmnt, 'bad'))), fs.readFileSync(path.join(fmnt, 'good'), 'utf8')], ['EIO', 'good data'], 'the faulty lower itself');

  const results: Record<string, unknown> = {};
  for (const driver of DRIVERS) {
    const base = path.join(dir, driver);
    const spec: UnionSpec = { lowers: [fmnt], upper: path.join(base, 'upper'), work: path.join(base, 'work'), mnt: path.join(base, 'mnt') };
    for (const d of [spec.upper!, spec.work!, spec.mnt]) fs.mkdirSync(d, { recursive: true, mode: 0o755 });
    const log = path.join(base, 'log');
    const pid = driver === 'strata' ? mountStrata(spec, log) : (mountUnion('overlay', spec), undefined);
    unmountAtTeardown(t, spec.mnt);
    const m = (p: string) => path.join(spec.mnt, p);
    const before = faulty.injected().length;
    const r: Record<string, unknown> = {};
    r.list = fs.readdirSync(spec.mnt).sort();
    r.statBad = errOf(() => fs.statSync(m('bad')));
    r.sizeBad = fs.statSync(m('bad')).size;
    r.readBad = errOf(() => fs.readFileSync(m('bad')));
    r.readGood = fs.readFileSync(m('good'), 'utf8');
    // a copy-up reads the lower file
    r.appendBad = appendErr(m('bad'), Buffer.from('x'));
    r.chmodBad = errOf(() => fs.chmodSync(m('bad'), 0o600));
    r.upperHasBad = fs.existsSync(path.join(spec.upper!, 'bad'));
    r.workAfterFailedCopyUp = workEntries(spec.work!);
    r.readBadAgain = errOf(() => fs.readFileSync(m('bad')));
    r.statGone = statErr(m('x/gone'));
    r.listX = errOf(() => fs.readdirSync(m('x')));
    r.readOk = fs.readFileSync(m('x/ok'), 'utf8');
    r.appendGood = appendErr(m('good'), Buffer.from('+'));
    r.good = fs.readFileSync(m('good'), 'utf8');
    r.create = errOf(() => fs.writeFileSync(m('d/new'), 'new'));
    r.keep = fs.readFileSync(m('d/keep'), 'utf8');
    // a truncating open copies no data up, so the bad lower data does not matter
    r.truncBad = errOf(() => fs.writeFileSync(m('bad'), 'replaced'));
    r.badAfterTrunc = fs.readFileSync(m('bad'), 'utf8');
    const injected = faulty.injected().slice(before);
    r.lowerAnsweredEio = [injected.includes('read bad'), injected.includes('lookup gone')];
    if (pid !== undefined) {
      r.daemon = alive(pid) && daemonPid(spec.mnt) === pid ? 'same daemon' : 'daemon gone';
      // an errno from a layer is an answer, not a strata bug
      r.log = logTail(log, 50).match(/internal error|uncaught|exception/gi) ?? [];
    }
    const u = run('umount', [spec.mnt]);
    r.umount = u.status === 0 ? 'ok' : u.out;
    if (pid !== undefined) r.daemonExited = await waitDead(pid);
    r.workAtEnd = workEntries(spec.work!);
    r.upper = fs.readdirSync(spec.upper!).sort();
    results[driver] = r;
  }
  const want = {
    list: ['bad', 'd', 'good', 'x'],
    statBad: 'ok',
    sizeBad: MIB,
    readBad: 'EIO',
    readGood: 'good data',
    appendBad: 'EIO',
    chmodBad: 'EIO',
    upperHasBad: false,
    workAfterFailedCopyUp: [],
    readBadAgain: 'EIO',
    statGone: 'EIO',
    listX: 'ok',
    readOk: 'ok in x',
    appendGood: 'ok',
    good: 'good data+',
    create: 'ok',
    keep: 'keep',
    truncBad: 'ok',
    badAfterTrunc: 'replaced',
    lowerAnsweredEio: [true, true],
    umount: 'ok',
    workAtEnd: [],
    upper: ['bad', 'd', 'good'],
  };
  t.deepEqual(results.overlay, want, 'kernel overlayfs: the test is wrong');
  t.deepEqual(results.strata, { ...want, daemon: 'same daemon', log: [], daemonExited: true }, 'strata-fs');
});

const FAULT_ENV = 'STRATA_FS_FAULT';
const TRIGGERS = 1000;
// A daemon takes ~50 MiB; 1,000 logged exceptions must not keep it growing.
const RSS_LIMIT_KB = 150 * 1024;

/** Stats `p` n times in a separate process; prints how many times each answer came. */
function statLoop(p: string, n: number): Promise<Record<string, number>> {
  const code = `
import os, sys, json, errno
out = {}
for i in range(${n}):
    try:
        os.stat(sys.argv[1]); k = "ok"
    except OSError as e:
        k = errno.errorcode.get(e.errno, str(e.errno))
    out[k] = out.get(k, 0) + 1
print(json.dumps(out))
`;
  const child = spawn(python, ['-c', code, p], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  return new Promise((resolve, reject) => child.on('close', (c) => (c === 0 ? resolve(JSON.parse(out) as Record<string, number>) : reject(new Error(`stat loop exited ${c}: ${err}`)))));
}

test(`a daemon exception in one request (${FAULT_ENV}) answers it with EIO, is logged with its stack, and ${TRIGGERS} of them leave the daemon serving others with bounded memory`, async (t) => {
  const dir = tempDirFor(t, 'strata-rel-exc-');
  const lower = path.join(dir, 'lower');
  const WRITERS = 4;
  const OPS = 400;
  const seed = seedFromEnv();
  buildLoadLower(lower, WRITERS, seed);
  writeTree(lower, { boom: 'in the lower', 'd/boom': 'deeper', 'd/fine': 'fine' });
  const spec: UnionSpec = { lowers: [lower], upper: path.join(dir, 'upper'), work: path.join(dir, 'work'), mnt: path.join(dir, 'mnt') };
  for (const d of [spec.upper!, spec.work!, spec.mnt]) fs.mkdirSync(d, { mode: 0o755 });
  const log = path.join(dir, 'log');

  // a bad value is refused before anything is mounted
  const badMount = errOf(() => mountStrata(spec, log, [], { ...process.env, [FAULT_ENV]: 'lookup' }));
  t.regex(badMount, /STRATA_FS_FAULT='lookup': expected OP:NAME/);
  t.is(fstypeAt(spec.mnt), undefined);

  const pid = mountStrata(spec, log, [], { ...process.env, [FAULT_ENV]: 'lookup:boom' });
  unmountAtTeardown(t, spec.mnt);
  const m = (p: string) => path.join(spec.mnt, p);
  const rss0 = memKb(pid).rss;
  const injectedInLog = () => (fs.readFileSync(log, 'utf8').match(/injected fault: lookup boom/g) ?? []).length;

  t.is(statErr(m('boom')), 'EIO', 'stat of the faulting name');
  t.is(statErr(m('d/boom')), 'EIO', 'the same name in another directory');
  fs.mkdirSync(m('e'));
  t.is(errOf(() => fs.writeFileSync(m('e/boom'), 'x')), 'EIO', 'create of the faulting name');
  t.false(fs.existsSync(path.join(spec.upper!, 'e', 'boom')));
  t.is(fs.readFileSync(m('d/fine'), 'utf8'), 'fine', 'a neighbour');
  t.true(fs.readdirSync(spec.mnt).includes('boom'), 'readdir still lists the name');
  const text = fs.readFileSync(log, 'utf8');
  t.regex(text, /strata-fs: internal error in op 1: Error: injected fault: lookup boom\n\s+at .*fault\.js/, 'logged as an internal error with its stack');
  t.is(injectedInLog(), 3);

  // Writers in their own directories (checked against their model as they go and at the end)
  // while two other processes trigger the exception TRIGGERS times in all.
  let peak = rss0;
  const sampler = setInterval(() => {
    try {
      peak = Math.max(peak, memKb(pid).rss);
    } catch {
      // exited: the checks below say so
    }
  }, 100);
  let writers;
  let loops;
  try {
    [writers, loops] = await Promise.all([
      Promise.all(Array.from({ length: WRITERS }, (_, w) => startWriter(m(`w${w}`), seedFor(seed, w), OPS))),
      Promise.all([statLoop(m('boom'), TRIGGERS / 2), statLoop(m('d/boom'), TRIGGERS / 2)]),
    ]);
  } finally {
    clearInterval(sampler);
  }
  for (const w of writers) {
    t.is(w.code, 0, `writer in ${w.dir}: ${w.stderr}`);
    t.deepEqual(w.result?.errors, [], `writer in ${w.dir} (seed ${seed})`);
    t.is(w.result?.ops, OPS);
  }
  t.deepEqual(loops, [{ EIO: TRIGGERS / 2 }, { EIO: TRIGGERS / 2 }], 'every triggering stat got EIO');
  t.is(injectedInLog(), 3 + TRIGGERS, 'each exception logged once');
  t.true(alive(pid) && daemonPid(spec.mnt) === pid, 'the same daemon serves on');
  const rss1 = memKb(pid).rss;
  t.log(`daemon RSS: ${Math.round(rss0 / 1024)} MiB at start, peak ${Math.round(peak / 1024)} MiB, ${Math.round(rss1 / 1024)} MiB after ${TRIGGERS} exceptions and ${WRITERS * OPS} writer ops`);
  t.true(peak < RSS_LIMIT_KB, `RSS peaked at ${peak} kB`);
  t.is(fs.readFileSync(m('d/fine'), 'utf8'), 'fine');
  t.notRegex(fs.readFileSync(log, 'utf8'), /uncaught|session ended/i);
  const u = run('umount', [spec.mnt]);
  t.is(u.status, 0, u.out);
  t.true(await waitDead(pid), 'daemon exits after umount');
  t.deepEqual(workEntries(spec.work!), []);
});
