// strata tag: another name for an image.
import type { Command } from 'commander';
import { normalizeReference } from '../../image/reference';
import { resolveImage } from '../../store/resolve';
import { Common, common, locked, openStore } from '../context';

export function register(program: Command): void {
  common(program.command('tag').description('give an image another name').argument('<source>').argument('<target>', 'REPO[:TAG]')).action(async (src: string, target: string, o: Common) => {
    const store = openStore(o);
    const t = normalizeReference(target);
    await locked(store, async () => {
      const img = resolveImage(store, src);
      const tags = store.tags();
      tags[t] = img.id;
      store.putTags(tags);
    });
  });
}
