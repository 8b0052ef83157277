import test from 'ava';
import type { ExecutionContext } from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Driver, DRIVERS, mountUnion, unmount } from './helpers/mount';
import { buildLayer } from './helpers/layers';
import { makeTempDir, removeTempDir } from './helpers/tmp';
import { treeManifest, manifestDiff } from './helpers/manifest';
import { PyOps, OpResult } from './helpers/pyops';
import { joinPath } from './helpers/union';
import { Rng, seedFromEnv } from './helpers/rng';
import { generateLayers, OpGen, Op, Kind, HARDLINK_DIR, key, unkey, join } from './helpers/randomfs';
import { useDropCachesStressor } from './helpers/dropcaches';

useDropCachesStressor(test);

const SEED = seedFromEnv();
const ROOT_BATCHES = 5;
const OPS_PER_BATCH = 80;
const USER_OPS = 80;
const USER = { uid: 1000, gid: 1000 };

// What of a result must be identical: errno or value, minus what legitimately
// differs between two filesystems (inode numbers, device, atime/ctime, dir sizes,
// and mtimes nobody set explicitly).
function normalize(op: Op, r: OpResult, st?: OpResult): unknown {
  if (!r.ok) return r.err;
  if (op.op === 'lstat') {
    const s = r.v;
    const o: Record<string, unknown> = { type: s.type, mode: s.mode, uid: s.uid, gid: s.gid };
    if (s.type !== 'dir') {
      o.nlink = s.nlink;
      o.size = s.size;
    }
    return o;
  }
  if (op.op === 'utimens') return { mtime: st?.ok ? st.v.mtime : st?.err };
  return r.v ?? 'ok';
}

interface Side { driver: Driver; mnt: string; upper: string; work: string }

function describe(op: Op): string {
  return `${op.user ? '[uid 1000] ' : ''}${op.op} ${JSON.stringify(op.args, (_k, v) => {
    if (v && v.type === 'Buffer' && Array.isArray(v.data)) return `<${Buffer.from(v.data).toString('latin1')}>`;
    return v;
  })}`.slice(0, 300);
}

const tally = new Map<string, number>();

async function runOps(sides: Side[], ops: PyOps, gen: OpGen, n: number, user: boolean,
  mismatches: string[], explicit: Map<string, string>): Promise<void> {
  for (let i = 0; i < n; i++) {
    const op = gen.next();
    op.user = user;
    const res: unknown[] = [];
    for (const s of sides) {
      const abs: Record<string, unknown> = { ...op.args };
      for (const k of ['p', 'p2']) if (k in abs) abs[k] = joinPath(s.mnt, abs[k] as Buffer);
      const r = await ops.call(op.op, abs);
      let st: OpResult | undefined;
      if (op.op === 'utimens') st = await ops.call(op.args.nofollow ? 'lstat' : 'stat', { p: abs.p });
      res.push(normalize(op, r, st));
    }
    const outcome = typeof res[0] === 'string' && /^E[A-Z]+$/.test(res[0]) ? res[0] : 'ok';
    tally.set(`${op.op}:${outcome}`, (tally.get(`${op.op}:${outcome}`) ?? 0) + 1);
    if (op.op === 'utimens' && (res[0] as any)?.mtime !== undefined && typeof (res[0] as any).mtime === 'string') {
      explicit.set(key(op.args.p as Buffer), String(op.args.mtime));
    }
    gen.observe(op, outcome === 'ok');
    // a replay aid: STRATA_DIFF_LOG=1 with STRATA_SEED prints every operation and overlayfs's result
    if (process.env.STRATA_DIFF_LOG) console.error(`${describe(op)} -> ${JSON.stringify(res[0])}`);
    if (JSON.stringify(res[0]) !== JSON.stringify(res[1])) {
      mismatches.push(`${describe(op)}: overlay=${JSON.stringify(res[0])} strata=${JSON.stringify(res[1])}`);
    }
  }
}

function compareTrees(t: ExecutionContext, sides: Side[], when: string): string {
  const [o, s] = sides.map((x) => treeManifest(x.mnt));
  t.deepEqual(manifestDiff(s, o), [], `seed ${SEED}: trees differ ${when} (- overlay, + strata)`);
  const [on, sn] = sides.map((x) => treeManifest(x.mnt, { nlink: true, noHash: true }));
  t.deepEqual(manifestDiff(sn, on), [], `seed ${SEED}: st_nlink differs ${when} (- overlay, + strata)`);
  return s;
}

// Where kernel overlayfs still shows the mtime a utimens op set, strata-fs must too.
async function compareExplicitMtimes(t: ExecutionContext, sides: Side[], ops: PyOps,
  explicit: Map<string, string>, when: string): Promise<number> {
  let checked = 0;
  const bad: string[] = [];
  for (const [k, want] of explicit) {
    const got = [];
    for (const s of sides) {
      const r = await ops.call('lstat', { p: joinPath(s.mnt, unkey(k)) });
      got.push(r.ok ? String(r.v.mtime) : r.err);
    }
    if (got[0] !== want) continue;
    checked++;
    if (got[1] !== want) bad.push(`${unkey(k).toString('latin1')}: set ${want}, strata shows ${got[1]}`);
  }
  t.deepEqual(bad, [], `seed ${SEED}: explicitly set mtimes lost ${when}`);
  return checked;
}

async function walk(ops: PyOps, mnt: string, rel: Buffer, out: Array<[Buffer, Kind]>): Promise<void> {
  const r = await ops.call('readdir', { p: joinPath(mnt, rel) });
  if (!r.ok) return;
  for (const h of r.v as string[]) {
    const p = join(rel, Buffer.from(h, 'hex'));
    if (p.toString() === HARDLINK_DIR) continue;
    const st = await ops.call('lstat', { p: joinPath(mnt, p) });
    const kind: Kind = st.ok && st.v.type === 'dir' ? 'dir' : st.ok && st.v.type === 'file' ? 'file' : 'other';
    out.push([p, kind]);
    if (kind === 'dir') await walk(ops, mnt, p, out);
  }
}

test('random operation sequences give the same results and trees on strata-fs as on kernel overlayfs', async (t) => {
  t.timeout(5 * 60_000);
  t.log(`seed ${SEED} (replay with STRATA_SEED=${SEED})`);
  const rng = new Rng(SEED);
  const root = makeTempDir('strata-diff-');
  const ops = new PyOps();
  const userOps = new PyOps(USER);
  const mounted: string[] = [];
  try {
    const layers = generateLayers(rng);
    const lowers = layers.map((entries, i) => {
      const d = path.join(root, `lower${i}`);
      fs.mkdirSync(d);
      buildLayer(d, entries);
      return d;
    }).reverse();
    const lowerHashes = lowers.map((l) => treeManifest(l, { mtime: true, allXattrs: true }));

    const sides: Side[] = DRIVERS.map((driver) => {
      const s = { driver, mnt: path.join(root, `${driver}-mnt`), upper: path.join(root, `${driver}-upper`), work: path.join(root, `${driver}-work`) };
      for (const d of [s.mnt, s.upper, s.work]) fs.mkdirSync(d, { mode: 0o755 });
      return s;
    });
    const mountAll = () => {
      for (const s of sides) {
        mountUnion(s.driver, { lowers, upper: s.upper, work: s.work, mnt: s.mnt });
        mounted.push(s.mnt);
      }
    };
    mountAll();
    t.deepEqual(manifestDiff(treeManifest(sides[1].mnt), treeManifest(sides[0].mnt)), [], 'trees differ before any operation');

    const initial: Array<[Buffer, Kind]> = [];
    await walk(ops, sides[0].mnt, Buffer.alloc(0), initial);
    t.true(initial.length >= 8, `the generated layers are not trivially small: ${treeManifest(sides[0].mnt, { noHash: true })}`);
    const gen = new OpGen(rng, initial);
    const mismatches: string[] = [];
    const explicit = new Map<string, string>();

    for (let b = 0; b < ROOT_BATCHES; b++) {
      await runOps(sides, ops, gen, OPS_PER_BATCH, false, mismatches, explicit);
      t.deepEqual(mismatches, [], `seed ${SEED}: op results differ (batch ${b})`);
      compareTrees(t, sides, `after batch ${b}`);
    }
    await runOps(sides, userOps, gen, USER_OPS, true, mismatches, explicit);
    t.deepEqual(mismatches, [], `seed ${SEED}: op results differ for uid ${USER.uid}`);
    const strataTree = compareTrees(t, sides, 'after the uid 1000 batch');
    t.log(`explicit mtimes checked: ${await compareExplicitMtimes(t, sides, ops, explicit, 'before remount')}`);
    t.log(`outcomes: ${[...tally].sort().map(([k, v]) => `${k}=${v}`).join(' ')}`);
    const withMtime = treeManifest(sides[1].mnt, { mtime: true, nlink: true });

    for (const s of sides) unmount(s.mnt);
    mountAll();
    compareTrees(t, sides, 'after remount');
    t.deepEqual(manifestDiff(treeManifest(sides[1].mnt), strataTree), [], `seed ${SEED}: strata tree changed across remount`);
    await compareExplicitMtimes(t, sides, ops, explicit, 'after remount');

    // The upper strata wrote must mean the same thing to kernel overlayfs.
    unmount(sides[1].mnt);
    const check = path.join(root, 'check-mnt');
    fs.mkdirSync(check);
    mountUnion('overlay', { lowers, upper: sides[1].upper, work: sides[1].work, mnt: check });
    mounted.push(check);
    t.deepEqual(manifestDiff(treeManifest(check, { mtime: true, nlink: true }), withMtime), [],
      `seed ${SEED}: kernel overlayfs over the strata upper shows another tree (- strata, + overlay)`);
    unmount(check);

    lowers.forEach((l, i) => {
      t.deepEqual(manifestDiff(treeManifest(l, { mtime: true, allXattrs: true }), lowerHashes[i]), [], `lower ${l} changed`);
    });
  } finally {
    await ops.close();
    await userOps.close();
    for (const m of mounted) unmount(m);
    removeTempDir(root);
  }
});
