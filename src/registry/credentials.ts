// Registry credentials where docker keeps them: a JSON file (~/.docker/config.json, or
// podman's --authfile / REGISTRY_AUTH_FILE) with base64 "user:password" under auths, or
// a credential helper (credsStore for all registries, credHelpers per registry) run as
// docker-credential-NAME get|store|erase. Secrets never reach an error message or a log.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { DOCKER_HUB } from '../image/reference';

export interface Credentials {
  username: string;
  /** a password, or an identity (refresh) token when identityToken is set */
  secret: string;
  identityToken?: boolean;
}

interface ConfigFile {
  auths?: Record<string, { auth?: string; identitytoken?: string; username?: string; password?: string } | undefined>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
  [k: string]: unknown;
}

/** The key docker files Docker Hub under. */
export const HUB_KEY = 'https://index.docker.io/v1/';

export function authFile(o: { authfile?: string } = {}): string {
  if (o.authfile) return path.resolve(o.authfile);
  if (process.env.REGISTRY_AUTH_FILE) return path.resolve(process.env.REGISTRY_AUTH_FILE);
  const dir = process.env.DOCKER_CONFIG ?? path.join(os.homedir(), '.docker');
  return path.join(dir, 'config.json');
}

/** "https://host:5000/v1/" -> "host:5000"; Docker Hub's many names -> docker.io */
export function serverHost(s: string): string {
  let h = s.replace(/^[a-z]+:\/\//i, '');
  h = h.split('/')[0];
  if (h === 'index.docker.io' || h === 'registry-1.docker.io' || h === 'registry.hub.docker.com') return DOCKER_HUB;
  return h;
}

/** The auths key for a registry: docker's legacy URL for Docker Hub, host[:port] otherwise. */
export function credentialKey(domain: string): string {
  return serverHost(domain) === DOCKER_HUB ? HUB_KEY : serverHost(domain);
}

function readConfig(file: string): ConfigFile {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new Error(`${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (text.trim() === '') return {};
  try {
    const c = JSON.parse(text) as ConfigFile;
    if (!c || typeof c !== 'object' || Array.isArray(c)) throw new Error('not an object');
    return c;
  } catch (e) {
    throw new Error(`${file} is not valid JSON (${(e as Error).message})`);
  }
}

function writeConfig(file: string, c: ConfigFile): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}`);
  fs.writeFileSync(tmp, JSON.stringify(c, null, '\t') + '\n', { mode: 0o600, flag: 'wx' });
  fs.chmodSync(tmp, 0o600);
  fs.renameSync(tmp, file);
}

function helperFor(c: ConfigFile, domain: string): string | null {
  const host = serverHost(domain);
  for (const [k, v] of Object.entries(c.credHelpers ?? {})) if (serverHost(k) === host && v) return v;
  return c.credsStore || null;
}

function runHelper(name: string, action: 'get' | 'store' | 'erase', input: string): { ok: boolean; out: string } {
  if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new Error(`invalid credential helper name ${JSON.stringify(name)}`);
  const bin = `docker-credential-${name}`;
  const r = spawnSync(bin, [action], { input, encoding: 'utf8', timeout: 60_000 });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    throw new Error(code === 'ENOENT' ? `credential helper ${bin} is not installed (named in the auth file)` : `credential helper ${bin}: ${code ?? r.error.message}`);
  }
  return { ok: r.status === 0, out: (r.stdout ?? '').trim() };
}

export function getCredentials(file: string, domain: string): Credentials | null {
  const c = readConfig(file);
  const key = credentialKey(domain);
  const helper = helperFor(c, domain);
  if (helper) {
    const r = runHelper(helper, 'get', key);
    if (r.ok) {
      try {
        const j = JSON.parse(r.out) as { Username?: string; Secret?: string };
        if (j.Secret) return j.Username === '<token>' ? { username: '', secret: j.Secret, identityToken: true } : { username: j.Username ?? '', secret: j.Secret };
      } catch {
        throw new Error(`credential helper docker-credential-${helper} printed no JSON`);
      }
    } else if (!/not found/i.test(r.out)) throw new Error(`credential helper docker-credential-${helper} get failed: ${r.out.split('\n')[0]}`);
    // not in the helper: docker then looks in auths too
  }
  const host = serverHost(domain);
  for (const [k, v] of Object.entries(c.auths ?? {})) {
    if (!v || serverHost(k) !== host) continue;
    if (v.identitytoken) return { username: '', secret: v.identitytoken, identityToken: true };
    if (v.auth) {
      const dec = Buffer.from(v.auth, 'base64').toString('utf8');
      const i = dec.indexOf(':');
      if (i < 0) throw new Error(`${file}: the auth entry for ${k} is not base64 of user:password`);
      return { username: dec.slice(0, i), secret: dec.slice(i + 1) };
    }
    if (v.username && v.password) return { username: v.username, secret: v.password };
  }
  return null;
}

/** Stores credentials; returns the helper used, or null when they went into the file. */
export function storeCredentials(file: string, domain: string, cr: Credentials): string | null {
  const c = readConfig(file);
  const key = credentialKey(domain);
  const helper = helperFor(c, domain);
  if (helper) {
    const r = runHelper(helper, 'store', JSON.stringify({ ServerURL: key, Username: cr.username, Secret: cr.secret }));
    if (!r.ok) throw new Error(`credential helper docker-credential-${helper} store failed: ${r.out.split('\n')[0]}`);
    // docker keeps an empty auths entry so the registry shows as logged in
    c.auths = { ...(c.auths ?? {}), [key]: {} };
    writeConfig(file, c);
    return helper;
  }
  const auths = { ...(c.auths ?? {}) };
  for (const k of Object.keys(auths)) if (serverHost(k) === serverHost(domain)) delete auths[k];
  auths[key] = { auth: Buffer.from(`${cr.username}:${cr.secret}`).toString('base64') };
  c.auths = auths;
  writeConfig(file, c);
  return null;
}

/** Removes stored credentials; false when there were none. */
export function eraseCredentials(file: string, domain: string): boolean {
  if (!fs.existsSync(file)) return false;
  const c = readConfig(file);
  let found = false;
  const helper = helperFor(c, domain);
  if (helper) {
    const r = runHelper(helper, 'erase', credentialKey(domain));
    if (r.ok) found = true;
  }
  const auths = { ...(c.auths ?? {}) };
  for (const k of Object.keys(auths)) {
    if (serverHost(k) === serverHost(domain)) {
      delete auths[k];
      found = true;
    }
  }
  if (found) {
    c.auths = auths;
    writeConfig(file, c);
  }
  return found;
}
