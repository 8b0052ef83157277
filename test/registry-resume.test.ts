// A pull killed with -9 in the middle of a download, then run again: the partial blob
// is resumed with a Range request, and the store ends up consistent. The registry is
// real; between it and strata sits a proxy here that slows blobs down on the first pull
// (a slow link), so the kill lands mid-download.
// Serial: the servers here live in this process, and another test's spawnSync would
// freeze them mid-answer.
import test from 'ava';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { FIXTURES, DRIVER, STRATA, mkTmp, strata, treeManifest } from './image-helpers';
import { skopeoCopy, startRegistry, strataAsync } from './helpers/registry';

test.serial('kill -9 mid-download, then pull again: resumed with Range, store consistent, tree = truth', async (t) => {
  const d = mkTmp(t);
  const reg = await startRegistry(t, path.join(d, 'reg'));
  skopeoCopy(`oci:${FIXTURES}/oci:base`, `docker://${reg.host}/slow/base:1`);
  let throttle = true;
  const ranges: string[] = [];
  let blobBytes = 0;
  const proxy = http.createServer((req, res) => {
    if (req.headers.range) ranges.push(`${req.url} ${req.headers.range}`);
    const up = http.request({ host: '127.0.0.1', port: reg.port, path: req.url, method: req.method, headers: req.headers }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      const isBlob = /\/blobs\/sha256:/.test(req.url ?? '');
      const counted = !throttle; // the killed pull's connection may still be draining
      ur.on('data', (c: Buffer) => {
        if (isBlob && counted) blobBytes += c.length;
        if (!res.write(c) || (throttle && isBlob)) {
          ur.pause();
          const go = () => setTimeout(() => ur.resume(), throttle && isBlob ? 20 : 0);
          if (res.writableNeedDrain) res.once('drain', go);
          else go();
        }
      });
      ur.on('end', () => res.end());
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
  t.teardown(
    () =>
      new Promise<void>((r) => {
        proxy.closeAllConnections();
        proxy.close(() => r());
      }),
  );
  const host = `127.0.0.1:${(proxy.address() as net.AddressInfo).port}`;
  const root = path.join(d, 'store');
  const downloads = path.join(root, 'tmp', 'downloads');
  const KILL_AT = 6 << 20;

  const child = spawn(process.execPath, [STRATA, '--root', root, 'pull', `${host}/slow/base:1`], { stdio: 'ignore' });
  const killedAt = await new Promise<number>((resolve, reject) => {
    const iv = setInterval(() => {
      let biggest = 0;
      try {
        for (const f of fs.readdirSync(downloads)) biggest = Math.max(biggest, fs.statSync(path.join(downloads, f)).size);
      } catch {
        /* not yet */
      }
      if (biggest >= KILL_AT) {
        clearInterval(iv);
        child.kill('SIGKILL');
        resolve(biggest);
      }
    }, 20);
    child.once('exit', (code) => {
      clearInterval(iv);
      reject(new Error(`the pull ended (${code}) before it could be killed`));
    });
  });
  await new Promise((r) => child.once('exit', r));
  const partial = fs.readdirSync(downloads);
  t.is(partial.length, 1, 'one partial download kept');
  const have = fs.statSync(path.join(downloads, partial[0])).size;
  t.true(have >= killedAt);
  t.false(fs.existsSync(path.join(root, 'repositories.json')) && strata(root, ['images', '-q']).stdout.includes('slow'), 'no image from the killed pull');
  const mid = JSON.parse(strata(root, ['check', '--json']).stdout) as { problems: Array<{ kind: string }> };
  t.true(mid.problems.every((p) => p.kind === 'tmp-leftover'), `only the killed command's tmp dir is left: ${JSON.stringify(mid.problems)}`);

  throttle = false;
  blobBytes = 0;
  const r = await strataAsync(root, ['pull', `${host}/slow/base:1`]);
  t.is(r.code, 0, r.stderr);
  const resumed = ranges.find((x) => x.includes(partial[0]));
  t.truthy(resumed, `a Range request for the partial blob: ${ranges.join(', ')}`);
  const from = Number(/bytes=(\d+)-/.exec(resumed!)![1]);
  t.is(from, have, 'resumed exactly where the partial ends');
  const size = fs.statSync(path.join(root, 'blobs', 'sha256', partial[0])).size;
  t.true(blobBytes <= size - have + (64 << 10), `only the rest was downloaded (${blobBytes} of ${size} bytes)`);
  const ck = strata(root, ['check']);
  t.is(ck.code, 0, ck.stdout);
  t.deepEqual(fs.readdirSync(downloads), []);
  t.is(strata(root, ['create', '--name', 'c', `${host}/slow/base:1`]).code, 0);
  const mnt = path.join(d, 'mnt');
  t.is(strata(root, ['mount', '--driver', DRIVER, 'c', mnt]).code, 0);
  t.true(treeManifest(mnt) === fs.readFileSync(path.join(FIXTURES, 'truth', 'base.mtime.manifest'), 'utf8'));
  t.is(strata(root, ['rm', '-f', 'c']).code, 0);
});

test.serial('partial downloads: kept by the garbage collector and not reported by check; foreign files in tmp/downloads are garbage', async (t) => {
  const d = mkTmp(t);
  const root = path.join(d, 'store');
  t.is(strata(root, ['load', path.join(FIXTURES, 'oci')]).code, 0);
  const downloads = path.join(root, 'tmp', 'downloads');
  fs.mkdirSync(downloads, { recursive: true });
  const partial = 'cd'.repeat(32);
  fs.writeFileSync(path.join(downloads, partial), 'some bytes of a blob');
  const inStore = fs.readdirSync(path.join(root, 'blobs', 'sha256'))[0];
  fs.writeFileSync(path.join(downloads, inStore), 'already complete elsewhere');
  fs.writeFileSync(path.join(downloads, 'junk'), 'x');
  const ck = JSON.parse(strata(root, ['check', '--json']).stdout) as { problems: Array<{ kind: string; path: string }> };
  t.deepEqual(ck.problems.map((p) => `${p.kind} ${p.path}`), ['tmp-leftover tmp/downloads/junk']);
  // any locked command collects garbage
  t.is(strata(root, ['tag', 'base', 'base:again']).code, 0);
  t.deepEqual(fs.readdirSync(downloads), [partial], 'the resumable partial stays; junk and a blob the store has are gone');
  t.is(strata(root, ['check']).code, 0);
});
