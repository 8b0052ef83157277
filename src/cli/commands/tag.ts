// strata tag: other names for an image (several targets as podman takes them).
import type { Command } from 'commander';
import { normalizeReference } from '../../image/reference';
import { resolveImage } from '../../store/resolve';
import { Common, common, locked, openStore } from '../context';

export function register(program: Command): void {
  common(
    program
      .command('tag')
      .description('give an image other names (each target on its own; exit 1 if any failed)')
      .argument('<source>', 'image name[:tag] or id')
      .argument('<targets...>', 'new names, REPO[:TAG] (the tag defaults to latest)')
      .addHelpText('after', `
Examples:
  strata tag alpine:3.19 mybase
  strata tag me/app:2 me/app:latest 127.0.0.1:5000/me/app:2`),
  ).action(async (src: string, targets: string[], o: Common) => {
    const store = openStore(o);
    const errors: string[] = [];
    const names: string[] = [];
    for (const t of targets) {
      try {
        names.push(normalizeReference(t));
      } catch (e) {
        errors.push((e as Error).message);
      }
    }
    await locked(store, async () => {
      const img = resolveImage(store, src);
      if (names.length === 0) return;
      const tags = store.tags();
      for (const n of names) tags[n] = img.id;
      store.putTags(tags);
    });
    for (const e of errors) process.stderr.write(`strata: ${e}\n`);
    if (errors.length) process.exitCode = 1;
  });
}
