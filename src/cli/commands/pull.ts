// strata pull: an image (or every tag of a repository) from a registry into the store.
import type { Command } from 'commander';
import { common, json, locked, openStore, out } from '../context';
import { clientOptions, positiveInt, registryFlags, RegistryFlags } from '../registry';

interface Opts extends RegistryFlags {
  allTags?: boolean;
  quiet?: boolean;
  platform?: string;
  maxConcurrentDownloads?: number;
}

const FINAL = new Set(['Pull complete', 'Already exists']);

export function register(program: Command): void {
  registryFlags(
    common(program.command('pull').description('download an image from a registry').argument('<name>', 'NAME[:TAG|@DIGEST] (ubuntu, user/repo, host:port/ns/repo)'), true)
      .option('-a, --all-tags', 'download every tagged image of the repository')
      .option('-q, --quiet', 'print only the image name')
      .option('--platform <os/arch[/variant]>', "the platform to pick from a multi-platform image (default: this machine's)")
      .option('--max-concurrent-downloads <n>', 'layers downloaded at once (default 3)', positiveInt),
  ).action(async (name: string, o: Opts) => {
    const { pull } = await import('../../registry/pull');
    const { LayerBoard, progressBar } = await import('../progress');
    const store = openStore(o);
    const quiet = o.quiet || o.json;
    const board = new LayerBoard();
    const ev = {
      line: (s: string) => {
        if (!quiet) board.line(s);
      },
      layer: (id: string, status: string, cur?: number, total?: number) => {
        if (quiet) return;
        const text = cur !== undefined && total !== undefined && (status === 'Downloading' || status === 'Extracting') ? `${status} ${progressBar(cur, total)}` : status;
        board.set(id, text, FINAL.has(status));
      },
    };
    const opts = clientOptions(o);
    const results = await locked(store, () => pull(store, name, { ...opts, platform: o.platform, allTags: o.allTags, maxConcurrentDownloads: o.maxConcurrentDownloads }, ev));
    board.flush();
    if (o.json) return json(results);
    for (const r of results) out(r.canonical + '\n');
  });
}
