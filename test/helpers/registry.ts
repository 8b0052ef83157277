// A real registry for the tests: Debian's docker-registry (CNCF distribution 2.8) on
// 127.0.0.1 and a free port, with its storage in the test's temp dir, and optionally
// htpasswd users, TLS from a CA made here with openssl, or `auth: token` against a token
// service the test serves (tokens signed by a key made here). Also: a CLI runner that
// does not block the event loop (the token service and hostile servers live in-process).
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import * as http from 'node:http';
import { createSign, randomBytes, X509Certificate } from 'node:crypto';
import { execFileSync, spawn, ChildProcess } from 'node:child_process';
import { STRATA, RunResult } from '../image-helpers';

export interface Teardown {
  teardown(fn: () => void | Promise<void>): void;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

/** strata as a child process, without blocking this process's event loop. */
export function strataAsync(root: string, args: string[], o: { env?: Record<string, string>; input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [STRATA, '--root', root, ...args], { env: { ...process.env, ...(o.env ?? {}) }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => c.kill('SIGKILL'), o.timeoutMs ?? 240_000);
    c.on('close', (code, sig) => {
      clearTimeout(timer);
      resolve({ code: code ?? (sig ? -1 : -1), stdout, stderr });
    });
    c.stdin.end(o.input ?? '');
  });
}

export interface Pki {
  dir: string;
  caCert: string; // PEM file
  serverCert: string;
  serverKey: string;
}

/** A CA and a server certificate for 127.0.0.1 (and localhost) signed by it. */
export function makePki(dir: string): Pki {
  fs.mkdirSync(dir, { recursive: true });
  const f = (n: string) => path.join(dir, n);
  const o = (args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  o(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '2', '-subj', '/CN=strata test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  o(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=127.0.0.1']);
  fs.writeFileSync(f('ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n');
  o(['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('server.crt'), '-days', '2', '-extfile', f('ext.cnf')]);
  return { dir, caCert: f('ca.crt'), serverCert: f('server.crt'), serverKey: f('server.key') };
}

export interface TokenService {
  realm: string;
  service: string;
  issuer: string;
  certFile: string;
  /** every token request: the scopes asked for and whether Basic credentials came with it */
  requests: Array<{ scopes: string[]; user: string | null }>;
  close(): Promise<void>;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64').replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');

/**
 * The token service of distribution's `auth: token`: checks Basic credentials against
 * users (none given: anyone), and grants what is asked for as an RS256 JWT whose x5c
 * names the signing certificate (which the registry trusts through rootcertbundle).
 */
export async function startTokenService(t: Teardown, dir: string, users: Record<string, string>, lifetimeS = 300): Promise<TokenService> {
  fs.mkdirSync(dir, { recursive: true });
  const key = path.join(dir, 'token.key');
  const certFile = path.join(dir, 'token.crt');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', certFile, '-days', '2', '-subj', '/CN=strata test token signer'], { stdio: 'pipe' });
  const der = new X509Certificate(fs.readFileSync(certFile)).raw;
  const keyPem = fs.readFileSync(key, 'utf8');
  const service = 'strata-test-registry';
  const issuer = 'strata-test-issuer';
  const requests: TokenService['requests'] = [];
  const server = http.createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    const scopes = u.searchParams.getAll('scope');
    const auth = req.headers.authorization ?? '';
    let user: string | null = null;
    if (auth.startsWith('Basic ')) {
      const [n, p] = Buffer.from(auth.slice(6), 'base64').toString().split(':');
      if (users[n] !== p) {
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end('{"details":"incorrect username or password"}');
        requests.push({ scopes, user: null });
        return;
      }
      user = n;
    } else if (Object.keys(users).length) {
      // anonymous: no access beyond nothing
    }
    requests.push({ scopes, user });
    const now = Math.floor(Date.now() / 1000);
    const access = scopes.map((s) => {
      const [type, ...rest] = s.split(':');
      const actions = rest.pop() ?? '';
      return { type, name: rest.join(':'), actions: user || Object.keys(users).length === 0 ? actions.split(',') : [] };
    });
    const header = { typ: 'JWT', alg: 'RS256', x5c: [der.toString('base64')] };
    const claims = { iss: issuer, sub: user ?? '', aud: service, exp: now + lifetimeS, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access };
    const signing = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const sig = createSign('RSA-SHA256').update(signing).sign(keyPem);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token: `${signing}.${b64url(sig)}`, expires_in: lifetimeS, issued_at: new Date().toISOString() }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  const close = () => new Promise<void>((r) => server.close(() => r()));
  t.teardown(close);
  return { realm: `http://127.0.0.1:${port}/token`, service, issuer, certFile, requests, close };
}

export interface RegistryOptions {
  users?: Record<string, string>; // htpasswd
  tls?: Pki;
  token?: TokenService;
  /** catalog page size limit (catalog.maxentries), to make _catalog paginate */
  catalogMaxEntries?: number;
}

export interface Registry {
  host: string; // 127.0.0.1:PORT
  port: number;
  dir: string;
  /** the registry's log so far (its access log names every request) */
  log(): string;
  /** request lines of the access log: "GET /v2/x/blobs/sha256:..." */
  requests(): string[];
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of running) c.kill('SIGKILL');
});

export async function startRegistry(t: Teardown, dir: string, o: RegistryOptions = {}): Promise<Registry> {
  fs.mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const lines = ['version: 0.1', 'log:', '  level: info', '  accesslog:', '    disabled: false', 'storage:', '  filesystem:', `    rootdirectory: ${path.join(dir, 'data')}`, '  delete:', '    enabled: true', 'http:', `  addr: 127.0.0.1:${port}`, `  secret: ${randomBytes(8).toString('hex')}`];
  if (o.tls) lines.push('  tls:', `    certificate: ${o.tls.serverCert}`, `    key: ${o.tls.serverKey}`);
  if (o.users) {
    const pw = path.join(dir, 'htpasswd');
    fs.writeFileSync(pw, '');
    for (const [u, p] of Object.entries(o.users)) execFileSync('htpasswd', ['-Bb', pw, u, p], { stdio: 'pipe' });
    lines.push('auth:', '  htpasswd:', '    realm: strata-test', `    path: ${pw}`);
  } else if (o.token) {
    lines.push('auth:', '  token:', `    realm: ${o.token.realm}`, `    service: ${o.token.service}`, `    issuer: ${o.token.issuer}`, `    rootcertbundle: ${o.token.certFile}`);
  }
  if (o.catalogMaxEntries) lines.push('catalog:', `  maxentries: ${o.catalogMaxEntries}`);
  const cfg = path.join(dir, 'config.yml');
  fs.writeFileSync(cfg, lines.join('\n') + '\n');
  const logFile = path.join(dir, 'registry.log');
  const fd = fs.openSync(logFile, 'w');
  const child = spawn('docker-registry', ['serve', cfg], { stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  running.add(child);
  let exited = false;
  child.once('exit', () => {
    exited = true;
    running.delete(child);
  });
  const stop = async () => {
    if (exited) return;
    const gone = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    const t2 = setTimeout(() => child.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(t2);
  };
  t.teardown(stop);
  // ready when it accepts connections (a loaded 2-core machine has taken over 20 s)
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited) throw new Error(`docker-registry exited: ${fs.readFileSync(logFile, 'utf8').slice(-2000)}`);
    const ok = await new Promise<boolean>((r) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        r(true);
      });
      s.on('error', () => r(false));
    });
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`docker-registry did not start listening on ${port} in 60 s: ${fs.readFileSync(logFile, 'utf8').slice(-500)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const log = () => fs.readFileSync(logFile, 'utf8');
  return {
    host: `127.0.0.1:${port}`,
    port,
    dir,
    log,
    requests: () => [...log().matchAll(/"([A-Z]+ \/v2\/[^ "]*) HTTP\/[\d.]+" (\d+)/g)].map((m) => `${m[1]} ${m[2]}`),
    stop,
  };
}

/** skopeo copy into or out of a registry (TLS unverified or plain http), with user:password if given. */
export function skopeoCopy(src: string, dst: string, creds?: string, extra: string[] = []): void {
  const a = ['copy', '--quiet', ...extra];
  if (src.startsWith('docker://')) a.push('--src-tls-verify=false', ...(creds ? ['--src-creds', creds] : []));
  if (dst.startsWith('docker://')) a.push('--dest-tls-verify=false', ...(creds ? ['--dest-creds', creds] : []));
  execFileSync('skopeo', [...a, src, dst], { stdio: 'pipe' });
}
