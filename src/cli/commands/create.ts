// strata create: a container is an empty upper over the image's layers.
import type { Command } from 'commander';
import { resolveImage } from '../../store/resolve';
import { Common, common, locked, openStore, out } from '../context';

export function register(program: Command): void {
  common(program.command('create').description('create a container (an empty upper over the image layers)').argument('<image>').option('--name <name>', 'container name')).action(async (name: string, o: Common & { name?: string }) => {
    // loaded here, not at the top: create and mount are on the hot path of every container start
    const { createContainer } = await import('../../store/containers');
    const store = openStore(o);
    const c = await locked(store, async () => createContainer(store, resolveImage(store, name), name, o.name));
    out(c.id + '\n');
  });
}
