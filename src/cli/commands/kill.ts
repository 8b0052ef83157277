// strata kill: send a signal (default SIGKILL) to the container's process.
import type { Command } from 'commander';
import { resolveContainer } from '../../store/resolve';
import { Common, common, openStore, out } from '../context';

export function register(program: Command): void {
  common(program.command('kill').description('send a signal to running containers').argument('<containers...>', 'container names or ids'))
    .option('-s, --signal <sig>', 'signal name or number', 'KILL')
    .action(async (names: string[], o: Common & { signal: string }) => {
      const rt = await import('../../runtime/container');
      const store = openStore(o);
      const sig = rt.signalName(o.signal);
      for (const n of names) {
        rt.killContainer(store, resolveContainer(store, n), sig);
        out(n + '\n');
      }
    });
}
