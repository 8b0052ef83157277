// strata run: create a container, start its process through runc, wait for it (or -d).
import type { Command } from 'commander';
import { resolveImage } from '../../store/resolve';
import { RunFlags, locked, openStore, out, runFlags, runSpecFrom } from '../context';

export function register(program: Command): void {
  // `strata run IMAGE sh -c ...`: options after the image belong to the command
  program.enablePositionalOptions();
  runFlags(program.command('run').description('run a command in a new container').argument('<image>', 'image name[:tag] or id').argument('[command...]', 'command and arguments (default: the image Cmd)'))
    .option('-d, --detach', 'run in the background and print the container id')
    .passThroughOptions()
    .action(async (image: string, cmd: string[], o: RunFlags & { detach?: boolean }) => {
      const { createContainer } = await import('../../store/containers');
      const rt = await import('../../runtime/container');
      const { processArgs } = await import('../../runtime/spec');
      const { RuntimeError } = await import('../../runtime/runc');
      const spec = await runSpecFrom(o, cmd);
      const store = openStore(o);
      const c = await locked(store, async () => {
        const img = resolveImage(store, image);
        processArgs(rt.imageConfigOf(store, img.id), spec); // no command: fail before creating anything
        const c = createContainer(store, img, image, o.name);
        rt.saveRunSpec(store, c, spec);
        return c;
      });
      try {
        if (o.detach) {
          await rt.startDetached(store, c);
          out(c.id + '\n');
          return;
        }
        process.exitCode = await rt.startContainer(store, c, { stdin: spec.interactive });
      } catch (e) {
        if (!(e instanceof RuntimeError)) throw e;
        process.stderr.write(`strata: cannot start container ${c.name}: ${e.message}\n`);
        process.exitCode = e.exitCode;
      }
    });
}
