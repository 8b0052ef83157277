// strata search: a registry's catalog (paginated through Link), filtered by the term, in
// docker's columns; Docker Hub's answer format (parsed offline: no network here).
import test from 'ava';
import * as path from 'node:path';
import { makeTar, mkTmp, writeOciLayout } from './image-helpers';
import { skopeoCopy, startRegistry, strataAsync } from './helpers/registry';
import { parseHubResults, searchTarget } from '../src/registry/search';

test('search a registry through its paginated catalog', async (t) => {
  const d = mkTmp(t);
  const reg = await startRegistry(t, path.join(d, 'reg'), { catalogMaxEntries: 2 });
  writeOciLayout(path.join(d, 'oci'), [{ ref: 'tiny', layers: [{ tar: await makeTar([{ name: 'etc/', type: 'directory' }, { name: 'etc/x', body: 'x' }]) }] }]);
  for (const r of ['apps/web', 'apps/webhook', 'base/debian', 'tools/web-cli', 'zz/other']) skopeoCopy(`oci:${path.join(d, 'oci')}:tiny`, `docker://${reg.host}/${r}:1`);
  const root = path.join(d, 'store');
  const s = await strataAsync(root, ['search', `${reg.host}/web`]);
  t.is(s.code, 0, s.stderr);
  const lines = s.stdout.trimEnd().split('\n');
  t.regex(lines[0], /^NAME\s+DESCRIPTION\s+STARS\s+OFFICIAL\s+AUTOMATED$/);
  t.deepEqual(lines.slice(1).map((l) => l.split(/\s+/)[0]), [`${reg.host}/apps/web`, `${reg.host}/apps/webhook`, `${reg.host}/tools/web-cli`]);
  t.true(reg.requests().filter((r) => r.startsWith('GET /v2/_catalog')).length >= 3, 'followed the Link pages');
  const lim = await strataAsync(root, ['search', '--limit', '1', '--json', `${reg.host}/web`]);
  t.deepEqual(JSON.parse(lim.stdout), [{ name: `${reg.host}/apps/web`, description: '', stars: 0, official: false, automated: false }]);
  const none = await strataAsync(root, ['search', `${reg.host}/nothing-like-it`]);
  t.is(none.code, 0);
  t.is(none.stdout.trim().split('\n').length, 1, 'only the header');
  const bad = await strataAsync(root, ['search', '--limit', '0', `${reg.host}/web`]);
  t.is(bad.code, 1);
  t.regex(bad.stderr, /expected a positive whole number/);
});

test('search terms and Docker Hub answers', (t) => {
  t.deepEqual(searchTarget('nginx'), { domain: 'docker.io', q: 'nginx' });
  t.deepEqual(searchTarget('localhost:5000/app'), { domain: 'localhost:5000', q: 'app' });
  t.deepEqual(searchTarget('docker.io/busybox'), { domain: 'docker.io', q: 'busybox' });
  t.deepEqual(searchTarget('user/repo'), { domain: 'docker.io', q: 'user/repo' });
  const hub = JSON.stringify({ num_results: 3, query: 'nginx', results: [
    { name: 'nginx', description: 'Official build of Nginx.', star_count: 20000, is_official: true, is_automated: false },
    { name: 'someone/nginx-proxy', description: 'Automated nginx proxy', star_count: 12, is_official: false, is_automated: true },
    { name: 'x/y', description: null, star_count: null },
  ] });
  t.deepEqual(parseHubResults(hub, 2), [
    { name: 'nginx', description: 'Official build of Nginx.', stars: 20000, official: true, automated: false },
    { name: 'someone/nginx-proxy', description: 'Automated nginx proxy', stars: 12, official: false, automated: true },
  ]);
  t.throws(() => parseHubResults('<html>', 5), { message: /not JSON/ });
});
