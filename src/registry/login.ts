// strata login/logout: credentials are tried against the registry (docker's check) and
// only then stored.
import { DOCKER_HUB } from '../image/reference';
import { ClientOptions, RegistryClient } from './client';
import { authFile, credentialKey, Credentials, eraseCredentials, serverHost, storeCredentials } from './credentials';

export function loginDomain(server: string | undefined): string {
  if (!server) return DOCKER_HUB;
  const h = serverHost(server);
  if (!h) throw new Error(`invalid registry ${JSON.stringify(server)}`);
  return h;
}

export async function login(server: string | undefined, cr: Credentials, o: ClientOptions): Promise<{ key: string; file: string; helper: string | null }> {
  const domain = loginDomain(server);
  const c = new RegistryClient(domain, { ...o, credentials: cr });
  await c.checkLogin();
  const file = authFile(o);
  const helper = storeCredentials(file, domain, cr);
  return { key: credentialKey(domain), file, helper };
}

export function logout(server: string | undefined, o: { authfile?: string }): { key: string; removed: boolean } {
  const domain = loginDomain(server);
  const removed = eraseCredentials(authFile(o), domain);
  return { key: domain === DOCKER_HUB ? credentialKey(domain) : domain, removed };
}
