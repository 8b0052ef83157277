// strata history: one row per history entry of an image, newest first, as docker's.
import type { Command } from 'commander';
import { resolveImage } from '../../store/resolve';
import { Common, common, json, openStore, out } from '../context';
import { ago, ellipsis, humanSize, shortId, table } from '../format';
import { formatRows } from '../template';

const HEADERS = { ID: 'IMAGE', CreatedSince: 'CREATED', CreatedAt: 'CREATED AT', CreatedBy: 'CREATED BY', Size: 'SIZE', Comment: 'COMMENT' };

interface Opts extends Common {
  quiet?: boolean;
  trunc: boolean;
  human: boolean;
  format?: string;
}

const bool = (raw: string | undefined) => {
  // commander hands -H=false over as "=false"
  const v = raw?.replace(/^=/, '');
  if (v === undefined || v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new Error(`invalid boolean ${JSON.stringify(v)} for -H/--human (true or false)`);
};

export function register(program: Command): void {
  common(
    program
      .command('history')
      .description('show the history of an image: one row per step, newest first')
      .argument('<image>', 'image name[:tag] or id')
      .option('-q, --quiet', 'only show image ids (<missing> for steps the store has no image of)')
      .option('--no-trunc', "don't truncate output")
      .option('-H, --human [bool]', 'sizes and dates in human readable form (-H=false: RFC 3339 times, sizes in bytes)', bool, true)
      .option('--format <template>', "Go-template-like format, e.g. '{{.CreatedBy}}\\t{{.Size}}', 'json'; fields: ID CreatedSince CreatedAt CreatedBy Size Comment")
      .addHelpText('after', `
Examples:
  strata history alpine:3.19
  strata history --no-trunc --format '{{.CreatedBy}}' me/app`),
    true,
  ).action(async (name: string, o: Opts) => {
    const { historyRows } = await import('../../store/listing');
    const store = openStore(o);
    const rows = historyRows(store, resolveImage(store, name));
    if (o.json) return json(rows);
    const trunc = o.trunc !== false;
    const id = (x: string | null) => (x === null ? '<missing>' : trunc ? shortId(x) : x);
    if (o.quiet) return out(rows.map((r) => id(r.id) + '\n').join(''));
    const shown = rows.map((r) => ({
      ID: id(r.id),
      CreatedSince: o.human ? ago(r.created) : (r.created ?? ''),
      CreatedAt: r.created ?? '',
      CreatedBy: trunc ? ellipsis(r.createdBy.replace(/\t/g, ' '), 45) : r.createdBy,
      Size: o.human ? humanSize(r.size) : String(r.size),
      Comment: r.comment,
    }));
    if (o.format) return out(formatRows(o.format, shown, HEADERS, '{{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}'));
    out(table(['IMAGE', 'CREATED', 'CREATED BY', 'SIZE', 'COMMENT'], shown.map((r) => [r.ID, r.CreatedSince, r.CreatedBy, r.Size, r.Comment])));
  });
}
