// strata rm: remove containers (their upper goes with them).
import type { Command } from 'commander';
import { resolveContainer } from '../../store/resolve';
import { Common, common, locked, openStore, out } from '../context';

export function register(program: Command): void {
  common(program.command('rm').description('remove containers').argument('<containers...>').option('-f, --force', 'unmount first if mounted')).action(async (names: string[], o: Common & { force?: boolean }) => {
    const { removeContainer } = await import('../../store/containers');
    const store = openStore(o);
    await locked(store, async () => {
      for (const n of names) {
        const c = resolveContainer(store, n);
        removeContainer(store, c, !!o.force);
        out(c.name + '\n');
      }
    });
  });
}
