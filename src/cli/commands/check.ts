// strata check: verify the store, and with --repair remove what is garbage.
import type { Command } from 'commander';
import { Common, common, json, openStore, out, rootOf, sayWaiting } from '../context';

export function register(program: Command): void {
  common(
    program
      .command('check')
      .description('verify the store; exit 1 and one line per problem when something is wrong')
      .option('--repair', 'remove garbage, roll back interrupted commits, clear stale mount state, detach mounts whose daemon died')
      .addHelpText(
        'after',
        `
Checked: every blob (manifests, configs, layer blobs as loaded) hashes to its name; every
layer has layer.json, diff/, its blob, and the same shape as at import (names, types,
modes, owners, sizes, mtimes, xattrs: file CONTENTS are not re-read, so an edit that
keeps size and mtime is not seen; layers imported before shapes were recorded get the
structural checks only); images, tags and containers name things that exist; mount
state agrees with the mount table and live strata-fs daemons; no leftovers of
interrupted commands, no orphan layers or blobs. --repair never deletes data that
something still uses: damage is reported only.`,
      ),
    true,
  ).action(async (o: Common & { repair?: boolean }) => {
    const { checkStore, problemLine } = await import('../../store/check');
    const root = rootOf(o);
    const store = openStore(o);
    if (!store.exists) throw new Error(`check: no store at ${root}`);
    if (o.repair) store.prepare(); // marks a store made before markers existed
    // the lock keeps other commands out, without the garbage collection that withLock runs
    await store.lock.acquire(undefined, sayWaiting);
    let r;
    try {
      r = checkStore(store, !!o.repair);
    } finally {
      store.lock.release();
    }
    const left = r.problems.filter((p) => !p.repaired);
    if (o.json) json({ clean: left.length === 0, ...r });
    else {
      for (const p of r.problems) out(problemLine(p) + '\n');
      if (r.problems.length === 0) out(`ok: ${r.checked.blobs} blobs, ${r.checked.layers} layers, ${r.checked.images} images, ${r.checked.containers} containers\n`);
    }
    if (left.length) process.exitCode = 1;
  });
}
