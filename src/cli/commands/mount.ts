// strata mount / umount: a container's union mount, on strata-fs or kernel overlayfs.
import { Command, Option } from 'commander';
import type { Driver } from '../../store/containers';
import { DEFAULT_ROOT } from '../../store/store';
import { resolveContainer } from '../../store/resolve';
import { Common, common, locked, openStore, out } from '../context';

export function register(program: Command): void {
  common(
    program
      .command('mount')
      .description('mount a container (its layers and its upper) and print the mountpoint')
      .argument('<container>', 'container name or id')
      .argument('[mountpoint]', `an empty directory, created if missing (default: ROOT/containers/ID/merged, ROOT the store root, ${DEFAULT_ROOT} unless --root or $STRATA_ROOT)`)
      .option('--force', 'mount over a directory that is not empty (its files are hidden while mounted)'),
  )
    .addOption(new Option('--driver <driver>', 'union filesystem').choices(['strata-fs', 'overlay']).default('strata-fs'))
    .addHelpText('after', `
A container already mounted prints its mountpoint again. A directory that is already
a mount point is refused.

Examples:
  strata mount web
  strata mount --driver overlay web /mnt/web`)
    .action(async (name: string, mnt: string | undefined, o: Common & { driver: Driver; force?: boolean }) => {
      const { mountContainer } = await import('../../store/containers');
      const { refuseWhileRunningRootless } = await import('../../runtime/container');
      const store = openStore(o);
      const st = await locked(store, async () => {
        const c = resolveContainer(store, name);
        refuseWhileRunningRootless(store, c, 'mount');
        return mountContainer(store, c, mnt, o.driver, { force: !!o.force });
      });
      out(st.mountpoint + '\n');
    });

  common(
    program
      .command('umount')
      .alias('unmount')
      .description('unmount containers (a mount whose daemon died is detached lazily); one not mounted is reported and skipped')
      .argument('<containers...>', 'container names or ids')
      .option('-l, --lazy', 'detach even while processes use the mount (umount -l)')
      .addHelpText('after', `
Examples:
  strata umount web
  strata umount --lazy web`),
  ).action(async (names: string[], o: Common & { lazy?: boolean }) => {
    const { umountContainer } = await import('../../store/containers');
    const { refuseWhileRunningRootless } = await import('../../runtime/container');
    const store = openStore(o);
    await locked(store, async () => {
      for (const n of names) {
        const c = resolveContainer(store, n);
        refuseWhileRunningRootless(store, c, 'unmount');
        // as podman: nothing to do is not an error
        if (umountContainer(store, c, !!o.lazy) === null) process.stderr.write(`strata: container ${c.name} is not mounted\n`);
        else out(c.id + '\n');
      }
    });
  });
}
