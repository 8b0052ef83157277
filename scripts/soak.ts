// Soak: strata-fs containers of one image under mixed file operations (create, append with
// copy-up, pwrite, truncate, rename, unlink, mkdir/rmdir, verified reads) for a given time.
// Prints ops/s and each daemon's RSS over time; fails on any operation error, a tree that
// differs from the writers' models, RSS growth beyond a bound, or an unclean unmount.
// usage: node dist/scripts/soak.js [--minutes 30] [--containers 2] [--writers 3]
//                                  [--rss-growth-mib 64] [--seed N]
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fstypeAt, mountUnion, unmount } from '../test/helpers/mount';
import { removeTempDir } from '../test/helpers/tmp';
import { treeManifest, manifestDiff } from '../test/helpers/manifest';
import { memKb, mountStrata, run, waitDead } from '../test/helpers/rel-daemon';
import { buildLoadLower, seedFor, startWriter } from '../test/helpers/rel-load';

interface Args { minutes: number; containers: number; writers: number; rssGrowthMib: number; seed: number }

function parse(argv: string[]): Args {
  const a: Args = { minutes: 30, containers: 2, writers: 3, rssGrowthMib: 64, seed: Math.floor(Math.random() * 2 ** 32) >>> 0 };
  const keys: Record<string, keyof Args> = {
    '--minutes': 'minutes', '--containers': 'containers', '--writers': 'writers', '--rss-growth-mib': 'rssGrowthMib', '--seed': 'seed',
  };
  for (let i = 0; i < argv.length; i += 2) {
    const k = keys[argv[i]!];
    const v = Number(argv[i + 1]);
    if (!k) throw new Error(`unknown argument '${argv[i]}'`);
    if (argv[i + 1] === undefined || !Number.isFinite(v) || v <= 0 || (k !== 'minutes' && !Number.isInteger(v))) {
      throw new Error(`${argv[i]} needs a positive ${k === 'minutes' ? 'number' : 'integer'}`);
    }
    a[k] = v;
  }
  return a;
}

const mib = (kb: number): string => `${(kb / 1024).toFixed(0)}`;

async function main(): Promise<number> {
  let a: Args;
  try {
    a = parse(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`soak: ${(e as Error).message}\n`);
    return 2;
  }
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-soak-'));
  fs.chmodSync(root, 0o755);
  const problems: string[] = [];
  const say = (s: string): void => { process.stdout.write(s + '\n'); };
  try {
    const lower = path.join(root, 'lower');
    fs.mkdirSync(lower);
    buildLoadLower(lower, a.writers, a.seed);
    const cs = Array.from({ length: a.containers }, (_, c) => {
      const base = path.join(root, `c${c}`);
      const x = { mnt: path.join(base, 'mnt'), upper: path.join(base, 'upper'), work: path.join(base, 'work'), log: path.join(base, 'strata-fs.log') };
      for (const d of [x.mnt, x.upper, x.work]) fs.mkdirSync(d, { recursive: true });
      return x;
    });
    const pids = cs.map((c) => mountStrata({ lowers: [lower], upper: c.upper, work: c.work, mnt: c.mnt }, c.log));
    say(`soak: ${a.containers} containers x ${a.writers} writers for ${a.minutes} min, seed ${a.seed}`);
    say(`soak: RSS at start (MiB): ${pids.map((p) => mib(memKb(p).rss)).join(' ')}`);
    const seconds = Math.max(1, Math.round(a.minutes * 60));
    const opsBy = new Map<string, number>();
    const runs = cs.flatMap((c, ci) => Array.from({ length: a.writers }, (_, w) =>
      startWriter(path.join(c.mnt, `w${w}`), seedFor(a.seed, w), 0, seconds, (n) => opsBy.set(`${ci}/${w}`, n))));
    const interval = Math.max(5, Math.round(seconds / 30));
    const start = Date.now();
    let lastOps = 0;
    let lastT = start;
    let baseline: number[] | null = null;
    const maxRss = pids.map(() => 0);
    const timer = setInterval(() => {
      const now = Date.now();
      const ops = [...opsBy.values()].reduce((x, y) => x + y, 0);
      const rss = pids.map((p) => { try { return memKb(p).rss; } catch { return NaN; } });
      rss.forEach((r, i) => { maxRss[i] = Math.max(maxRss[i]!, r); });
      // the baseline is taken once caches and V8's heap have warmed up
      if (!baseline && now - start >= Math.min(60_000, seconds * 200)) baseline = rss;
      const line = `t=${String(Math.round((now - start) / 1000)).padStart(5)}s ops/s=${String(Math.round(((ops - lastOps) * 1000) / (now - lastT))).padStart(6)} total=${ops} RSS MiB: ${rss.map(mib).join(' ')}`;
      say(line);
      lastOps = ops;
      lastT = now;
    }, interval * 1000);
    const done = await Promise.all(runs);
    clearInterval(timer);
    let total = 0;
    for (const r of done) {
      total += r.result?.ops ?? 0;
      if (r.code !== 0 || !r.result || r.result.errors.length) problems.push(`writer ${r.dir}: exit ${r.code} ${r.result ? r.result.errors.slice(0, 5).join('; ') : r.stderr}`);
    }
    const end = pids.map((p) => memKb(p).rss);
    const base = baseline ?? end;
    pids.forEach((_, i) => {
      const growth = end[i]! - base[i]!;
      if (growth > a.rssGrowthMib * 1024) problems.push(`daemon ${i}: RSS grew ${mib(growth)} MiB after warm-up (${mib(base[i]!)} -> ${mib(end[i]!)} MiB; bound ${a.rssGrowthMib})`);
    });
    say(`soak: ${total} ops in ${seconds} s = ${Math.round(total / seconds)} ops/s; RSS MiB warm ${base.map(mib).join(' ')}, end ${end.map(mib).join(' ')}, max ${maxRss.map(mib).join(' ')}`);
    const view0 = treeManifest(cs[0]!.mnt, { noRootMeta: true });
    for (const [i, c] of cs.entries()) {
      const u = run('umount', [c.mnt]);
      if (u.status !== 0) problems.push(`umount of container ${i}: ${u.out}`);
      if (!(await waitDead(pids[i]!))) problems.push(`daemon ${i} still running after umount`);
    }
    const ovWork = path.join(root, 'ovwork');
    fs.mkdirSync(ovWork);
    mountUnion('overlay', { lowers: [lower], upper: cs[0]!.upper, work: ovWork, mnt: cs[0]!.mnt });
    try {
      const d = manifestDiff(treeManifest(cs[0]!.mnt, { noRootMeta: true }), view0);
      if (d.length) problems.push(`kernel overlayfs shows another tree over container 0's upper:\n  ${d.join('\n  ')}`);
    } finally {
      unmount(cs[0]!.mnt);
    }
  } catch (e) {
    problems.push(`aborted: ${(e as Error).message}`);
  } finally {
    for (const m of fs.readdirSync(root).map((c) => path.join(root, c, 'mnt'))) if (fstypeAt(m)) run('umount', ['-l', m]);
    removeTempDir(root);
  }
  for (const p of problems) say(`FAIL ${p}`);
  say(problems.length ? `soak: FAILED (${problems.length} problems)` : 'soak: passed');
  return problems.length ? 1 : 0;
}

if (require.main === module) {
  main().then((rc) => { process.exitCode = rc; }, (e) => { process.stderr.write(`soak: ${(e as Error).stack}\n`); process.exitCode = 1; });
}
