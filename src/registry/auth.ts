// Registry authentication: the WWW-Authenticate challenge of a 401, then either Basic
// credentials on every request, or the token flow Docker Hub, Harbor and distribution's
// `auth: token` use: GET REALM?service=S&scope=repository:NAME:pull,push (Basic
// credentials, or an identity token POSTed as an OAuth2 refresh token), and the token
// sent as "Authorization: Bearer" until it expires.
import { Credentials } from './credentials';
import { describeNetError, Http, registryTimeoutMs, RegistryError, safeUrl } from './transport';

export interface Challenge {
  scheme: string; // lowercase: "basic", "bearer"
  params: Record<string, string>;
}

/** Parses a WWW-Authenticate value (RFC 7235): several challenges, quoted or bare params. */
export function parseChallenges(header: string | null): Challenge[] {
  const out: Challenge[] = [];
  if (!header) return out;
  let i = 0;
  const s = header;
  const skip = () => {
    while (i < s.length && (s[i] === ' ' || s[i] === '\t' || s[i] === ',')) i++;
  };
  const token = () => {
    const m = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+/.exec(s.slice(i));
    if (!m) return '';
    i += m[0].length;
    return m[0];
  };
  while (i < s.length) {
    skip();
    const scheme = token();
    if (!scheme) break;
    const ch: Challenge = { scheme: scheme.toLowerCase(), params: {} };
    out.push(ch);
    for (;;) {
      skip();
      const save = i;
      const key = token();
      while (s[i] === ' ') i++;
      if (!key || s[i] !== '=') {
        i = save; // the next challenge's scheme
        break;
      }
      i++;
      while (s[i] === ' ') i++;
      let val = '';
      if (s[i] === '"') {
        i++;
        while (i < s.length && s[i] !== '"') {
          if (s[i] === '\\' && i + 1 < s.length) i++;
          val += s[i++];
        }
        i++;
      } else val = token();
      ch.params[key.toLowerCase()] = val;
    }
  }
  return out;
}

export interface Token {
  token: string;
  expires: number; // ms since epoch
}

const MIN_LIFETIME_S = 60; // what the token spec says to assume when expires_in is missing

/** Asks the token service of a Bearer challenge for a token covering scopes. */
export async function fetchToken(http: Http, verify: boolean, ch: Challenge, scopes: string[], cr: Credentials | null): Promise<Token> {
  const realm = ch.params.realm;
  if (!realm) throw new RegistryError('the registry asked for a Bearer token without naming a realm');
  let u: URL;
  try {
    u = new URL(realm);
  } catch {
    throw new RegistryError(`the registry's token realm ${JSON.stringify(realm)} is not a URL`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new RegistryError(`the registry's token realm ${safeUrl(u)} is not http(s)`);
  const what = `token service ${safeUrl(u)}`;
  let res: Response;
  if (cr?.identityToken) {
    const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: cr.secret, client_id: 'strata', access_type: 'offline' });
    if (ch.params.service) form.set('service', ch.params.service);
    if (scopes.length) form.set('scope', scopes.join(' '));
    res = await http.send(u.toString(), { method: 'POST', verify, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: Buffer.from(form.toString()), what });
  } else {
    if (ch.params.service) u.searchParams.set('service', ch.params.service);
    for (const s of scopes) u.searchParams.append('scope', s);
    if (cr) u.searchParams.set('account', cr.username);
    const headers: Record<string, string> = {};
    if (cr) headers.authorization = 'Basic ' + Buffer.from(`${cr.username}:${cr.secret}`).toString('base64');
    res = await http.send(u.toString(), { verify, headers, what });
  }
  if (res.status === 401 || res.status === 403) {
    await res.body?.cancel().catch(() => undefined);
    throw new RegistryError(cr ? 'unauthorized: incorrect username or password' : 'unauthorized: authentication required', res.status, 'UNAUTHORIZED');
  }
  if (res.status !== 200) {
    await res.body?.cancel().catch(() => undefined);
    throw new RegistryError(`${what} answered HTTP ${res.status}`, res.status);
  }
  const text = await readLimited(res, 1 << 20, what);
  let j: { token?: unknown; access_token?: unknown; expires_in?: unknown; issued_at?: unknown };
  try {
    j = JSON.parse(text) as typeof j;
  } catch {
    throw new RegistryError(`${what} answered something that is not JSON`);
  }
  const token = typeof j.token === 'string' && j.token ? j.token : typeof j.access_token === 'string' ? j.access_token : '';
  if (!token) throw new RegistryError(`${what} answered without a token`);
  const lifetime = typeof j.expires_in === 'number' && j.expires_in > 0 ? j.expires_in : MIN_LIFETIME_S;
  const issued = typeof j.issued_at === 'string' && !Number.isNaN(Date.parse(j.issued_at)) ? Math.min(Date.parse(j.issued_at), Date.now()) : Date.now();
  return { token, expires: issued + lifetime * 1000 };
}

/** A response body as text, refusing more than max bytes. */
export async function readLimited(res: Response, max: number, what: string): Promise<string> {
  return (await readBytes(res, max, what)).toString('utf8');
}

export async function readBytes(res: Response, max: number, what: string): Promise<Buffer> {
  const len = Number(res.headers.get('content-length'));
  if (Number.isFinite(len) && len > max) {
    await res.body?.cancel().catch(() => undefined);
    throw new RegistryError(`${what} is too large: ${len} bytes (at most ${max})`, undefined, 'TOO_LARGE');
  }
  if (!res.body) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let n = 0;
  const reader = res.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      n += value.length;
      if (n > max) {
        await reader.cancel().catch(() => undefined);
        throw new RegistryError(`${what} is too large: more than ${max} bytes`, undefined, 'TOO_LARGE');
      }
      chunks.push(Buffer.from(value.buffer, value.byteOffset, value.length));
    }
  } catch (e) {
    throw describeNetError(e, what, registryTimeoutMs());
  } finally {
    reader.releaseLock();
  }
  return Buffer.concat(chunks);
}
