// Docker's naming rules. Local names: "ubuntu" means "ubuntu:latest",
// "docker.io/library/ubuntu" is shown as "ubuntu", a registry host may carry a port.
// Remote names (pull/push): the first component is a registry host when it has a dot, a
// colon or uppercase letters, or is "localhost" (or a bracketed IPv6 address); otherwise
// the image is on Docker Hub, where one-component names live under "library/".

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const LABEL = '[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?';
const DOMAIN = new RegExp(`^(?:${LABEL}(?:\\.${LABEL})*|\\[[0-9a-fA-F:.]+\\])(?::[0-9]{1,5})?$`);
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

export const DOCKER_HUB = 'docker.io';

export interface Reference {
  repo: string;
  tag: string;
}

export function looksLikeDomain(first: string): boolean {
  return first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('[') || first !== first.toLowerCase();
}

/** Splits "NAME[:TAG]" (no digest) at the tag's colon, not a port's. */
function splitTag(s: string): { name: string; tag: string | null } {
  const slash = s.lastIndexOf('/');
  const colon = s.lastIndexOf(':');
  // "[::1]:5000/x" has colons inside the brackets of its first component
  if (colon > slash && !(slash < 0 && s.startsWith('['))) return { name: s.slice(0, colon), tag: s.slice(colon + 1) };
  return { name: s, tag: null };
}

function checkName(repo: string, s: string): void {
  const parts = repo.split('/');
  if (parts.length > 1 && looksLikeDomain(parts[0])) {
    if (!DOMAIN.test(parts[0])) throw new Error(`invalid registry host in ${JSON.stringify(s)}`);
    for (const c of parts.slice(1)) if (!COMPONENT.test(c)) throw new Error(`invalid repository name ${JSON.stringify(repo)} (lowercase letters, digits and separators only)`);
  } else {
    for (const c of parts) if (!COMPONENT.test(c)) throw new Error(`invalid repository name ${JSON.stringify(repo)} (lowercase letters, digits and separators only)`);
  }
  if (repo.length > 255) throw new Error(`repository name too long: ${JSON.stringify(repo)}`);
}

export function parseReference(s: string, defaultTag = 'latest'): Reference {
  if (s.includes('@')) throw new Error(`invalid reference ${JSON.stringify(s)}: digests are not supported here`);
  const { name, tag: t } = splitTag(s);
  const tag = t ?? defaultTag;
  if (!TAG.test(tag)) throw new Error(`invalid tag ${JSON.stringify(tag)} in ${JSON.stringify(s)}`);
  checkName(name, s);
  return { repo: familiarName(name), tag };
}

/** docker shows Docker Hub names in their short form */
export function familiarName(repo: string): string {
  let r = repo;
  if (r.startsWith('docker.io/')) r = r.slice('docker.io/'.length);
  else if (r.startsWith('index.docker.io/')) r = r.slice('index.docker.io/'.length);
  if (r.startsWith('library/') && r.split('/').length === 2) r = r.slice('library/'.length);
  return r;
}

export function formatReference(r: Reference): string {
  return `${r.repo}:${r.tag}`;
}

export function normalizeReference(s: string): string {
  return formatReference(parseReference(s));
}

/** A reference to an image in a registry. */
export interface RemoteReference {
  /** registry as named: "docker.io", "127.0.0.1:5000", "[::1]:5000", "quay.io" */
  domain: string;
  /** repository inside it: "library/ubuntu", "ns/app" */
  path: string;
  tag: string | null;
  digest: string | null;
}

export function parseRemoteReference(s: string): RemoteReference {
  if (!s) throw new Error('invalid reference: empty name');
  let rest = s;
  let digest: string | null = null;
  const at = s.indexOf('@');
  if (at >= 0) {
    digest = s.slice(at + 1);
    rest = s.slice(0, at);
    if (!DIGEST.test(digest)) throw new Error(`invalid digest ${JSON.stringify(digest)} in ${JSON.stringify(s)}`);
    if (!digest.startsWith('sha256:')) throw new Error(`unsupported digest algorithm in ${JSON.stringify(s)} (strata verifies sha256 only)`);
    if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw new Error(`invalid sha256 digest ${JSON.stringify(digest)} in ${JSON.stringify(s)}`);
  }
  const { name, tag } = splitTag(rest);
  if (tag !== null && !TAG.test(tag)) throw new Error(`invalid tag ${JSON.stringify(tag)} in ${JSON.stringify(s)}`);
  checkName(name, s);
  const slash = name.indexOf('/');
  let domain = DOCKER_HUB;
  let path = name;
  if (slash > 0 && looksLikeDomain(name.slice(0, slash))) {
    domain = name.slice(0, slash);
    path = name.slice(slash + 1);
  }
  if (domain === 'index.docker.io' || domain === 'registry-1.docker.io') domain = DOCKER_HUB;
  if (domain === DOCKER_HUB && !path.includes('/')) path = 'library/' + path;
  return { domain, path, tag, digest };
}

/** The name an image from a registry gets in the store: "ubuntu", "127.0.0.1:5000/app". */
export function localRepo(r: { domain: string; path: string }): string {
  return familiarName(`${r.domain}/${r.path}`);
}

/** docker.io/library/ubuntu:latest, host:port/ns/app@sha256:... */
export function remoteString(r: RemoteReference): string {
  return `${r.domain}/${r.path}${r.tag !== null ? ':' + r.tag : ''}${r.digest !== null ? '@' + r.digest : ''}`;
}
