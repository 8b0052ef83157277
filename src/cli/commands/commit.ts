// strata commit: the container's upper becomes a new layer of a new image.
import type { Command } from 'commander';
import { normalizeReference } from '../../image/reference';
import { resolveContainer } from '../../store/resolve';
import { Common, common, json, locked, openStore, out } from '../context';

export function register(program: Command): void {
  common(program.command('commit').description("make the container's changes a new image").argument('<container>').argument('[reference]', 'REPO[:TAG]').option('-m, --message <msg>', 'history comment').option('-a, --author <author>', 'author').option('-p, --pause', 'pause a running container during the commit (default)', true).option('--no-pause', 'commit a running container without pausing it'), true).action(
    async (name: string, ref: string | undefined, o: Common & { message?: string; author?: string; pause: boolean }) => {
      const { commitContainer } = await import('../../store/commit');
      const { withPaused } = await import('../../runtime/container');
      const store = openStore(o);
      const t = ref ? normalizeReference(ref) : null;
      const img = await locked(store, async () => {
        const c = resolveContainer(store, name);
        return withPaused(store, c, o.pause, () => commitContainer(store, c, { message: o.message, author: o.author }, t));
      });
      if (o.json) return json({ id: img.id, ref: t });
      out(img.id + '\n');
    },
  );
}
