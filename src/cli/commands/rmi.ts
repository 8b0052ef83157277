// strata rmi: untag, and delete what nothing uses any more; each argument on its own.
import type { Command } from 'commander';
import { Common, common, json, locked, openStore, out } from '../context';

export function register(program: Command): void {
  common(
    program
      .command('rmi')
      .description('untag images; delete images and layers nothing uses any more (each argument on its own; exit 1 if any failed)')
      .argument('<images...>', 'image names (name[:tag]) or ids; an id repeated or already deleted is skipped')
      .option('-f, --force', 'remove all tags of an image given by id')
      .addHelpText('after', `
Examples:
  strata rmi me/app:2
  strata rmi $(strata images -q --filter dangling=true)`),
    true,
  ).action(async (refs: string[], o: Common & { force?: boolean }) => {
    const { removeImagesEach } = await import('../../store/rmi');
    const store = openStore(o);
    const r = await locked(store, async () =>
      removeImagesEach(store, refs, !!o.force, (lines) => {
        if (!o.json) for (const l of lines) out(`${l.action}: ${l.what}\n`);
      }),
    );
    if (o.json) json(r.done);
    for (const e of r.errors) process.stderr.write(`strata: ${e}\n`);
    if (r.errors.length) process.exitCode = 1;
  });
}
