// strata rm: remove containers (their upper goes with them).
import type { Command } from 'commander';
import { resolveContainer } from '../../store/resolve';
import { Common, common, locked, openStore, out } from '../context';

export function register(program: Command): void {
  common(program.command('rm').description('remove containers').argument('<containers...>').option('-f, --force', 'kill it if running, unmount it if mounted')).action(async (names: string[], o: Common & { force?: boolean }) => {
    const { removeContainer } = await import('../../store/containers');
    const rt = await import('../../runtime/container');
    const store = openStore(o);
    for (const n of names) {
      const c = resolveContainer(store, n);
      if (rt.isRunning(store, c) && !o.force) throw new Error(`cannot remove container ${c.name}: container is running: stop it first or use rm -f`);
      await rt.killForRemoval(store, c);
    }
    await locked(store, async () => {
      for (const n of names) {
        const c = resolveContainer(store, n);
        if (rt.isRunning(store, c)) throw new Error(`cannot remove container ${c.name}: container is running: stop it first or use rm -f`);
        removeContainer(store, c, !!o.force);
        out(c.name + '\n');
      }
    });
  });
}
