// strata commit: the container's upper becomes a new layer of a new image.
import type { Command } from 'commander';
import { normalizeReference } from '../../image/reference';
import { resolveContainer } from '../../store/resolve';
import { Common, common, json, locked, openStore, out } from '../context';

const collect = (v: string, prev: string[]) => [...prev, v];

interface Opts extends Common {
  message?: string;
  author?: string;
  pause: boolean;
  change: string[];
}

export function register(program: Command): void {
  common(
    program
      .command('commit')
      .description("make the container's changes a new image; prints its id")
      .argument('<container>', 'container name or id')
      .argument('[reference]', 'REPO[:TAG] to tag the new image with (default: untagged)')
      .option('-m, --message <msg>', 'commit message (the history entry\'s comment)')
      .option('-a, --author <author>', 'author (e.g. "Jane Doe <jane@example.com>")')
      .option('-c, --change <instruction>', 'apply a Dockerfile instruction to the image config: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, USER, VOLUME, WORKDIR (repeatable)', collect, [])
      .option('-p, --pause', 'pause a running container during the commit (default)', true)
      .option('--no-pause', 'commit a running container without pausing it')
      .addHelpText('after', `
Examples:
  strata commit web me/web:2
  strata commit -m 'add config' -a 'Jane <jane@example.com>' web me/web:3
  strata commit -c 'CMD ["nginx", "-g", "daemon off;"]' -c 'ENV MODE=prod' -c 'EXPOSE 80' web me/web:4`),
    true,
  ).action(async (name: string, ref: string | undefined, o: Opts) => {
    const { commitContainer, imageConfig } = await import('../../store/commit');
    const { applyChanges } = await import('../../build/changes');
    const { withPaused } = await import('../../runtime/container');
    const store = openStore(o);
    const t = ref ? normalizeReference(ref) : null;
    const img = await locked(store, async () => {
      const c = resolveContainer(store, name);
      let config: Record<string, unknown> | undefined;
      if (o.change.length) {
        const base = store.image(c.image);
        if (!base) throw new Error(`image ${c.image} of container ${c.name} is no longer in the store`);
        config = applyChanges((imageConfig(store, base).config ?? {}) as Record<string, unknown>, o.change);
      }
      return withPaused(store, c, o.pause, () => commitContainer(store, c, { message: o.message, author: o.author, config }, t));
    });
    if (o.json) return json({ id: img.id, ref: t });
    out(img.id + '\n');
  });
}
