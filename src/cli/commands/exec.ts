// strata exec: run another process in a running container.
import type { Command } from 'commander';
import { resolveContainer } from '../../store/resolve';
import { Common, common, openStore } from '../context';

const collect = (v: string, prev: string[]) => [...prev, v];

export function register(program: Command): void {
  program.enablePositionalOptions();
  common(program.command('exec').description('run a command in a running container').argument('<container>', 'a running container (name or id)').argument('<command...>', 'command and its arguments'))
    .option('-i, --interactive', 'forward stdin')
    .option('-t, --tty', 'give the process a pseudo-terminal')
    .option('-d, --detach', 'run it in the background')
    .option('-u, --user <user[:group]>', 'user name or uid, optionally :group or :gid')
    .option('-w, --workdir <dir>', 'working directory')
    .option('-e, --env <K=V>', 'set an environment variable', collect, [])
    .passThroughOptions()
    .action(async (name: string, cmd: string[], o: Common & { interactive?: boolean; tty?: boolean; detach?: boolean; user?: string; workdir?: string; env: string[] }) => {
      const rt = await import('../../runtime/container');
      const { userEnv } = await import('../../runtime/spec');
      const { RuntimeError } = await import('../../runtime/runc');
      const store = openStore(o);
      const c = resolveContainer(store, name);
      try {
        process.exitCode = await rt.execInContainer(store, c, { cmd, tty: !!o.tty, interactive: !!o.interactive, user: o.user ?? null, workdir: o.workdir ?? null, env: userEnv(o.env), detach: !!o.detach });
      } catch (e) {
        if (!(e instanceof RuntimeError)) throw e;
        process.stderr.write(`strata: exec in ${c.name} failed: ${e.message}\n`);
        process.exitCode = e.exitCode;
      }
    });
}
