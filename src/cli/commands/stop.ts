// strata stop: the stop signal, then SIGKILL after a grace period.
import type { Command } from 'commander';
import { resolveContainer } from '../../store/resolve';
import { Common, common, openStore, out } from '../context';

export function register(program: Command): void {
  common(program.command('stop').description('stop running containers').argument('<containers...>', 'container names or ids'))
    .option('-t, --time <secs>', 'seconds to wait before killing it', '10')
    .action(async (names: string[], o: Common & { time: string }) => {
      const rt = await import('../../runtime/container');
      const secs = Number(o.time);
      if (!Number.isFinite(secs) || secs < 0) throw new Error(`invalid --time ${JSON.stringify(o.time)}`);
      const store = openStore(o);
      for (const n of names) {
        await rt.stopContainer(store, resolveContainer(store, n), secs);
        out(n + '\n');
      }
    });
}
