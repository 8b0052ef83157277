// strata logs: a container's output (stdout to stdout, stderr to stderr); -f follows it.
import type { Command } from 'commander';
import { resolveContainer } from '../../store/resolve';
import { Common, common, openStore } from '../context';

export function register(program: Command): void {
  common(program.command('logs').description("print a container's output").argument('<container>', 'container name or id'))
    .option('-f, --follow', 'keep printing until the container exits')
    .option('-t, --timestamps', 'show timestamps')
    .action(async (name: string, o: Common & { follow?: boolean; timestamps?: boolean }) => {
      const rt = await import('../../runtime/container');
      const { readLog } = await import('../../runtime/logs');
      const store = openStore(o);
      const c = resolveContainer(store, name);
      const f = rt.logFile(store, c);
      let off = 0;
      const print = () => {
        const r = readLog(f, off);
        off = r.next;
        for (const rec of r.records) (rec.stream === 'stderr' ? process.stderr : process.stdout).write(o.timestamps ? `${rec.time} ${rec.log}` : rec.log);
      };
      print();
      if (!o.follow) return;
      for (;;) {
        const running = rt.stateOf(store, c).status === 'running';
        print();
        if (!running) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      print();
    });
}
