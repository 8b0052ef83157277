// A quota on the upper (EDQUOT, from a btrfs qgroup). It runs on kernel overlayfs too,
// which says which errno is right.
import test from 'ava';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DRIVERS, mountUnion, unmount, UnionSpec } from './helpers/mount';
import { tempDirFor } from './helpers/tmp';
import { PyOps } from './helpers/pyops';
import { alive, logTail, mountStrata, run } from './helpers/rel-daemon';
import { appendErr, errOf, fillUntilError } from './helpers/rel-errs';
import { unmountAtTeardown, workEntries, writeTree } from './helpers/rel-setup';
import { useDropCachesStressor } from './helpers/dropcaches';

useDropCachesStressor(test);

const MIB = 1 << 20;
const sha = (b: Buffer): string => crypto.createHash('sha256').update(b).digest('hex').slice(0, 16);
const must = (cmd: string, args: string[]): string => {
  const r = run(cmd, args);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.out}`);
  return r.out;
};

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
