// strata rmi: untag, and delete what nothing uses any more.
import type { Command } from 'commander';
import { Common, common, json, locked, openStore, out } from '../context';

export function register(program: Command): void {
  common(program.command('rmi').description('untag images; delete images and layers nothing uses any more').argument('<images...>').option('-f, --force', 'remove all tags of an image given by id'), true).action(
    async (refs: string[], o: Common & { force?: boolean }) => {
      const { removeImages } = await import('../../store/rmi');
      const store = openStore(o);
      const lines = await locked(store, async () => removeImages(store, refs, !!o.force));
      if (o.json) return json(lines);
      for (const l of lines) out(`${l.action}: ${l.what}\n`);
    },
  );
}
