// The store's own settings, ROOT/config.json, with the keys docker's daemon.json uses:
//   { "insecure-registries": ["myregistry:5000", "10.0.0.0/8"],
//     "registry-mirrors": ["https://mirror.example.com"] }
// insecure-registries: https without verification, then plain http (as --tls-verify=false).
// registry-mirrors: tried in order for Docker Hub images before Docker Hub itself.
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface StoreConfig {
  insecureRegistries: string[];
  registryMirrors: string[];
}

export function configFile(root: string): string {
  return path.join(root, 'config.json');
}

export function readStoreConfig(root: string): StoreConfig {
  const f = configFile(root);
  let text: string;
  try {
    text = fs.readFileSync(f, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { insecureRegistries: [], registryMirrors: [] };
    throw new Error(`${f}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(text) as Record<string, unknown>;
    if (!j || typeof j !== 'object' || Array.isArray(j)) throw new Error('not an object');
  } catch (e) {
    throw new Error(`${f} is not valid JSON (${(e as Error).message})`);
  }
  const list = (k: string): string[] => {
    const v = j[k];
    if (v === undefined) return [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new Error(`${f}: "${k}" must be a list of strings`);
    return v as string[];
  };
  const mirrors = list('registry-mirrors');
  for (const m of mirrors) {
    let u: URL;
    try {
      u = new URL(m);
    } catch {
      throw new Error(`${f}: registry mirror ${JSON.stringify(m)} is not a URL (https://host[:port])`);
    }
    if ((u.protocol !== 'https:' && u.protocol !== 'http:') || (u.pathname !== '/' && u.pathname !== '')) throw new Error(`${f}: registry mirror ${JSON.stringify(m)} must be http(s)://host[:port] without a path`);
  }
  return { insecureRegistries: list('insecure-registries'), registryMirrors: mirrors };
}
