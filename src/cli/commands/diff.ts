// strata diff: what the container added, changed and deleted (A/C/D), from its upper.
import type { Command } from 'commander';
import { resolveContainer } from '../../store/resolve';
import { Common, common, json, openStore, out } from '../context';
import { showPath } from '../format';

export function register(program: Command): void {
  common(program.command('diff').description('A/C/D lines: what the container added, changed, deleted').argument('<container>', 'container name or id'), true).action(async (name: string, o: Common) => {
    const { containerChanges } = await import('../../store/changes');
    const store = openStore(o);
    const ch = containerChanges(store, resolveContainer(store, name));
    if (o.json) return json(ch.map((c) => ({ kind: c.kind, path: showPath(c.path) })));
    for (const c of ch) out(`${c.kind} ${showPath(c.path)}\n`);
  });
}
