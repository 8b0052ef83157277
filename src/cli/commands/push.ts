// strata push: an image (or every tag of a repository) from the store to a registry.
import type { Command } from 'commander';
import { common, json, locked, openStore, out } from '../context';
import { clientOptions, registryFlags, RegistryFlags } from '../registry';

interface Opts extends RegistryFlags {
  allTags?: boolean;
  quiet?: boolean;
}

export function register(program: Command): void {
  registryFlags(
    common(program.command('push').description('upload an image to a registry').argument('<name>', 'NAME[:TAG] as tagged in the store (strata tag IMAGE host:port/repo:tag first)'), true)
      .option('-a, --all-tags', 'push every tag of the repository')
      .option('-q, --quiet', 'print only the names pushed'),
  ).action(async (name: string, o: Opts) => {
    const { push } = await import('../../registry/push');
    const { LayerBoard, progressBar } = await import('../progress');
    const store = openStore(o);
    const quiet = o.quiet || o.json;
    const board = new LayerBoard();
    const ev = {
      line: (s: string) => {
        if (!quiet) board.line(s);
      },
      layer: (id: string, status: string, d?: { current?: number; total?: number; from?: string }) => {
        if (quiet) return;
        if (status === 'Mounted from') return board.set(id, `Mounted from ${d?.from ?? ''}`, true);
        const text = status === 'Pushing' && d?.current !== undefined && d.total !== undefined ? `Pushing ${progressBar(d.current, d.total)}` : status;
        board.set(id, text, status === 'Pushed' || status === 'Layer already exists');
      },
    };
    const opts = clientOptions(o);
    const results = await locked(store, () => push(store, name, { ...opts, allTags: o.allTags }, ev));
    board.flush();
    if (o.json) return json(results);
    if (o.quiet) for (const r of results) out(r.name + '\n');
  });
}
