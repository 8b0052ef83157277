// The registry client's small rules, one by one: docker's reference grammar, challenge
// parsing, which hosts may use plain http, credential keys, manifest media types,
// platform choice.
import test from 'ava';
import { parseRemoteReference, localRepo, remoteString } from '../src/image/reference';
import { parseChallenges } from '../src/registry/auth';
import { isLoopback, listedInsecure, transportPolicy } from '../src/registry/tls';
import { credentialKey, serverHost } from '../src/registry/credentials';
import { manifestType } from '../src/registry/manifest';
import { choosePlatform, parsePlatform } from '../src/image/sources';
import { nextLink } from '../src/registry/client';

const D = 'sha256:' + 'ab'.repeat(32);

test('remote references follow docker', (t) => {
  t.deepEqual(parseRemoteReference('ubuntu'), { domain: 'docker.io', path: 'library/ubuntu', tag: null, digest: null });
  t.deepEqual(parseRemoteReference('user/repo:1.0'), { domain: 'docker.io', path: 'user/repo', tag: '1.0', digest: null });
  t.deepEqual(parseRemoteReference('localhost:5000/ns/app:t'), { domain: 'localhost:5000', path: 'ns/app', tag: 't', digest: null });
  t.deepEqual(parseRemoteReference(`quay.io/a/b@${D}`), { domain: 'quay.io', path: 'a/b', tag: null, digest: D });
  t.deepEqual(parseRemoteReference(`h:1/a:t@${D}`), { domain: 'h:1', path: 'a', tag: 't', digest: D });
  t.deepEqual(parseRemoteReference('[::1]:5000/app'), { domain: '[::1]:5000', path: 'app', tag: null, digest: null });
  t.deepEqual(parseRemoteReference('index.docker.io/nginx'), { domain: 'docker.io', path: 'library/nginx', tag: null, digest: null });
  t.deepEqual(parseRemoteReference('Registry/app'), { domain: 'Registry', path: 'app', tag: null, digest: null }, 'uppercase first component is a host');
  t.is(localRepo(parseRemoteReference('docker.io/library/ubuntu')), 'ubuntu');
  t.is(localRepo(parseRemoteReference('127.0.0.1:5000/app')), '127.0.0.1:5000/app');
  t.is(remoteString(parseRemoteReference('ubuntu:22.04')), 'docker.io/library/ubuntu:22.04');
  for (const bad of ['', 'UPPER', 'a:b:c', 'a@sha256:12', 'a@md5:' + 'a'.repeat(32), 'a/:t', 'a b']) t.throws(() => parseRemoteReference(bad), undefined, bad);
});

test('WWW-Authenticate challenges', (t) => {
  t.deepEqual(parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/ubuntu:pull"'), [
    { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/ubuntu:pull' } },
  ]);
  t.deepEqual(parseChallenges('Basic realm="Registry Realm", Bearer realm="x", error="insufficient_scope"'), [
    { scheme: 'basic', params: { realm: 'Registry Realm' } },
    { scheme: 'bearer', params: { realm: 'x', error: 'insufficient_scope' } },
  ]);
  t.deepEqual(parseChallenges('Bearer realm="a\\"b"'), [{ scheme: 'bearer', params: { realm: 'a"b' } }]);
  t.deepEqual(parseChallenges(null), []);
});

test('plain http only for loopback and insecure registries', (t) => {
  for (const h of ['127.0.0.1:5000', '127.9.9.9', 'localhost:80', '[::1]:5000', 'x.localhost']) t.true(isLoopback(h), h);
  for (const h of ['10.0.0.1:5000', 'registry.example.com', '[::2]:1', '128.0.0.1']) t.false(isLoopback(h), h);
  t.true(listedInsecure('10.1.2.3:5000', ['10.0.0.0/8']));
  t.true(listedInsecure('reg:5000', ['reg:5000']));
  t.false(listedInsecure('11.1.2.3:5000', ['10.0.0.0/8']));
  const env = process.env.STRATA_CERTS_DIRS;
  process.env.STRATA_CERTS_DIRS = '/nonexistent';
  t.like(transportPolicy('127.0.0.1:5000', {}), { verify: true, allowHttp: true });
  t.like(transportPolicy('reg.example:443', {}), { verify: true, allowHttp: false });
  t.like(transportPolicy('reg.example:443', { tlsVerify: false }), { verify: false, allowHttp: true });
  t.like(transportPolicy('10.0.0.5', { insecureRegistries: ['10.0.0.0/24'] }), { verify: false, allowHttp: true });
  if (env === undefined) delete process.env.STRATA_CERTS_DIRS;
  else process.env.STRATA_CERTS_DIRS = env;
});

test('credential keys as docker writes them', (t) => {
  t.is(credentialKey('docker.io'), 'https://index.docker.io/v1/');
  t.is(credentialKey('registry-1.docker.io'), 'https://index.docker.io/v1/');
  t.is(credentialKey('127.0.0.1:5000'), '127.0.0.1:5000');
  t.is(serverHost('https://my.reg:5000/v2/'), 'my.reg:5000');
});

test('manifest media types: body and Content-Type must agree', (t) => {
  const oci = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json' }));
  const bare = Buffer.from(JSON.stringify({ schemaVersion: 2 }));
  t.is(manifestType(oci, 'application/vnd.oci.image.manifest.v1+json', 'm'), 'application/vnd.oci.image.manifest.v1+json');
  t.is(manifestType(oci, 'application/json; charset=utf-8', 'm'), 'application/vnd.oci.image.manifest.v1+json');
  t.is(manifestType(bare, 'application/vnd.docker.distribution.manifest.v2+json', 'm'), 'application/vnd.docker.distribution.manifest.v2+json');
  t.throws(() => manifestType(oci, 'application/vnd.docker.distribution.manifest.v2+json', 'm'), { message: /says it is/ });
  t.throws(() => manifestType(bare, 'application/json', 'm'), { message: /not a manifest type/ });
  t.throws(() => manifestType(Buffer.from('{"schemaVersion":1}'), 'application/json', 'm'), { message: /schema 1/ });
  t.throws(() => manifestType(Buffer.from('<html>'), 'text/html', 'm'), { message: /not JSON/ });
});

test('platform choice', (t) => {
  const ms = [
    { digest: D, size: 1, platform: { os: 'linux', architecture: 'amd64' } },
    { digest: 'sha256:' + '01'.repeat(32), size: 1, platform: { os: 'linux', architecture: 'arm64' } },
    { digest: 'sha256:' + '02'.repeat(32), size: 1, platform: { os: 'linux', architecture: 'arm', variant: 'v7' } },
    { digest: 'sha256:' + '03'.repeat(32), size: 1, platform: { os: 'unknown', architecture: 'unknown' } },
  ];
  t.is(choosePlatform(ms, parsePlatform('linux/amd64'), 'i').digest, D);
  t.is(choosePlatform(ms, parsePlatform('linux/arm64/v8'), 'i', true).digest, 'sha256:' + '01'.repeat(32), 'arm64 without a variant is v8');
  t.throws(() => choosePlatform(ms, parsePlatform('linux/arm/v6'), 'i', true), { message: 'no image for linux/arm/v6 in i; it has linux/amd64, linux/arm64, linux/arm/v7, unknown/unknown' });
  t.throws(() => parsePlatform('linux/amd64/v2/x'), { message: /invalid platform/ });
});

test('Link pagination', (t) => {
  t.is(nextLink('</v2/_catalog?last=b&n=2>; rel="next"'), '/v2/_catalog?last=b&n=2');
  t.is(nextLink('<https://x/a>; rel="prev", <https://x/b>; rel=next'), 'https://x/b');
  t.is(nextLink(null), null);
});
