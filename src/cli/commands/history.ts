// strata history: one row per layer, newest first.
import type { Command } from 'commander';
import { resolveImage } from '../../store/resolve';
import { Common, common, json, layerSize, openStore, out } from '../context';
import { ago, humanSize, shortId, table } from '../format';

export function register(program: Command): void {
  common(program.command('history').description('one row per layer of an image').argument('<image>'), true).action(async (name: string, o: Common) => {
    const { layerHistory } = await import('../../store/changes');
    const store = openStore(o);
    const img = resolveImage(store, name);
    const h = layerHistory(store, img.configDigest);
    const cfg = JSON.parse(store.readBlob(img.configDigest).toString('utf8')) as { history?: Array<{ created?: string; created_by?: string; comment?: string; empty_layer?: boolean }> };
    const nonEmpty = (cfg.history ?? []).filter((x) => !x.empty_layer);
    const rows = img.layers.map((l, i) => {
      const size = layerSize(store, l.chainId);
      return { layer: i + 1, diffId: l.diffId, chainId: l.chainId, created: nonEmpty[i]?.created ?? null, createdBy: h.createdBy[i] ?? '', comment: nonEmpty[i]?.comment ?? '', size };
    }).reverse();
    if (o.json) return json(rows);
    out(table(['LAYER', 'DIFF ID', 'CREATED', 'CREATED BY', 'SIZE', 'COMMENT'], rows.map((r) => [String(r.layer), shortId(r.diffId), ago(r.created), r.createdBy.length > 45 ? r.createdBy.slice(0, 42) + '...' : r.createdBy, humanSize(r.size), r.comment])));
  });
}
