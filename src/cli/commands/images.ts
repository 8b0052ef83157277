// strata images: one row per tag (and one per untagged image), newest first.
import type { Command } from 'commander';
import { normalizeReference } from '../../image/reference';
import { findImage } from '../../store/resolve';
import { Common, common, json, openStore, out } from '../context';
import { anyOf, boolFilter, parseFilters, referenceMatch } from '../filter';
import { ago, goTime, humanSize, shortId, table } from '../format';
import { formatRows } from '../template';

const collect = (v: string, prev: string[]) => [...prev, v];
const HEADERS = { Repository: 'REPOSITORY', Tag: 'TAG', Digest: 'DIGEST', ID: 'IMAGE ID', CreatedSince: 'CREATED', CreatedAt: 'CREATED AT', Size: 'SIZE', Containers: 'CONTAINERS' };

interface Opts extends Common {
  digests?: boolean;
  all?: boolean;
  quiet?: boolean;
  noTrunc?: boolean;
  trunc: boolean;
  format?: string;
  filter: string[];
}

export function register(program: Command): void {
  common(
    program
      .command('images')
      .description('list images')
      .argument('[reference]', 'show only REPO[:TAG] (a name without a tag: all its tags)')
      .option('-a, --all', "show all images (by default the intermediate images of builds are hidden)")
      .option('--digests', 'show repository digests')
      .option('-q, --quiet', 'only show image ids')
      .option('--no-trunc', "don't truncate output (full sha256: ids)")
      .option('--format <template>', "Go-template-like format: '{{.Repository}}:{{.Tag}}', 'table {{.ID}}\\t{{.Size}}', 'json'; fields: Repository Tag Digest ID CreatedSince CreatedAt Size Containers")
      .option('-f, --filter <key=value>', 'dangling=true|false, reference=PATTERN (docker wildcards: me/*, *:latest), before=IMAGE, since=IMAGE, label=KEY[=VALUE] (repeat: same key = any of, different keys = all of)', collect, [])
      .addHelpText('after', `
Examples:
  strata images
  strata images -q --filter dangling=true
  strata images --filter 'reference=me/*' --format '{{.Repository}}:{{.Tag}}'`),
    true,
  ).action(async (ref: string | undefined, o: Opts) => {
    const { imageRows } = await import('../../store/listing');
    const filters = parseFilters(o.filter, ['dangling', 'reference', 'before', 'since', 'label']);
    const store = openStore(o);
    let filterRepo: string | null = null;
    let filterTag: string | null = null;
    if (ref) {
      const hasTag = ref.lastIndexOf(':') > ref.lastIndexOf('/');
      const n = normalizeReference(ref);
      filterRepo = n.slice(0, n.lastIndexOf(':'));
      filterTag = hasTag ? n.slice(n.lastIndexOf(':') + 1) : null;
    }
    const createdOf = (name: string) => {
      const img = findImage(store, name).img;
      return img.created ?? '';
    };
    const before = (filters.get('before') ?? []).map(createdOf);
    const since = (filters.get('since') ?? []).map(createdOf);
    const dangling = boolFilter(filters, 'dangling');
    const trunc = o.trunc !== false;
    const shown = imageRows(store).filter(
      (r) =>
        (o.all || !r.intermediate) &&
        (filterRepo === null || r.repository === filterRepo) &&
        (filterTag === null || r.tag === filterTag) &&
        (dangling === null || r.dangling === dangling) &&
        // a reference filter never matches an untagged image (docker's rule)
        anyOf(filters, 'reference', (p) => !r.dangling && referenceMatch(p, r.repository, r.tag)) &&
        before.every((t) => (r.created ?? '') < t) &&
        since.every((t) => (r.created ?? '') > t) &&
        anyOf(filters, 'label', (l) => {
          const eq = l.indexOf('=');
          return eq < 0 ? l in r.labels : r.labels[l.slice(0, eq)] === l.slice(eq + 1);
        }),
    );
    if (o.json) return json(shown.map(({ repository, tag, digest, id, created, size }) => ({ repository, tag, digest, id, created, size })));
    const id = (x: string) => (trunc ? shortId(x) : x);
    if (o.quiet) return out(shown.map((r) => id(r.id) + '\n').join(''));
    if (o.format) {
      const rows = shown.map((r) => ({ Repository: r.repository, Tag: r.tag, Digest: r.digest, ID: id(r.id), CreatedSince: ago(r.created), CreatedAt: goTime(r.created), Size: humanSize(r.size), Containers: r.containers }));
      return out(formatRows(o.format, rows, HEADERS, `{{.Repository}}\t{{.Tag}}${o.digests ? '\t{{.Digest}}' : ''}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}`));
    }
    if (o.digests) out(table(['REPOSITORY', 'TAG', 'DIGEST', 'IMAGE ID', 'CREATED', 'SIZE'], shown.map((r) => [r.repository, r.tag, r.digest, id(r.id), ago(r.created), humanSize(r.size)])));
    else out(table(['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE'], shown.map((r) => [r.repository, r.tag, id(r.id), ago(r.created), humanSize(r.size)])));
  });
}
