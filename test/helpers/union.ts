import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ExecutionContext } from 'ava';
import { Driver, DRIVERS, mountUnion, unmount } from './mount';
import { buildLayer, LayerEntry } from './layers';
import { makeTempDir, removeTempDir } from './tmp';
import { treeManifest, ManifestOptions, manifestDiff } from './manifest';
import { PyOps } from './pyops';
import { Creds } from './asuser';

export interface UnionCtx {
  driver: Driver;
  mnt: string;
  upper: string;
  work: string;
  lowers: string[]; // topmost first
  /** absolute path inside the mount; Buffer parts keep raw bytes */
  p(...parts: Array<string | Buffer>): Buffer;
  ops: PyOps; // root
  as(c: Creds): PyOps; // another uid (started on first use)
  manifest(o?: ManifestOptions): string;
  remount(): void;
}

export interface ScenarioOptions {
  layers: LayerEntry[][]; // bottom layer first, as in an image
  readonly?: boolean;
  /** more mount options for both (mount flags: noatime, strictatime, ...) */
  mountOptions?: string[];
  /** more options for strata-fs alone (passthrough=off, ...) */
  strataOptions?: string[];
  /** more content for the lower dirs (bottom first), made after `layers`: for what
   *  buildLayer cannot make (paths past PATH_MAX) */
  build?: (lowersBottomUp: string[], ops: PyOps) => Promise<void>;
}

export function joinPath(...parts: Array<string | Buffer>): Buffer {
  return Buffer.concat(parts.map((p, i) => Buffer.concat([i ? Buffer.from('/') : Buffer.alloc(0), Buffer.isBuffer(p) ? p : Buffer.from(p)])));
}

export interface BothResult<R, A> {
  overlay: R;
  strata: R;
  overlayAfter: A;
  strataAfter: A;
}

// Builds the layers once (shared read-only by both mounts), then runs the scenario
// on kernel overlayfs and on strata-fs in turn, each with its own upper/work dir.
// `after` runs once the union is unmounted (to inspect the upper dir). Lowers must
// be byte-for-byte unchanged at the end: that is asserted here for every scenario.
export async function runBoth<R, A = undefined>(
  t: ExecutionContext,
  opts: ScenarioOptions,
  during: (c: UnionCtx) => Promise<R> | R,
  after?: (c: UnionCtx) => Promise<A> | A,
): Promise<BothResult<R, A>> {
  const root = makeTempDir();
  const userOps: PyOps[] = [];
  const rootOps = new PyOps();
  try {
    const lowersBottomUp = opts.layers.map((entries, i) => {
      const d = path.join(root, `lower${i}`);
      fs.mkdirSync(d, { mode: 0o755 });
      buildLayer(d, entries);
      return d;
    });
    if (opts.build) await opts.build(lowersBottomUp, rootOps);
    const lowers = [...lowersBottomUp].reverse();
    const before = lowers.map((l) => treeManifest(l, { mtime: true, allXattrs: true }));
    const out: Partial<BothResult<R, A>> = {};
    for (const driver of DRIVERS) {
      const base = path.join(root, driver);
      const c: UnionCtx = {
        driver,
        mnt: path.join(base, 'mnt'),
        upper: path.join(base, 'upper'),
        work: path.join(base, 'work'),
        lowers,
        p: (...parts) => joinPath(c.mnt, ...parts),
        ops: rootOps,
        as: (cr) => {
          const o = new PyOps(cr);
          userOps.push(o);
          return o;
        },
        manifest: (o) => treeManifest(c.mnt, o),
        remount: () => {
          unmount(c.mnt);
          mountUnion(driver, spec, opts.mountOptions, opts.strataOptions);
        },
      };
      for (const d of [base, c.mnt, c.upper, c.work]) fs.mkdirSync(d, { mode: 0o755 });
      const spec = opts.readonly
        ? { lowers, mnt: c.mnt }
        : { lowers, upper: c.upper, work: c.work, mnt: c.mnt };
      mountUnion(driver, spec, opts.mountOptions, opts.strataOptions);
      let r: R;
      try {
        r = await during(c);
      } finally {
        await Promise.all(userOps.splice(0).map((o) => o.close()));
        unmount(c.mnt);
      }
      const a = after ? await after(c) : (undefined as A);
      if (driver === 'overlay') {
        out.overlay = r;
        out.overlayAfter = a;
      } else {
        out.strata = r;
        out.strataAfter = a;
      }
    }
    lowers.forEach((l, i) => {
      const now = treeManifest(l, { mtime: true, allXattrs: true });
      t.deepEqual(manifestDiff(now, before[i]), [], `lower layer ${l} changed`);
    });
    return out as BothResult<R, A>;
  } finally {
    await Promise.all(userOps.map((o) => o.close()));
    await rootOps.close();
    removeTempDir(root);
  }
}

// strata must behave exactly like kernel overlayfs, and overlayfs like the rule says.
export function sameAsOverlay<T>(t: ExecutionContext, r: { overlay: T; strata: T }, expected: T, what = ''): void {
  t.deepEqual(r.overlay, expected, `kernel overlayfs does not give the expected result${what ? ` (${what})` : ''}: the test is wrong`);
  t.deepEqual(r.strata, r.overlay, `strata-fs differs from kernel overlayfs${what ? ` (${what})` : ''}`);
}
