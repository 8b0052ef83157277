// One registry, as the distribution spec (Docker Registry HTTP API V2) sees it: the
// scheme found by a ping of /v2/, the authentication it asks for, and requests on
// behalf of a repository scope.
import { DOCKER_HUB } from '../image/reference';
import { Challenge, fetchToken, parseChallenges, readLimited, Token } from './auth';
import { authFile, Credentials, getCredentials } from './credentials';
import { hostTls, isCertError, transportPolicy, TransportPolicy } from './tls';
import { Http, RegistryError, SendOptions, safeUrl } from './transport';

export interface ClientOptions {
  /** false: https without verification, or plain http (podman's --tls-verify=false) */
  tlsVerify?: boolean;
  /** from the store's config: hosts or CIDRs treated as --tls-verify=false */
  insecureRegistries?: readonly string[];
  authfile?: string;
  /** explicit credentials (login); otherwise looked up in the auth file when asked for */
  credentials?: Credentials | null;
}

/** Where the API of a registry named in a reference lives. */
export function apiHost(domain: string): string {
  return domain === DOCKER_HUB ? 'registry-1.docker.io' : domain;
}

export const pullScope = (repo: string): string => `repository:${repo}:pull`;
export const pushScope = (repo: string): string => `repository:${repo}:pull,push`;

export class RegistryClient {
  readonly host: string;
  readonly policy: TransportPolicy;
  private readonly http: Http;
  private readonly others = new Map<string, Http>();
  private base: string | null = null;
  private challenge: Challenge | null = null;
  private readonly tokens = new Map<string, Token>();
  private readonly pending = new Map<string, Promise<Token>>();
  private creds: Credentials | null | undefined;

  constructor(
    readonly domain: string,
    private readonly o: ClientOptions = {},
  ) {
    this.host = apiHost(domain);
    this.policy = transportPolicy(this.host, o);
    this.http = new Http(this.policy.tls);
    this.creds = o.credentials;
  }

  get timeoutMs(): number {
    return this.http.timeoutMs;
  }

  private credentials(): Credentials | null {
    if (this.creds === undefined) this.creds = getCredentials(authFile(this.o), this.domain);
    return this.creds;
  }

  private pinging: Promise<void> | null = null;

  /** Finds the scheme and the authentication the registry wants (GET /v2/), once. */
  ping(): Promise<void> {
    if (this.base) return Promise.resolve();
    this.pinging ??= this.doPing().finally(() => (this.pinging = null));
    return this.pinging;
  }

  private async doPing(): Promise<void> {
    const attempt = async (scheme: 'https' | 'http') => {
      const r = await this.http.send(`${scheme}://${this.host}/v2/`, { verify: this.policy.verify, what: `${this.domain}` });
      await r.body?.cancel().catch(() => undefined);
      return r;
    };
    let r: Response;
    let scheme: 'https' | 'http' = 'https';
    // where plain http is allowed, both are asked at once: https wins if it answers
    const plain = this.policy.allowHttp ? attempt('http').catch((e: unknown) => (e instanceof Error ? e : new Error(String(e)))) : null;
    try {
      r = await attempt('https');
    } catch (e) {
      const code = (e as RegistryError).code;
      // a refused certificate is an answer, not a reason to try plain http
      if (!plain || (this.policy.verify && isCertError(code)) || code === 'ECONNREFUSED' || code === 'ENOTFOUND') throw e;
      scheme = 'http';
      const h = await plain;
      if (h instanceof Error) throw h;
      r = h;
    }
    if (r.status === 401) this.challenge = this.pick(parseChallenges(r.headers.get('www-authenticate')));
    else if (r.status !== 200) throw new RegistryError(`${this.domain}: GET /v2/ answered HTTP ${r.status}: not a registry (distribution API v2)`, r.status);
    this.base = `${scheme}://${this.host}`;
  }

  private pick(chs: Challenge[]): Challenge | null {
    return chs.find((c) => c.scheme === 'bearer') ?? chs.find((c) => c.scheme === 'basic') ?? null;
  }

  get scheme(): string {
    return this.base ? this.base.slice(0, this.base.indexOf(':')) : '';
  }

  url(p: string): string {
    return p.startsWith('http://') || p.startsWith('https://') ? p : `${this.base}${p}`;
  }

  private httpFor(url: string): Http {
    const h = new URL(url).host;
    if (h === this.host) return this.http;
    let x = this.others.get(h);
    if (!x) {
      x = new Http(hostTls(h));
      this.others.set(h, x);
    }
    return x;
  }

  private async authorization(scopes: string[], fresh: boolean): Promise<string | null> {
    const ch = this.challenge;
    if (!ch) return null;
    const cr = this.credentials();
    if (ch.scheme === 'basic') return cr ? 'Basic ' + Buffer.from(`${cr.username}:${cr.secret}`).toString('base64') : null;
    if (ch.scheme !== 'bearer') throw new RegistryError(`${this.domain} asks for ${ch.scheme} authentication, which strata does not speak`);
    const key = [...scopes].sort().join(' ');
    const have = this.tokens.get(key);
    // reused until shortly before it expires
    if (!fresh && have && have.expires - Date.now() > 5_000) return 'Bearer ' + have.token;
    // parallel requests (3 downloads, 3 uploads) share one token request
    let p = this.pending.get(key);
    if (!p) {
      const realm = ch.params.realm ?? '';
      p = fetchToken(this.httpFor(realm.startsWith('http') ? realm : this.url('/')), this.policy.verify, ch, scopes, cr).finally(() => this.pending.delete(key));
      this.pending.set(key, p);
    }
    const t = await p;
    this.tokens.set(key, t);
    return 'Bearer ' + t.token;
  }

  /**
   * Are the explicit credentials good? As docker login checks them: GET /v2/ with Basic
   * credentials, or a token (for no particular scope) from the token service.
   */
  async checkLogin(): Promise<void> {
    await this.ping();
    const ch = this.challenge;
    if (!ch) return; // a registry without authentication takes anyone
    if (ch.scheme === 'bearer') {
      await this.authorization([], true);
      return;
    }
    const res = await this.request('/v2/', { scopes: [], what: `login to ${this.domain}` });
    await res.body?.cancel().catch(() => undefined);
    if (res.status === 401) throw new RegistryError('unauthorized: incorrect username or password', 401, 'UNAUTHORIZED');
    if (res.status !== 200) throw new RegistryError(`login to ${this.domain}: GET /v2/ answered HTTP ${res.status}`, res.status);
  }

  /** Tests and login: was a token fetched for these scopes? */
  hasToken(scopes: string[]): boolean {
    return this.tokens.has([...scopes].sort().join(' '));
  }

  /**
   * A request for path (or an absolute URL the registry handed out, such as an upload
   * location), authenticated for scopes. A 401 with a new challenge (a token for more
   * scopes, or a registry that only now asks) is answered once.
   */
  async request(p: string, o: SendOptions & { scopes: string[] }): Promise<Response> {
    await this.ping();
    const url = this.url(p);
    const same = new URL(url).host === this.host;
    let scopes = o.scopes;
    let fresh = false;
    for (let round = 0; ; round++) {
      const headers: Record<string, string> = { ...(o.headers ?? {}) };
      const auth = same ? await this.authorization(scopes, fresh) : null;
      if (auth) headers.authorization = auth;
      const res = await this.httpFor(url).send(url, { ...o, headers, verify: same ? this.policy.verify : true });
      if (res.status !== 401 || round > 0 || !same) return res;
      const ch = this.pick(parseChallenges(res.headers.get('www-authenticate')));
      if (!ch) return res;
      await res.body?.cancel().catch(() => undefined);
      const askedScope = ch.params.scope;
      if (askedScope) scopes = [...new Set([...scopes, ...askedScope.split(' ')])];
      if (ch.scheme === 'basic' && !this.credentials()) return res;
      this.challenge = ch;
      fresh = true;
    }
  }

  /** A 4xx/5xx answer as one line: the registry's own error code and message if it sent them. */
  async fail(res: Response, what: string): Promise<never> {
    let detail = '';
    try {
      const text = await readLimited(res, 64 << 10, what);
      const j = JSON.parse(text) as { errors?: Array<{ code?: string; message?: string }> };
      const e = j.errors?.[0];
      if (e) detail = [e.code ? e.code.toLowerCase().replace(/_/g, ' ') : '', e.message && e.message.toLowerCase() !== (e.code ?? '').toLowerCase().replace(/_/g, ' ') ? e.message : ''].filter(Boolean).join(': ');
    } catch {
      /* no JSON body */
    }
    if (res.status === 401 && !detail) detail = 'unauthorized: authentication required';
    if (res.status === 401 && !this.credentials()) detail += ` (log in first: strata login ${this.domain === DOCKER_HUB ? '' : this.domain})`.replace(' )', ')');
    throw new RegistryError(`${what}: ${detail || `HTTP ${res.status}`}`, res.status, res.status === 401 ? 'UNAUTHORIZED' : undefined);
  }

  describe(): string {
    return safeUrl(this.url('/'));
  }
}

/** The next page of a paginated list (RFC 5988 Link: <URL>; rel="next"). */
export function nextLink(h: string | null): string | null {
  if (!h) return null;
  for (const part of h.split(',')) {
    const m = /^\s*<([^>]*)>\s*;(.*)$/.exec(part);
    if (m && /rel="?next"?/i.test(m[2])) return m[1];
  }
  return null;
}

/** Every item of a paginated JSON list (tags/list, _catalog), at most max. */
export async function listAll(c: RegistryClient, first: string, key: 'tags' | 'repositories', scopes: string[], what: string, max = 100_000): Promise<string[]> {
  const out: string[] = [];
  let next: string | null = first;
  for (let page = 0; next && out.length < max; page++) {
    if (page >= 1000) throw new RegistryError(`${what}: more than 1000 pages`);
    const res = await c.request(next, { scopes, headers: { accept: 'application/json' }, what });
    if (res.status === 400 && page === 0 && /[?&]n=\d+/.test(next)) {
      // a registry with a smaller page limit refuses n; it then pages at its own size
      await res.body?.cancel().catch(() => undefined);
      next = next.replace(/([?&])n=\d+&?/, '$1').replace(/[?&]$/, '');
      continue;
    }
    if (res.status !== 200) await c.fail(res, what);
    const text = await readLimited(res, 16 << 20, what);
    let j: Record<string, unknown>;
    try {
      j = JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw new RegistryError(`${what}: the registry answered something that is not JSON`);
    }
    const items = j[key];
    if (items !== null && items !== undefined && (!Array.isArray(items) || items.some((x) => typeof x !== 'string'))) throw new RegistryError(`${what}: "${key}" is not a list of names`);
    out.push(...((items as string[] | null) ?? []));
    const link = nextLink(res.headers.get('link'));
    next = link ? new URL(link, c.url(next)).toString() : null;
  }
  return out.slice(0, max);
}
