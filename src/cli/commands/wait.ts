// strata wait: block until containers exit; print each exit code.
import type { Command } from 'commander';
import { resolveContainer } from '../../store/resolve';
import { Common, common, openStore, out } from '../context';

export function register(program: Command): void {
  common(program.command('wait').description('wait for containers to exit and print their exit codes').argument('<containers...>', 'container names or ids')).action(async (names: string[], o: Common) => {
    const rt = await import('../../runtime/container');
    const store = openStore(o);
    for (const n of names) {
      const code = await rt.waitContainer(store, resolveContainer(store, n));
      if (code === null) throw new Error(`container ${n} was removed before it exited`);
      out(code + '\n');
    }
  });
}
