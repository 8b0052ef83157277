// strata search: Docker Hub's search API for Docker Hub, and for any other registry its
// catalog (/v2/_catalog, paginated through Link) filtered by the term, as a plain
// distribution registry has no search.
import { DOCKER_HUB, looksLikeDomain } from '../image/reference';
import { ClientOptions, listAll, RegistryClient } from './client';
import { readLimited } from './auth';
import { Http, RegistryError } from './transport';
import { hostTls } from './tls';

export interface SearchResult {
  name: string;
  description: string;
  stars: number;
  official: boolean;
  automated: boolean;
}

export const HUB_SEARCH = 'https://index.docker.io/v1/search';

/** "127.0.0.1:5000/app" -> that registry, "app"; "nginx" -> Docker Hub. */
export function searchTarget(term: string): { domain: string; q: string } {
  const slash = term.indexOf('/');
  if (slash > 0 && looksLikeDomain(term.slice(0, slash))) {
    const domain = term.slice(0, slash);
    if (domain === 'docker.io' || domain === 'index.docker.io' || domain === 'registry-1.docker.io') return { domain: DOCKER_HUB, q: term.slice(slash + 1) };
    return { domain, q: term.slice(slash + 1) };
  }
  return { domain: DOCKER_HUB, q: term };
}

/** Docker Hub's answer ({num_results, results: [{name, description, star_count, is_official, is_automated}]}). */
export function parseHubResults(text: string, limit: number): SearchResult[] {
  let j: { results?: Array<Record<string, unknown>> };
  try {
    j = JSON.parse(text) as typeof j;
  } catch {
    throw new RegistryError('Docker Hub search answered something that is not JSON');
  }
  if (!Array.isArray(j.results)) throw new RegistryError('Docker Hub search answered without results');
  return j.results.slice(0, limit).map((r) => ({
    name: String(r.name ?? r.repo_name ?? ''),
    description: String(r.description ?? r.short_description ?? ''),
    stars: Number(r.star_count ?? 0) || 0,
    official: r.is_official === true,
    automated: r.is_automated === true,
  }));
}

export async function search(term: string, o: ClientOptions & { limit?: number }): Promise<SearchResult[]> {
  const limit = o.limit ?? 25;
  if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw new Error('limit must be between 1 and 100');
  const { domain, q } = searchTarget(term);
  if (domain === DOCKER_HUB) {
    const u = new URL(HUB_SEARCH);
    u.searchParams.set('q', q);
    u.searchParams.set('n', String(limit));
    const http = new Http(hostTls(u.host));
    const res = await http.send(u.toString(), { verify: o.tlsVerify !== false, what: 'Docker Hub search' });
    if (res.status !== 200) {
      await res.body?.cancel().catch(() => undefined);
      throw new RegistryError(`Docker Hub search answered HTTP ${res.status}`, res.status);
    }
    return parseHubResults(await readLimited(res, 16 << 20, 'Docker Hub search'), limit);
  }
  const c = new RegistryClient(domain, o);
  const all = await listAll(c, '/v2/_catalog?n=100', 'repositories', ['registry:catalog:*'], `catalog of ${domain}`);
  const needle = q.toLowerCase();
  return all
    .filter((r) => r.toLowerCase().includes(needle))
    .slice(0, limit)
    .map((r) => ({ name: `${domain}/${r}`, description: '', stars: 0, official: false, automated: false }));
}
