// Docker's naming rules for local image references: "ubuntu" means "ubuntu:latest",
// "docker.io/library/ubuntu" is shown as "ubuntu", a registry host may carry a port.

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?$/;
const TAG = /^[\w][\w.-]{0,127}$/;

export interface Reference {
  repo: string;
  tag: string;
}

export function parseReference(s: string, defaultTag = 'latest'): Reference {
  if (s.includes('@')) throw new Error(`invalid reference ${JSON.stringify(s)}: digests are not supported here`);
  let repo = s;
  let tag = defaultTag;
  const slash = s.lastIndexOf('/');
  const colon = s.lastIndexOf(':');
  if (colon > slash) {
    repo = s.slice(0, colon);
    tag = s.slice(colon + 1);
  }
  if (!TAG.test(tag)) throw new Error(`invalid tag ${JSON.stringify(tag)} in ${JSON.stringify(s)}`);
  const parts = repo.split('/');
  if (parts.length > 1 && (parts[0].includes('.') || parts[0].includes(':') || parts[0] === 'localhost')) {
    if (!DOMAIN.test(parts[0])) throw new Error(`invalid registry host in ${JSON.stringify(s)}`);
    for (const c of parts.slice(1)) if (!COMPONENT.test(c)) throw new Error(`invalid repository name ${JSON.stringify(repo)} (lowercase letters, digits and separators only)`);
  } else {
    for (const c of parts) if (!COMPONENT.test(c)) throw new Error(`invalid repository name ${JSON.stringify(repo)} (lowercase letters, digits and separators only)`);
  }
  if (repo.length > 255) throw new Error(`repository name too long: ${JSON.stringify(repo)}`);
  // docker shows Docker Hub names in their short form
  if (repo.startsWith('docker.io/')) repo = repo.slice('docker.io/'.length);
  if (repo.startsWith('index.docker.io/')) repo = repo.slice('index.docker.io/'.length);
  if (repo.startsWith('library/')) repo = repo.slice('library/'.length);
  return { repo, tag };
}

export function formatReference(r: Reference): string {
  return `${r.repo}:${r.tag}`;
}

export function normalizeReference(s: string): string {
  return formatReference(parseReference(s));
}
