// A strata-fs bug in one request (the STRATA_FS_FAULT hook): answered with EIO, logged, and
// survived by the daemon and every other caller.
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { fstypeAt, UnionSpec } from './helpers/mount';
import { tempDirFor } from './helpers/tmp';
import { python } from './helpers/paths';
import { alive, daemonPid, memKb, mountStrata, run, statErr, waitDead } from './helpers/rel-daemon';
import { errOf } from './helpers/rel-errs';
import { buildLoadLower, seedFor, startWriter } from './helpers/rel-load';
import { seedFromEnv } from './helpers/rng';
import { unmountAtTeardown, workEntries, writeTree } from './helpers/rel-setup';
import { useDropCachesStressor } from './helpers/dropcaches';

useDropCachesStressor(test);

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
