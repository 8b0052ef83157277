// strata create: a container is an empty upper over the image's layers, plus what it
// will run (the options of strata run) for strata start.
import type { Command } from 'commander';
import { resolveImage } from '../../store/resolve';
import { RunFlags, locked, openStore, out, runFlags, runSpecFrom } from '../context';

export function register(program: Command): void {
  program.enablePositionalOptions();
  runFlags(program.command('create').description('create a container (an empty upper over the image layers)').argument('<image>', 'image name[:tag] or id').argument('[command...]', 'command and arguments (default: the image Cmd)'))
    .passThroughOptions()
    .action(async (name: string, cmd: string[], o: RunFlags) => {
      // loaded here, not at the top: create and mount are on the hot path of every container start
      const { createContainer } = await import('../../store/containers');
      const spec = await runSpecFrom(o, cmd);
      const store = openStore(o);
      const c = await locked(store, async () => {
        const c = createContainer(store, resolveImage(store, name), name, o.name);
        const { saveRunSpec } = await import('../../runtime/container');
        saveRunSpec(store, c, spec);
        return c;
      });
      out(c.id + '\n');
    });
}
