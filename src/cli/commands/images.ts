// strata images: one row per tag (and one per untagged image), newest first.
import type { Command } from 'commander';
import { normalizeReference } from '../../image/reference';
import { Common, common, imageSize, json, openStore, out } from '../context';
import { ago, humanSize, shortId, table } from '../format';

export function register(program: Command): void {
  common(program.command('images').description('list images').argument('[reference]', 'REPO[:TAG] filter').option('--digests', 'show repository digests'), true).action((ref: string | undefined, o: Common & { digests?: boolean }) => {
    const store = openStore(o);
    const tags = store.tags();
    const rows: Array<{ repository: string; tag: string; digest: string; id: string; created: string | null; size: number }> = [];
    const tagged = new Set(Object.values(tags));
    const parents = new Set(store.images().flatMap((i) => (i.parent ? [i.parent] : [])));
    let filterRepo: string | null = null;
    let filterTag: string | null = null;
    if (ref) {
      const hasTag = ref.lastIndexOf(':') > ref.lastIndexOf('/');
      const n = normalizeReference(ref);
      filterRepo = n.slice(0, n.lastIndexOf(':'));
      filterTag = hasTag ? n.slice(n.lastIndexOf(':') + 1) : null;
    }
    for (const img of store.images()) {
      const refs = Object.keys(tags).filter((k) => tags[k] === img.id);
      const size = imageSize(store, img.layers);
      const digestOf = (repo: string) => (img.repoDigests ?? []).filter((d) => d.startsWith(repo + '@')).pop()?.slice(repo.length + 1) ?? '<none>';
      for (const r of refs) {
        const i = r.lastIndexOf(':');
        rows.push({ repository: r.slice(0, i), tag: r.slice(i + 1), digest: digestOf(r.slice(0, i)), id: img.id, created: img.created, size });
      }
      // untagged images another was built from are a build's intermediate steps (docker hides them too)
      if (!tagged.has(img.id) && !parents.has(img.id)) {
        // untagged, as docker lists an image pulled by digest: one row per repository digest
        const rds = img.repoDigests ?? [];
        if (rds.length === 0) rows.push({ repository: '<none>', tag: '<none>', digest: '<none>', id: img.id, created: img.created, size });
        for (const rd of rds) rows.push({ repository: rd.slice(0, rd.indexOf('@')), tag: '<none>', digest: rd.slice(rd.indexOf('@') + 1), id: img.id, created: img.created, size });
      }
    }
    const shown = rows.filter((r) => (filterRepo === null || r.repository === filterRepo) && (filterTag === null || r.tag === filterTag));
    shown.sort((a, b) => (b.created ?? '').localeCompare(a.created ?? '') || a.repository.localeCompare(b.repository) || a.tag.localeCompare(b.tag));
    if (o.json) return json(shown);
    if (o.digests) out(table(['REPOSITORY', 'TAG', 'DIGEST', 'IMAGE ID', 'CREATED', 'SIZE'], shown.map((r) => [r.repository, r.tag, r.digest, shortId(r.id), ago(r.created), humanSize(r.size)])));
    else out(table(['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE'], shown.map((r) => [r.repository, r.tag, shortId(r.id), ago(r.created), humanSize(r.size)])));
  });
}
