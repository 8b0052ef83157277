// A lower layer that answers EIO (a small FUSE filesystem below the union). It runs on
// kernel overlayfs too, which says which errno is right.
import test from 'ava';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DRIVERS, mountUnion, UnionSpec } from './helpers/mount';
import { tempDirFor } from './helpers/tmp';
import { alive, daemonPid, logTail, mountStrata, run, statErr, waitDead } from './helpers/rel-daemon';
import { appendErr, errOf } from './helpers/rel-errs';
import { startFaultyFs } from './helpers/faulty-fs';
import { unmountAtTeardown, workEntries, writeTree } from './helpers/rel-setup';
import { useDropCachesStressor } from './helpers/dropcaches';

useDropCachesStressor(test);

const MIB = 1 << 20;

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
