// strata mount / umount: a container's union mount, on strata-fs or kernel overlayfs.
import { Command, Option } from 'commander';
import type { Driver } from '../../store/containers';
import { resolveContainer } from '../../store/resolve';
import { Common, common, locked, openStore, out } from '../context';

export function register(program: Command): void {
  common(program.command('mount').description('mount a container; prints the mountpoint').argument('<container>').argument('[mountpoint]'))
    .addOption(new Option('--driver <driver>', 'union filesystem').choices(['strata-fs', 'overlay']).default('strata-fs'))
    .action(async (name: string, mnt: string | undefined, o: Common & { driver: Driver }) => {
      const { mountContainer } = await import('../../store/containers');
      const store = openStore(o);
      const st = await locked(store, async () => mountContainer(store, resolveContainer(store, name), mnt, o.driver));
      out(st.mountpoint + '\n');
    });

  common(program.command('umount').alias('unmount').description('unmount a container (a mount whose daemon died is detached lazily)').argument('<containers...>').option('-l, --lazy', 'detach even while processes use the mount (umount -l)')).action(async (names: string[], o: Common & { lazy?: boolean }) => {
    const { umountContainer } = await import('../../store/containers');
    const store = openStore(o);
    await locked(store, async () => {
      for (const n of names) {
        const c = resolveContainer(store, n);
        umountContainer(store, c, !!o.lazy);
        out(c.id + '\n');
      }
    });
  });
}
