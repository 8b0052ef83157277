// strata rm: remove containers (their upper goes with them); each argument on its own.
import type { Command } from 'commander';
import { resolveContainer } from '../../store/resolve';
import { Common, common, locked, openStore, out } from '../context';

export function register(program: Command): void {
  common(
    program
      .command('rm')
      .description('remove containers (each argument on its own; exit 1 if any failed)')
      .argument('<containers...>', 'container names or ids')
      .option('-f, --force', 'kill it if running, unmount it if mounted')
      .addHelpText('after', `
Examples:
  strata rm web
  strata rm -f $(strata ps -aq)`),
  ).action(async (names: string[], o: Common & { force?: boolean }) => {
    const { removeContainer } = await import('../../store/containers');
    const rt = await import('../../runtime/container');
    const store = openStore(o);
    const running = (name: string) => new Error(`cannot remove container ${name}: container is running: stop it first or use rm -f`);
    let failed = false;
    const removed = new Set<string>();
    for (const n of [...new Set(names)]) {
      try {
        const c = resolveContainer(store, n);
        if (removed.has(c.id)) continue;
        if (rt.isRunning(store, c) && !o.force) throw running(c.name);
        await rt.killForRemoval(store, c);
        await locked(store, async () => {
          const cur = resolveContainer(store, c.id);
          if (rt.isRunning(store, cur)) throw running(cur.name);
          removeContainer(store, cur, !!o.force);
        });
        removed.add(c.id);
        out(c.name + '\n');
      } catch (e) {
        process.stderr.write(`strata: ${(e as Error).message.split('\n')[0]}\n`);
        failed = true;
      }
    }
    if (failed) process.exitCode = 1;
  });
}
