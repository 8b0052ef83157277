// Credentials and TLS against a real registry: htpasswd users (wrong then right
// password, pull and push with auth, logout), Basic over TLS with the CA in certs.d,
// distribution's Bearer token flow with a token service served here, credential helpers.
// Serial: the servers here live in this process, and another test's spawnSync would
// freeze them mid-answer.
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FIXTURES, mkTmp, strata } from './image-helpers';
import { makePki, skopeoCopy, startRegistry, startTokenService, strataAsync } from './helpers/registry';

const PASS = 's3cret-Pa55';

test.serial('htpasswd: login checks the password before storing it; pull and push need it; logout removes it', async (t) => {
  const d = mkTmp(t);
  const reg = await startRegistry(t, path.join(d, 'reg'), { users: { alice: PASS } });
  skopeoCopy(`oci:${FIXTURES}/oci:base`, `docker://${reg.host}/private/base:1`, `alice:${PASS}`);
  const root = path.join(d, 'store');
  const auth = path.join(d, 'home', '.docker', 'config.json');
  const env = { DOCKER_CONFIG: path.dirname(auth) };

  const anon = await strataAsync(root, ['pull', `${reg.host}/private/base:1`], { env });
  t.is(anon.code, 1);
  t.regex(anon.stderr, /^strata: manifest for .*: unauthorized: authentication required \(log in first: strata login 127\.0\.0\.1:\d+\)\n$/);

  const wrong = await strataAsync(root, ['login', '-u', 'alice', '--password-stdin', reg.host], { env, input: 'not-it\n' });
  t.is(wrong.code, 1);
  t.is(wrong.stderr, 'strata: unauthorized: incorrect username or password\n');
  t.false(fs.existsSync(auth), 'nothing stored after a failed login');

  const ok = await strataAsync(root, ['login', '-u', 'alice', '--password-stdin', reg.host], { env, input: PASS + '\n' });
  t.is(ok.code, 0, ok.stderr);
  t.is(ok.stdout, 'Login Succeeded\n');
  t.regex(ok.stderr, new RegExp(`^WARNING! Your password will be stored unencrypted in ${auth.replace(/[.]/g, '\\.')}\\.\n`));
  t.is(fs.statSync(auth).mode & 0o777, 0o600);
  const cfg = JSON.parse(fs.readFileSync(auth, 'utf8')) as { auths: Record<string, { auth: string }> };
  t.is(Buffer.from(cfg.auths[reg.host].auth, 'base64').toString(), `alice:${PASS}`);

  const p = await strataAsync(root, ['pull', `${reg.host}/private/base:1`], { env });
  t.is(p.code, 0, p.stderr);
  t.is(strata(root, ['tag', `${reg.host}/private/base:1`, `${reg.host}/private/copy:1`]).code, 0);
  const pu = await strataAsync(root, ['push', `${reg.host}/private/copy:1`], { env });
  t.is(pu.code, 0, pu.stderr);
  t.regex(pu.stdout, /Mounted from private\/base/);
  for (const r of [anon, wrong, ok, p, pu]) t.false((r.stdout + r.stderr).includes(PASS), 'the password is never printed');

  const viaP = await strataAsync(root, ['login', '-u', 'alice', '-p', PASS, reg.host], { env: { REGISTRY_AUTH_FILE: path.join(d, 'podman-auth.json') } });
  t.is(viaP.code, 0, viaP.stderr);
  t.regex(viaP.stderr, /^WARNING! Using --password via the CLI is insecure\. Use --password-stdin\.\n/);
  t.true(fs.existsSync(path.join(d, 'podman-auth.json')), 'REGISTRY_AUTH_FILE is where podman keeps them');
  const af = await strataAsync(root, ['pull', '--authfile', path.join(d, 'podman-auth.json'), `${reg.host}/private/copy:1`]);
  t.is(af.code, 0, af.stderr);

  const out = await strataAsync(root, ['logout', reg.host], { env });
  t.is(out.code, 0);
  t.is(out.stdout, `Removing login credentials for ${reg.host}\n`);
  t.deepEqual((JSON.parse(fs.readFileSync(auth, 'utf8')) as { auths: object }).auths, {});
  const again = await strataAsync(root, ['logout', reg.host], { env });
  t.is(again.stdout, `Not logged in to ${reg.host}\n`);
  const after = await strataAsync(root, ['push', `${reg.host}/private/copy:1`], { env });
  t.is(after.code, 1);
  t.regex(after.stderr, /unauthorized/);
  const nontty = await strataAsync(root, ['login', reg.host], { env });
  t.is(nontty.code, 1);
  t.is(nontty.stderr, 'strata: Cannot perform an interactive login from a non TTY device\n');
});

test.serial('TLS: refused without the CA, accepted with it in certs.d, or with --tls-verify=false', async (t) => {
  const d = mkTmp(t);
  const pki = makePki(path.join(d, 'pki'));
  const reg = await startRegistry(t, path.join(d, 'reg'), { tls: pki, users: { bob: PASS } });
  skopeoCopy(`oci:${FIXTURES}/oci:child`, `docker://${reg.host}/tls/child:1`, `bob:${PASS}`);
  const root = path.join(d, 'store');
  const certs = path.join(d, 'certs.d');
  const env = { DOCKER_CONFIG: path.join(d, 'docker'), STRATA_CERTS_DIRS: certs };

  const refused = await strataAsync(root, ['login', '-u', 'bob', '--password-stdin', reg.host], { env, input: PASS });
  t.is(refused.code, 1);
  t.regex(refused.stderr, /^strata: 127\.0\.0\.1:\d+: TLS certificate not trusted \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\); put the registry's CA in certs\.d/);

  fs.mkdirSync(path.join(certs, reg.host), { recursive: true });
  fs.copyFileSync(pki.caCert, path.join(certs, reg.host, 'ca.crt'));
  const ok = await strataAsync(root, ['login', '-u', 'bob', '--password-stdin', reg.host], { env, input: PASS });
  t.is(ok.code, 0, ok.stderr);
  const p = await strataAsync(root, ['pull', `${reg.host}/tls/child:1`], { env });
  t.is(p.code, 0, p.stderr);
  t.is(strata(root, ['tag', `${reg.host}/tls/child:1`, `${reg.host}/tls/pushed:1`]).code, 0);
  const pu = await strataAsync(root, ['push', `${reg.host}/tls/pushed:1`], { env });
  t.is(pu.code, 0, pu.stderr);
  // uploads (not mounts) over TLS: a store that knows no repository of this registry
  const root3 = path.join(d, 'store3');
  t.is(strata(root3, ['load', path.join(FIXTURES, 'oci')]).code, 0);
  t.is(strata(root3, ['tag', 'base', `${reg.host}/tls/uploaded:1`]).code, 0);
  const up = await strataAsync(root3, ['push', `${reg.host}/tls/uploaded:1`], { env });
  t.is(up.code, 0, up.stderr);
  t.is((up.stdout.match(/: Pushed\n/g) ?? []).length, 1, up.stdout);
  t.true(reg.requests().some((q) => /^PATCH \/v2\/tls\/uploaded\/blobs\/uploads\/\S+ 202$/.test(q)), 'the 30 MB layer went up in a PATCH over https');

  const root2 = path.join(d, 'store2');
  const env2 = { ...env, STRATA_CERTS_DIRS: path.join(d, 'empty') };
  const no = await strataAsync(root2, ['pull', `${reg.host}/tls/child:1`], { env: env2 });
  t.is(no.code, 1);
  t.regex(no.stderr, /TLS certificate not trusted/);
  const insecure = await strataAsync(root2, ['pull', '--tls-verify=false', `${reg.host}/tls/child:1`], { env: env2 });
  t.is(insecure.code, 0, insecure.stderr);
  fs.writeFileSync(path.join(root2, 'config.json'), JSON.stringify({ 'insecure-registries': ['127.0.0.0/8'] }));
  const listed = await strataAsync(root2, ['pull', `${reg.host}/tls/pushed:1`], { env: env2 });
  t.is(listed.code, 0, listed.stderr);
  const badflag = await strataAsync(root2, ['pull', '--tls-verify=maybe', `${reg.host}/tls/child:1`], { env: env2 });
  t.is(badflag.code, 1);
  t.regex(badflag.stderr, /expected true or false/);
});

test.serial('Bearer token flow (auth: token): login, pull and push with one token per scope, anonymous refused', async (t) => {
  const d = mkTmp(t);
  const tok = await startTokenService(t, path.join(d, 'token'), { carol: PASS });
  const reg = await startRegistry(t, path.join(d, 'reg'), { token: tok });
  const root = path.join(d, 'store');
  const env = { DOCKER_CONFIG: path.join(d, 'docker') };
  t.is(strata(root, ['load', path.join(FIXTURES, 'oci')]).code, 0);
  t.is(strata(root, ['tag', 'child', `${reg.host}/ns/child:1`]).code, 0);

  const anon = await strataAsync(root, ['push', `${reg.host}/ns/child:1`], { env });
  t.is(anon.code, 1);
  t.regex(anon.stderr, /unauthorized|denied/);

  const wrong = await strataAsync(root, ['login', '-u', 'carol', '--password-stdin', reg.host], { env, input: 'nope' });
  t.is(wrong.code, 1);
  t.is(wrong.stderr, 'strata: unauthorized: incorrect username or password\n');
  const ok = await strataAsync(root, ['login', '-u', 'carol', '--password-stdin', reg.host], { env, input: PASS });
  t.is(ok.code, 0, ok.stderr);

  tok.requests.length = 0;
  const pu = await strataAsync(root, ['push', `${reg.host}/ns/child:1`], { env });
  t.is(pu.code, 0, pu.stderr);
  t.deepEqual(tok.requests, [{ scopes: ['repository:ns/child:pull,push'], user: 'carol' }], 'one token for the whole push');

  tok.requests.length = 0;
  const root2 = path.join(d, 'store2');
  const p = await strataAsync(root2, ['pull', `${reg.host}/ns/child:1`], { env });
  t.is(p.code, 0, p.stderr);
  t.deepEqual(tok.requests, [{ scopes: ['repository:ns/child:pull'], user: 'carol' }], 'one token reused for manifest, config and layers');
  for (const r of [wrong, ok, pu, p]) t.false((r.stdout + r.stderr).includes(PASS));
});

test.serial('credential helpers: credsStore stores and finds the password outside the auth file', async (t) => {
  const d = mkTmp(t);
  const reg = await startRegistry(t, path.join(d, 'reg'), { users: { dave: PASS } });
  skopeoCopy(`oci:${FIXTURES}/oci:base`, `docker://${reg.host}/h/base:1`, `dave:${PASS}`);
  const bin = path.join(d, 'bin');
  fs.mkdirSync(bin);
  const vault = path.join(d, 'vault.json');
  // a docker-credential-* helper keeping its secrets in a file of its own
  fs.writeFileSync(
    path.join(bin, 'docker-credential-testvault'),
    `#!${process.execPath}
const fs = require('fs');
const f = ${JSON.stringify(vault)};
const db = fs.existsSync(f) ? JSON.parse(fs.readFileSync(f, 'utf8')) : {};
const input = fs.readFileSync(0, 'utf8').trim();
const action = process.argv[2];
if (action === 'store') { const j = JSON.parse(input); db[j.ServerURL] = j; fs.writeFileSync(f, JSON.stringify(db)); }
else if (action === 'get') { if (!db[input]) { process.stdout.write('credentials not found in native keychain'); process.exit(1); } process.stdout.write(JSON.stringify(db[input])); }
else if (action === 'erase') { if (!db[input]) { process.stdout.write('credentials not found in native keychain'); process.exit(1); } delete db[input]; fs.writeFileSync(f, JSON.stringify(db)); }
`,
    { mode: 0o755 },
  );
  const dockerDir = path.join(d, 'docker');
  fs.mkdirSync(dockerDir);
  fs.writeFileSync(path.join(dockerDir, 'config.json'), JSON.stringify({ credsStore: 'testvault', other: 'kept' }));
  const env = { DOCKER_CONFIG: dockerDir, PATH: `${bin}:${process.env.PATH ?? ''}` };
  const root = path.join(d, 'store');
  const ok = await strataAsync(root, ['login', '-u', 'dave', '--password-stdin', reg.host], { env, input: PASS });
  t.is(ok.code, 0, ok.stderr);
  t.notRegex(ok.stderr, /unencrypted/, 'no warning when a helper keeps the password');
  const file = fs.readFileSync(path.join(dockerDir, 'config.json'), 'utf8');
  t.false(file.includes(Buffer.from(`dave:${PASS}`).toString('base64')) || file.includes(PASS), 'no secret in config.json');
  t.is((JSON.parse(file) as { other: string }).other, 'kept');
  t.is((JSON.parse(fs.readFileSync(vault, 'utf8')) as Record<string, { Secret: string }>)[reg.host].Secret, PASS);
  const p = await strataAsync(root, ['pull', `${reg.host}/h/base:1`], { env });
  t.is(p.code, 0, p.stderr);
  const out = await strataAsync(root, ['logout', reg.host], { env });
  t.is(out.stdout, `Removing login credentials for ${reg.host}\n`);
  t.deepEqual(JSON.parse(fs.readFileSync(vault, 'utf8')), {});
  fs.writeFileSync(path.join(dockerDir, 'config.json'), JSON.stringify({ credHelpers: { [reg.host]: 'absent' } }));
  const missing = await strataAsync(root, ['pull', `${reg.host}/h/base:1`], { env });
  t.is(missing.code, 1);
  t.is(missing.stderr, 'strata: credential helper docker-credential-absent is not installed (named in the auth file)\n');
});
