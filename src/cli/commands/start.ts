// strata start: start stopped or created containers (in the background unless -a/-i).
import type { Command } from 'commander';
import { resolveContainer } from '../../store/resolve';
import { Common, common, openStore, out } from '../context';

export function register(program: Command): void {
  common(program.command('start').description('start one or more containers').argument('<containers...>', 'container names or ids'))
    .option('-a, --attach', "attach to the container's output and wait for it (exit code: the container's)")
    .option('-i, --interactive', "attach the container's stdin")
    .action(async (names: string[], o: Common & { attach?: boolean; interactive?: boolean }) => {
      const rt = await import('../../runtime/container');
      const { RuntimeError } = await import('../../runtime/runc');
      const store = openStore(o);
      if ((o.attach || o.interactive) && names.length > 1) throw new Error('you cannot start and attach multiple containers at once');
      for (const n of names) {
        const c = resolveContainer(store, n);
        try {
          if (o.attach || o.interactive) {
            process.exitCode = await rt.startContainer(store, c, { stdin: !!o.interactive });
            return;
          }
          if (!rt.isRunning(store, c)) await rt.startDetached(store, c);
          out(n + '\n');
        } catch (e) {
          if (!(e instanceof RuntimeError)) throw e;
          process.stderr.write(`strata: cannot start container ${c.name}: ${e.message}\n`);
          process.exitCode = e.exitCode;
          return;
        }
      }
    });
}
