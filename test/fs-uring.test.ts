// FUSE over io_uring (uring=on|auto|off): requests come through the ring's buffers and
// replies go back through it, with the same answers as over /dev/fuse; without the
// kernel's enable_uring, auto stays on /dev/fuse and on refuses to mount.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { runBoth, type UnionCtx } from './helpers/union';
import { hx, layers } from './helpers/feature-layers';
import { mountStrataFs, unmount } from './helpers/mount';
import { strataFsBin } from './helpers/paths';

const PARAM = '/sys/module/fuse/parameters/enable_uring';
const KIB = 1024;

// The parameter is the kernel's, for every mount: the tests that change it run one at a time,
// and the host gets back the value it had.
function setParam(on: boolean): void {
  fs.writeFileSync(PARAM, on ? 'Y' : 'N');
}
const paramBefore = fs.existsSync(PARAM) ? fs.readFileSync(PARAM, 'utf8').trim() : null;
test.after.always(() => {
  if (paramBefore !== null) fs.writeFileSync(PARAM, paramBefore);
});

/** Points the strata-fs daemons started from now on at a fresh request counts file. */
function countRequests(t: ExecutionContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-uring-counts-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'counts.json');
  process.env.STRATA_FS_REQUEST_COUNTS = file;
  t.teardown(() => { delete process.env.STRATA_FS_REQUEST_COUNTS; });
  return file;
}

/** What the daemon counted; it writes the file as its session ends, just after the unmount. */
async function readCounts(file: string): Promise<Record<string, number>> {
  for (let i = 0; i < 200 && !fs.existsSync(file); i++) await new Promise((r) => setTimeout(r, 50));
  return JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, number>;
}

/** Requests that may only come over /dev/fuse whatever the session speaks. */
const DEV_ONLY = ['INIT', 'FORGET', 'BATCH_FORGET', 'INTERRUPT'];

function total(counts: Record<string, number>, except: string[] = []): number {
  return Object.entries(counts).filter(([k]) => k !== 'OVER_IO_URING' && !except.includes(k)).reduce((a, [, n]) => a + n, 0);
}

function pattern(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed + (i >> 10)) & 0xff;
  return b;
}

const sha = (b: Buffer): string => crypto.createHash('sha256').update(b).digest('hex');

/** create, write, read, rename, unlink, readdir, xattrs and writes past 128 KiB. */
async function workload(c: UnionCtx): Promise<unknown> {
  const big = pattern(1536 * KIB, 7);
  await c.ops.must('write', { p: c.p('d/new'), data: 'fresh', flags: ['CREAT'] });
  await c.ops.must('write', { p: c.p('d/lower'), data: '+more', flags: ['APPEND'] });
  const fd = await c.ops.must('open', { p: c.p('d/big'), flags: ['RDWR', 'CREAT'] });
  // one write larger than a request's payload buffer, one across its end, one small
  await c.ops.must('fwrite', { fd, data: big, off: 0 });
  await c.ops.must('fwrite', { fd, data: pattern(300 * KIB, 9), off: 1000 * KIB + 5 });
  await c.ops.must('fwrite', { fd, data: 'tail', off: 1536 * KIB });
  const back = await c.ops.must('fread', { fd, n: 64, off: 1000 * KIB });
  await c.ops.must('close', { fd });
  await c.ops.must('rename', { p: c.p('d/new'), p2: c.p('d/renamed') });
  await c.ops.must('rename', { p: c.p('d/mid'), p2: c.p('d/sub/mid') });
  await c.ops.must('unlink', { p: c.p('d/other') });
  for (let i = 0; i < 40; i++) await c.ops.must('write', { p: c.p(`d/sub/f${i}`), data: `${i}`, flags: ['CREAT'] });
  await c.ops.must('setxattr', { p: c.p('d/renamed'), name: 'user.k', value: 'v'.repeat(3000) });
  await c.ops.must('setxattr', { p: c.p('d/lower'), name: 'user.a', value: 'A' });
  const removed = await c.ops.res('removexattr', { p: c.p('d/lower'), name: 'user.none' });
  const expected = Buffer.concat([big.subarray(0, 1000 * KIB + 5), pattern(300 * KIB, 9), big.subarray(1300 * KIB + 5), Buffer.from('tail')]);
  return {
    d: await c.ops.must('readdir', { p: c.p('d') }),
    sub: (await c.ops.must('readdir', { p: c.p('d/sub') })).length,
    renamed: await c.ops.must('read', { p: c.p('d/renamed') }),
    lower: await c.ops.must('read', { p: c.p('d/lower') }),
    mid: await c.ops.must('read', { p: c.p('d/sub/mid') }),
    other: await c.ops.res('stat', { p: c.p('d/other') }),
    big: await c.ops.must('read', { p: c.p('d/big') }),
    bigExpected: sha(expected),
    back,
    xk: (await c.ops.must('getxattr', { p: c.p('d/renamed'), name: 'user.k' })).length,
    xlist: await c.ops.must('listxattr', { p: c.p('d/lower') }),
    xnone: await c.ops.res('getxattr', { p: c.p('d/sub/f1'), name: 'user.none' }),
    removed,
  };
}

for (const passthrough of ['on', 'off']) {
  test.serial(`uring=on (passthrough=${passthrough}): every request but INIT and FORGET comes over the ring, answers as overlayfs`, async (t) => {
    setParam(true);
    const counts = countRequests(t);
    const r = await runBoth(t, { layers, strataOptions: ['uring=on', `passthrough=${passthrough}`] }, workload);
    const s = r.strata as Record<string, unknown>;
    t.is((s.big as { sha256: string }).sha256, s.bigExpected as string, 'the big file holds what was written');
    const o = r.overlay as Record<string, unknown>;
    // what overlayfs gives, so that a broken workload cannot pass by doing nothing
    t.deepEqual({ d: o.d, sub: o.sub, lower: o.lower, other: o.other, removed: o.removed, xnone: o.xnone, xk: o.xk }, {
      d: ['big', 'lower', 'renamed', 'sub'].map(hx).sort(), sub: 41, lower: { size: 15, hex: hx('lower data+more') },
      other: 'ENOENT', removed: 'ENODATA', xnone: 'ENODATA', xk: 6000,
    });
    t.deepEqual(r.strata, r.overlay, 'strata-fs over io_uring differs from kernel overlayfs');
    const n = await readCounts(counts);
    t.true((n.OVER_IO_URING ?? 0) > 100, `requests came over io_uring: ${JSON.stringify(n)}`);
    t.is(n.OVER_IO_URING, total(n, DEV_ONLY), `all but ${DEV_ONLY.join(', ')} came over the ring: ${JSON.stringify(n)}`);
    t.true((n.CREATE ?? 0) >= 40 && (n.RENAME2 ?? n.RENAME ?? 0) >= 2 && (n.SETXATTR ?? 0) >= 2 && (n.READDIRPLUS ?? n.READDIR ?? 0) >= 2);
    // without passthrough the data crosses as WRITE requests of up to 1 MiB
    if (passthrough === 'off') t.true((n.WRITE ?? 0) >= 3, `WRITE requests: ${n.WRITE}`);
  });
}

test.serial('uring=off and uring=auto with enable_uring N stay on /dev/fuse, answers as overlayfs; uring=on refuses', async (t) => {
  setParam(false);
  t.teardown(() => setParam(true));
  for (const mode of ['off', 'auto']) {
    const counts = countRequests(t);
    const r = await runBoth(t, { layers, strataOptions: [`uring=${mode}`, 'passthrough=off'] }, workload);
    t.deepEqual(r.strata, r.overlay, `uring=${mode}: strata-fs differs from kernel overlayfs`);
    const n = await readCounts(counts);
    t.false('OVER_IO_URING' in n, `uring=${mode}: nothing over io_uring: ${JSON.stringify(n)}`);
    t.true((n.WRITE ?? 0) >= 3, `uring=${mode}: requests were served: ${JSON.stringify(n)}`);
  }
  // uring=on must not mount on /dev/fuse reads behind one's back
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-uring-on-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  for (const d of ['l', 'u', 'w', 'm']) fs.mkdirSync(path.join(dir, d));
  const o = `lowerdir=${dir}/l,upperdir=${dir}/u,workdir=${dir}/w,uring=on`;
  const res = spawnSync(strataFsBin, ['-o', o, path.join(dir, 'm')], { encoding: 'utf8' });
  t.is(res.status, 1);
  t.regex(res.stderr, /^strata-fs: mount .*: uring=on: FUSE over io_uring is switched off \(.*enable_uring is N\)/);
  t.is(res.stderr.trim().split('\n').length, 1, 'one line');
  const bad = spawnSync(strataFsBin, ['-o', o.replace('uring=on', 'uring=yes'), path.join(dir, 'm')], { encoding: 'utf8' });
  t.is(bad.status, 2);
  t.is(bad.stderr.trim(), "strata-fs: bad value for uring: 'yes' (auto, on or off)");
});

test.serial('uring=auto with enable_uring Y serves over the ring', async (t) => {
  setParam(true);
  const counts = countRequests(t);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-uring-auto-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  for (const d of ['l', 'u', 'w', 'm']) fs.mkdirSync(path.join(dir, d));
  fs.writeFileSync(path.join(dir, 'l/f'), 'lower');
  const spec = { lowers: [path.join(dir, 'l')], upper: path.join(dir, 'u'), work: path.join(dir, 'w'), mnt: path.join(dir, 'm') };
  mountStrataFs(spec, ['uring=auto']);
  try {
    fs.writeFileSync(path.join(spec.mnt, 'g'), 'new');
    t.is(fs.readFileSync(path.join(spec.mnt, 'f'), 'utf8'), 'lower');
    t.deepEqual(fs.readdirSync(spec.mnt).sort(), ['f', 'g']);
  } finally {
    unmount(spec.mnt);
  }
  const n = await readCounts(counts);
  t.true((n.OVER_IO_URING ?? 0) > 0 && n.OVER_IO_URING === total(n, DEV_ONLY), JSON.stringify(n));
  t.is(fs.readFileSync(path.join(dir, 'u/g'), 'utf8'), 'new');
});
