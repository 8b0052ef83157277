// Manifests from a registry: at most 4 MiB (containerd's limit), the digest computed
// from the bytes (and checked against the one asked for and the one the registry
// claims), the media type from the document and its Content-Type, which must agree.
import { MT } from '../image/sources';
import { sha256 } from '../image/digest';
import { RegistryClient } from './client';
import { readBytes } from './auth';
import { RegistryError } from './transport';

export const MANIFEST_LIMIT = 4 << 20;

const KNOWN = [MT.ociIndex, MT.dockerList, MT.ociManifest, MT.dockerManifest];
const SCHEMA1 = ['application/vnd.docker.distribution.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v1+prettyjws'];
export const ACCEPT = KNOWN.join(', ');

export interface Fetched {
  bytes: Buffer;
  digest: string;
  mediaType: string;
}

export const isIndex = (mt: string): boolean => mt === MT.ociIndex || mt === MT.dockerList;

const baseType = (ct: string | null): string => (ct ?? '').split(';')[0].trim().toLowerCase();

/** The media type a manifest has, from its mediaType field and the Content-Type it came with. */
export function manifestType(bytes: Buffer, contentType: string | null, what: string): string {
  const ct = baseType(contentType);
  type Doc = { schemaVersion?: unknown; mediaType?: unknown };
  let doc: Doc | null = null;
  try {
    doc = JSON.parse(bytes.toString('utf8')) as Doc | null;
  } catch {
    doc = null; // judged below
  }
  if (SCHEMA1.includes(ct) || doc?.schemaVersion === 1) {
    throw new RegistryError(`${what} is a Docker schema 1 manifest: that format is deprecated and strata does not pull it (push the image again with a current tool, which writes schema 2 or OCI)`, undefined, 'SCHEMA1');
  }
  if (!doc || typeof doc !== 'object') throw new RegistryError(`${what} is not JSON (Content-Type ${ct || 'none'})`, undefined, 'BAD_MANIFEST');
  const field = typeof doc.mediaType === 'string' ? doc.mediaType : null;
  if (field !== null && !KNOWN.includes(field)) throw new RegistryError(`${what} has unknown media type ${JSON.stringify(field)}`, undefined, 'BAD_MANIFEST');
  if (!KNOWN.includes(ct) && !(field && ct === 'application/json')) {
    throw new RegistryError(`${what} came with Content-Type ${JSON.stringify(ct || '(none)')}, which is not a manifest type`, undefined, 'BAD_MANIFEST');
  }
  if (field && KNOWN.includes(ct) && field !== ct) throw new RegistryError(`${what} came with Content-Type ${ct} but says it is ${field}`, undefined, 'BAD_MANIFEST');
  return field ?? ct;
}

/** GET /v2/REPO/manifests/REF, verified. */
export async function getManifest(c: RegistryClient, repo: string, ref: string, scopes: string[], what: string): Promise<Fetched> {
  const res = await c.request(`/v2/${repo}/manifests/${ref}`, { scopes, headers: { accept: ACCEPT }, what });
  if (res.status !== 200) await c.fail(res, what);
  let bytes: Buffer;
  try {
    bytes = await readBytes(res, MANIFEST_LIMIT, what);
  } catch (e) {
    if ((e as RegistryError).code === 'TOO_LARGE') throw new RegistryError(`${what}: the manifest is larger than 4 MiB, the most strata (like containerd) accepts`, undefined, 'TOO_LARGE');
    throw e;
  }
  const digest = sha256(bytes);
  if (ref.startsWith('sha256:') && digest !== ref) throw new RegistryError(`${what}: the registry answered with content that hashes to ${digest}`, undefined, 'DIGEST');
  const claimed = res.headers.get('docker-content-digest');
  if (claimed && claimed.startsWith('sha256:') && claimed !== digest) throw new RegistryError(`${what}: the registry says its digest is ${claimed}, but the content hashes to ${digest}`, undefined, 'DIGEST');
  return { bytes, digest, mediaType: manifestType(bytes, res.headers.get('content-type'), what) };
}
