// overlayfs's `volatile`: nothing synced to the upper layer, and the work dir marked
// (work/incompat/volatile/dirty) so that every later mount of it refuses until whoever
// knows the upper layer is whole removes the marker. Kernel overlayfs shows the way.
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { DRIVERS, Driver, fstypeAt, mountStrataFs, strataOptions, unmount, UnionSpec } from './helpers/mount';
import { strataFsBin } from './helpers/paths';
import { tempDirFor } from './helpers/tmp';
import { useDropCachesStressor } from './helpers/dropcaches';

useDropCachesStressor(test);

/** Every path below dir with its type, sorted. */
function tree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      out.push(`${r}${e.isDirectory() ? '/' : ''}`);
      if (e.isDirectory()) walk(path.join(d, e.name), r);
    }
  };
  if (fs.existsSync(dir)) walk(dir, '');
  return out.sort();
}

/** Mounts; 'ok' or 'refused' (and the error text, for strata's). */
function tryMount(driver: Driver, spec: UnionSpec, volatile: boolean): { result: string; message: string } {
  if (driver === 'overlay') {
    const opts = `lowerdir=${spec.lowers.join(':')},upperdir=${spec.upper},workdir=${spec.work}${volatile ? ',volatile' : ''}`;
    const r = spawnSync('mount', ['-t', 'overlay', 'overlay', '-o', opts, spec.mnt], { encoding: 'utf8' });
    return { result: r.status === 0 ? 'ok' : 'refused', message: r.stderr };
  }
  try {
    mountStrataFs(spec, volatile ? ['volatile'] : []);
    return { result: 'ok', message: '' };
  } catch (e) {
    return { result: 'refused', message: (e as Error).message };
  }
}

test('volatile marks the work dir as overlayfs does; a later mount refuses until the marker is removed', async (t) => {
  const dir = tempDirFor(t, 'strata-volatile-');
  const lower = path.join(dir, 'lower');
  fs.mkdirSync(lower);
  fs.writeFileSync(path.join(lower, 'f'), 'lower');
  const results: Record<string, unknown> = {};
  const messages: Record<string, string> = {};
  for (const driver of DRIVERS) {
    const spec: UnionSpec = { lowers: [lower], upper: path.join(dir, `upper-${driver}`), work: path.join(dir, `work-${driver}`), mnt: path.join(dir, `mnt-${driver}`) };
    for (const d of [spec.upper!, spec.work!, spec.mnt]) fs.mkdirSync(d);
    const r: Record<string, unknown> = {};
    r.first = tryMount(driver, spec, true).result;
    fs.appendFileSync(path.join(spec.mnt, 'f'), '+volatile');
    fs.writeFileSync(path.join(spec.mnt, 'new'), 'new');
    r.markerMounted = tree(path.join(spec.work!, 'work/incompat'));
    unmount(spec.mnt);
    r.markerAfterUnmount = tree(path.join(spec.work!, 'work/incompat'));
    const again = tryMount(driver, spec, false);
    r.remount = again.result;
    messages[driver] = again.message;
    r.remountVolatile = tryMount(driver, spec, true).result;
    r.upperIntact = [fs.readFileSync(path.join(spec.upper!, 'f'), 'utf8'), fs.readFileSync(path.join(spec.upper!, 'new'), 'utf8')];
    // an empty incompat dir names no feature: that mounts
    fs.rmSync(path.join(spec.work!, 'work/incompat/volatile'), { recursive: true });
    r.afterRemoval = tryMount(driver, spec, false).result;
    r.merged = fs.readFileSync(path.join(spec.mnt, 'f'), 'utf8');
    r.workAfter = tree(path.join(spec.work!, 'work'));
    unmount(spec.mnt);
    results[driver] = r;
  }
  t.deepEqual(results.strata, results.overlay);
  t.deepEqual(results.overlay, {
    first: 'ok',
    markerMounted: ['volatile/', 'volatile/dirty'],
    markerAfterUnmount: ['volatile/', 'volatile/dirty'],
    remount: 'refused',
    remountVolatile: 'refused',
    upperIntact: ['lower+volatile', 'new'],
    afterRemoval: 'ok',
    merged: 'lower+volatile',
    workAfter: [],
  });
  t.regex(messages.strata!, /incompat feature 'volatile' cannot be mounted/);
});

/** fsync-family system calls the daemon made while a lower file was copied up and the
 *  copy fsync'd through the mount (strace of the daemon in the foreground). */
async function daemonSyncs(dir: string, name: string, extra: string[]): Promise<string[]> {
  const lower = path.join(dir, `lower-${name}`);
  fs.mkdirSync(lower);
  fs.writeFileSync(path.join(lower, 'big'), Buffer.alloc(1 << 20, 9));
  const spec: UnionSpec = { lowers: [lower], upper: path.join(dir, `upper-${name}`), work: path.join(dir, `work-${name}`), mnt: path.join(dir, `mnt-${name}`) };
  for (const d of [spec.upper!, spec.work!, spec.mnt]) fs.mkdirSync(d);
  const trace = path.join(dir, `trace-${name}`);
  const child = spawn('strace', ['-f', '-qq', '-o', trace, '-e', 'trace=fsync,fdatasync,syncfs,sync,sync_file_range',
    strataFsBin, '-f', '-o', strataOptions(spec, extra), 'strata', spec.mnt], { stdio: 'ignore' });
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  try {
    for (let i = 0; fstypeAt(spec.mnt) !== 'fuse.strata-fs'; i++) {
      if (i > 600) throw new Error('strata-fs under strace did not mount');
      await new Promise((r) => setTimeout(r, 100));
    }
    const fd = fs.openSync(path.join(spec.mnt, 'big'), 'r+');
    fs.writeSync(fd, 'x', 0);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
  } finally {
    unmount(spec.mnt);
    await exited;
  }
  checkUpperCopy(spec);
  return fs.readFileSync(trace, 'utf8').split('\n').filter((l) => /\b(fsync|fdatasync|syncfs|sync|sync_file_range)\(/.test(l));
}

function checkUpperCopy(spec: UnionSpec): void {
  const up = fs.readFileSync(path.join(spec.upper!, 'big'));
  if (up.length !== 1 << 20 || up[0] !== 'x'.charCodeAt(0) || up[1] !== 9) throw new Error('the copy-up is not in the upper layer');
}

test('volatile: neither copy-up nor fsync through the mount syncs anything; without it both do', async (t) => {
  const dir = tempDirFor(t, 'strata-volatile-sync-');
  const safe = await daemonSyncs(dir, 'safe', []);
  const vol = await daemonSyncs(dir, 'volatile', ['volatile']);
  t.true(safe.length >= 2, `copy-up and fsync sync without volatile: ${safe.join('; ')}`);
  t.deepEqual(vol, [], 'nothing synced with volatile');
});
