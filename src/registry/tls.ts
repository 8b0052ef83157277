// How strata reaches a registry: https with the system's CAs plus the registry's own
// (certs.d, as docker and podman read them), or plain http where that is allowed.
//   - certificates are verified unless --tls-verify=false or the registry is listed in
//     the store's insecure-registries (then https is tried unverified, then http);
//   - a registry on a loopback address (127.0.0.0/8, ::1, localhost) may answer plain
//     http, as docker allows; an https answer is still verified;
//   - anything else: verified https only.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { isIP } from 'node:net';

/** Where per-registry CAs live; STRATA_CERTS_DIRS (colon-separated) replaces the defaults. */
export function certsDirs(): string[] {
  const env = process.env.STRATA_CERTS_DIRS;
  if (env !== undefined) return env.split(':').filter(Boolean);
  return ['/etc/containers/certs.d', '/etc/docker/certs.d'];
}

export interface HostTls {
  /** extra CAs (PEM), added to the system's */
  ca: string[];
  /** client certificate and key (HOST/client.cert + client.key) */
  cert?: string;
  key?: string;
  /** the files read, for error messages */
  files: string[];
}

/** certs.d/HOST[:PORT]/: *.crt are CAs, NAME.cert + NAME.key a client certificate. */
export function hostTls(host: string): HostTls {
  const out: HostTls = { ca: [], files: [] };
  for (const d of certsDirs()) {
    const dir = path.join(d, host);
    let names: string[];
    try {
      names = fs.readdirSync(dir).sort();
    } catch {
      continue;
    }
    for (const n of names) {
      const f = path.join(dir, n);
      if (n.endsWith('.crt')) {
        out.ca.push(fs.readFileSync(f, 'utf8'));
        out.files.push(f);
      } else if (n.endsWith('.cert') && !out.cert) {
        const key = path.join(dir, n.slice(0, -5) + '.key');
        if (!fs.existsSync(key)) throw new Error(`${f}: client certificate without ${path.basename(key)}`);
        out.cert = fs.readFileSync(f, 'utf8');
        out.key = fs.readFileSync(key, 'utf8');
        out.files.push(f);
      }
    }
  }
  return out;
}

/** "127.0.0.1:5000" -> "127.0.0.1", "[::1]:5000" -> "::1", "localhost" -> "localhost" */
export function hostName(host: string): string {
  if (host.startsWith('[')) return host.slice(1, host.indexOf(']'));
  const c = host.lastIndexOf(':');
  return c >= 0 ? host.slice(0, c) : host;
}

export function isLoopback(host: string): boolean {
  const h = hostName(host).toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || /^(0{0,4}:){7}0{0,3}1$/.test(h) || h === '::ffff:127.0.0.1';
  return false;
}

function ipv4ToInt(a: string): number {
  return a.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}

/** insecure-registries entries: "host[:port]" or an IPv4 CIDR such as "10.0.0.0/8". */
export function listedInsecure(host: string, list: readonly string[]): boolean {
  const h = hostName(host);
  for (const e of list) {
    if (e === host || e === h) return true;
    const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d{1,2})$/.exec(e);
    if (m && isIP(h) === 4) {
      const bits = Number(m[2]);
      const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
      if (((ipv4ToInt(h) & mask) >>> 0) === ((ipv4ToInt(m[1]) & mask) >>> 0)) return true;
    }
  }
  return false;
}

export interface TransportPolicy {
  /** verify https certificates */
  verify: boolean;
  /** fall back to plain http when https cannot be spoken */
  allowHttp: boolean;
  tls: HostTls;
}

export function transportPolicy(host: string, o: { tlsVerify?: boolean; insecureRegistries?: readonly string[] }): TransportPolicy {
  const insecure = o.tlsVerify === false || listedInsecure(host, o.insecureRegistries ?? []);
  return { verify: !insecure, allowHttp: insecure || isLoopback(host), tls: hostTls(host) };
}

/** Node's CA list replaces the system roots, so the registry's CAs are added to them. */
export function caBundle(t: HostTls): string[] | undefined {
  return t.ca.length ? [...tls.rootCertificates, ...t.ca] : undefined;
}

const CERT_ERRORS = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'HOSTNAME_MISMATCH',
]);

/** A certificate the client refused (never a reason to fall back to http). */
export function isCertError(code: string | undefined): boolean {
  return code !== undefined && CERT_ERRORS.has(code);
}
