import * as fs from 'node:fs';
import * as path from 'node:path';
import { forceUnmount } from '../cleanup';
import { Interrupted, must, run, timed } from '../exec';
import { binPath } from '../paths';
import { fuseDaemonPid } from '../procs';
import { loadedImage, storeEnv, strataArgv } from './tools';
import { ContainerWorkload, OwnContainer, TIME } from './types';

/** In the base layer, untouched by the two layers above: the read falls through the whole stack. */
const FIRST_READ = 'usr/lib/os-release';

type Make = (c: { scratch: string; timeoutMs: number }) => Promise<OwnContainer>;

/**
 * strata's own way to a container: `strata create` + `strata mount` on a store that has
 * the grandchild image loaded, once, before the first run (its writeback then is not
 * in any run's time). If that fails, only strata's cells say so.
 */
async function strataContainer(oci: () => Promise<string>, storeRoot: string): Promise<Make> {
  const env = storeEnv(storeRoot);
  const strata = strataArgv();
  if (!strata) {
    return async () => {
      throw new Error(`${binPath('strata')} not found`);
    };
  }
  let name: string;
  try {
    const loaded = await must([...strata, 'load', await oci()], { env, stdout: 'pipe' });
    const found = loadedImage(loaded.stdout);
    if (!found) throw new Error('strata load printed no "Loaded image:" line');
    name = found;
  } catch (e) {
    if (e instanceof Interrupted) throw e;
    return async () => {
      throw e;
    };
  }
  return async (c) => {
    const created = await must([...strata, 'create', name], { env, stdout: 'pipe', timeoutMs: c.timeoutMs, precise: true });
    const id = created.stdout.trim().split('\n').pop()?.trim();
    if (!id) throw new Error('strata create printed no container id');
    const mnt = path.join(c.scratch, 'mnt');
    const remove = async () => {
      await run([...strata, 'umount', id], { env, cleanup: true, timeoutMs: 30_000 });
      await forceUnmount(mnt, null);
      await run([...strata, 'rm', '-f', id], { env, cleanup: true, timeoutMs: 30_000 });
    };
    try {
      fs.mkdirSync(mnt);
      const mounted = await must([...strata, 'mount', id, mnt], { env, stdout: 'pipe', timeoutMs: c.timeoutMs, precise: true });
      return { mnt, daemonPid: fuseDaemonPid(mnt), seconds: created.seconds + mounted.seconds, remove };
    } catch (e) {
      await remove();
      throw e;
    }
  };
}

export const newContainer: ContainerWorkload = {
  kind: 'container',
  id: 'new-container',
  group: 'container',
  describe:
    "a container of the grandchild image (3 layers) made the driver's way (a mount of the layers, a btrfs snapshot, a vfs copy; " +
    `strata: \`strata create\` + \`strata mount\` on a loaded store), then the first read of a file in it (${FIRST_READ}), warm`,
  metrics: () => [
    { id: TIME, label: 'new container (grandchild) + first read', unit: 's' },
    { id: 'ready', label: '  ready (mount, snapshot, copy or create+mount)', unit: 's' },
    { id: 'read', label: `  first read of /${FIRST_READ}`, unit: 's' },
  ],
  async prepare({ fx, opts, scratchRoot }) {
    const image = await fx.imageRootfs('grandchild');
    const own: Record<string, Make> = {};
    if (opts.drivers.some((d) => d.name === 'strata-fs')) own['strata-fs'] = await strataContainer(() => fx.ociCopy(), path.join(scratchRoot, 'store'));
    return {
      lowers: image.lowers,
      own,
      async run(c) {
        const read = await timed(['cat', '--', path.join(c.mnt, FIRST_READ)], { timeoutMs: c.timeoutMs });
        return { [TIME]: c.ready + read, ready: c.ready, read };
      },
    };
  },
};
