// The benchmark counts each FUSE driver's requests with the kernel's fuse_request_send
// tracepoint, per mount: checked here on a real strata-fs mount, whose own requests the
// test causes and knows.
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FuseRequestTracer, kernelDev, parseTrace } from '../scripts/bench/fusetrace';
import { requestsTable } from '../scripts/bench/table';
import { listMounts, mountUnion, unmount } from './helpers/mount';
import { tempDirFor } from './helpers/tmp';

test('the connection named by a mount point is the device mountinfo gives it', (t) => {
  const root = tempDirFor(t, 'strata-bench-req-');
  const [lower, upper, work, mnt] = ['lower', 'upper', 'work', 'mnt'].map((n) => path.join(root, n));
  for (const d of [lower, upper, work, mnt]) fs.mkdirSync(d);
  mountUnion('strata', { lowers: [lower], upper, work, mnt });
  try {
    // the FUSE connection's number is its superblock's dev_t, as the kernel encodes it
    const [major, minor] = listMounts()
      .filter((m) => m.target === mnt)
      .pop()!
      .dev.split(':')
      .map(Number);
    t.is(kernelDev(fs.statSync(mnt).dev), major * 2 ** 20 + minor);
  } finally {
    unmount(mnt);
  }
});

test('device numbers past 255 minors keep their high minor bits', (t) => {
  // userspace new_encode_dev: minor low 8 bits, major 12 bits, then minor's high bits
  t.is(kernelDev(0x00_0_00_2a), 42);
  t.is(kernelDev((0x123 & 0xff) | (0x123 & ~0xff) * 4096), 0x123);
  t.is(kernelDev((7 << 8) | 5), 7 * 2 ** 20 + 5);
});

test('parseTrace counts request lines by opcode and nothing else', (t) => {
  const text = [
    '# tracer: nop',
    '            find-1234    [001] ..... 100.000001: fuse_request_send: connection 55 req 2 opcode 1 (FUSE_LOOKUP) len 50',
    '            find-1234    [001] ..... 100.000002: fuse_request_end: connection 55 req 2 len 144 error 0',
    '            find-1234    [000] ..... 100.000003: fuse_request_send: connection 55 req 4 opcode 44 (FUSE_READDIRPLUS) len 80',
    '            find-1234    [000] ..... 100.000004: fuse_request_send: connection 55 req 6 opcode 1 (FUSE_LOOKUP) len 51',
  ].join('\n');
  t.deepEqual(parseTrace(text), { total: 3, byOpcode: { LOOKUP: 2, READDIRPLUS: 1 } });
});

test('a strata-fs mount: the tracer counts the lookups and reads the test makes, and only that mount', (t) => {
  const tracer = FuseRequestTracer.open();
  if (typeof tracer === 'string') {
    t.fail(`no tracer on this machine: ${tracer}`);
    return;
  }
  const root = tempDirFor(t, 'strata-bench-req-');
  const mk = (n: string) => {
    const d = path.join(root, n);
    fs.mkdirSync(d);
    return d;
  };
  const [lower, upper, work, mnt, upper2, work2, mnt2] = ['lower', 'upper', 'work', 'mnt', 'upper2', 'work2', 'mnt2'].map(mk);
  for (let i = 0; i < 20; i++) fs.writeFileSync(path.join(lower, `f${i}`), `file ${i}\n`);
  mountUnion('strata', { lowers: [lower], upper, work, mnt });
  mountUnion('strata', { lowers: [lower], upper: upper2, work: work2, mnt: mnt2 });
  try {
    tracer.start(mnt);
    for (let i = 0; i < 20; i++) {
      t.is(fs.readFileSync(path.join(mnt, `f${i}`), 'utf8'), `file ${i}\n`);
      fs.statSync(path.join(mnt2, `f${i}`)); // another connection: not counted
    }
    const c = tracer.stop();
    t.false(c.lost);
    t.is(c.byOpcode.LOOKUP, 20);
    t.is(c.byOpcode.OPEN, 20);
    // the data itself goes through passthrough: no READ reaches the daemon
    t.false('READ' in c.byOpcode, JSON.stringify(c.byOpcode));
    t.is(c.total, Object.values(c.byOpcode).reduce((a, b) => a + b, 0));
    // stopped: nothing more is counted
    fs.readdirSync(mnt);
    tracer.start(mnt2);
    const none = tracer.stop();
    t.is(none.total, 0);
    const table = requestsTable([{ workload: 'w', label: 'reads', driver: 'strata-fs', perRun: [c, null] }]);
    t.regex(table, new RegExp(`\\| reads .*\\b${c.total} \\(`));
  } finally {
    tracer.close();
    unmount(mnt);
    unmount(mnt2);
  }
  // the instance is gone (and tracefs unmounted again if the tracer had to mount it)
  t.false(fs.existsSync(`/sys/kernel/tracing/instances/strata-bench-${process.pid}`));
});
