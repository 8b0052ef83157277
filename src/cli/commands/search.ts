// strata search: Docker Hub's search, or a registry's catalog filtered by the term.
import type { Command } from 'commander';
import { common, json, out } from '../context';
import { table } from '../format';
import { clientOptions, positiveInt, registryFlags, RegistryFlags } from '../registry';

interface Opts extends RegistryFlags {
  limit?: number;
  trunc?: boolean;
}

export function register(program: Command): void {
  registryFlags(
    common(program.command('search').description('search Docker Hub, or a registry ([REGISTRY/]TERM) through its catalog').argument('<term>', '[REGISTRY/]TERM'), true)
      .option('--limit <n>', 'at most this many results (default 25, at most 100)', positiveInt)
      .option('--no-trunc', "don't truncate descriptions"),
  ).action(async (term: string, o: Opts) => {
    const { search } = await import('../../registry/search');
    const rows = await search(term, { ...clientOptions(o), limit: o.limit });
    if (o.json) return json(rows);
    const desc = (d: string) => {
      const one = d.replace(/\s+/g, ' ').trim();
      return o.trunc !== false && one.length > 45 ? one.slice(0, 44) + '…' : one;
    };
    out(table(['NAME', 'DESCRIPTION', 'STARS', 'OFFICIAL', 'AUTOMATED'], rows.map((r) => [r.name, desc(r.description), String(r.stars), r.official ? '[OK]' : '', r.automated ? '[OK]' : ''])));
  });
}
