// strata demo: the README's first command.
import { Command, Option } from 'commander';
import type { Driver } from '../../store/containers';
import type { Common } from '../context';

export function register(program: Command): void {
  program
    .command('demo')
    .description('build a tiny image and walk through load, mount, write, diff, explain, commit')
    .option('--root <dir>', 'store root (default: a fresh temporary dir, removed afterwards)')
    .addOption(new Option('--driver <driver>', 'union filesystem (auto: strata-fs, else kernel overlayfs)').choices(['auto', 'strata-fs', 'overlay']).default('auto'))
    .option('--keep', 'keep the demo store')
    .action(async (o: { root?: string; driver: Driver; keep?: boolean }) => {
      const { runDemo } = await import('../demo');
      await runDemo({ root: o.root ?? (program.opts() as Common).root, driver: o.driver, keep: !!o.keep });
    });
}
