import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { makeTar, mkTmp, writeOciLayout, strata, snapshot, STRATA, FIXTURES } from './image-helpers';
import { StoreLock } from '../src/store/lock';

async function loaded(d: string): Promise<string> {
  const root = path.join(d, 'store');
  writeOciLayout(path.join(d, 'oci'), [{ ref: 'x:1', layers: [{ tar: await makeTar([{ name: 'f', body: 'f' }]) }] }]);
  const r = strata(root, ['load', path.join(d, 'oci')]);
  if (r.code !== 0) throw new Error(r.stderr);
  return root;
}

function run(root: string, args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((res) => {
    const p = spawn(process.execPath, [STRATA, '--root', root, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (c: Buffer) => (err += c.toString()));
    p.on('close', (code) => res({ code, stderr: err }));
  });
}

test('concurrent commands do not lose each other\'s updates', async (t) => {
  const d = mkTmp(t);
  const root = await loaded(d);
  const names = Array.from({ length: 8 }, (_, i) => `t${i}:v`);
  const results = await Promise.all(names.map((n) => run(root, ['tag', 'x:1', n])));
  for (const r of results) t.is(r.code, 0, r.stderr);
  const tags = JSON.parse(fs.readFileSync(path.join(root, 'repositories.json'), 'utf8')) as Record<string, string>;
  for (const n of names) t.truthy(tags[n], n);
  t.false(fs.existsSync(path.join(root, 'lock')), 'lock released');
});

test('a command waits for a held lock and runs once it is released', async (t) => {
  const d = mkTmp(t);
  const root = await loaded(d);
  const lock = new StoreLock(path.join(root, 'lock'));
  await lock.acquire();
  let done = false;
  const p = run(root, ['tag', 'x:1', 'waited:1']).then((r) => {
    done = true;
    return r;
  });
  await new Promise((r) => setTimeout(r, 700));
  t.false(done, 'still waiting while the lock is held');
  t.false('waited:1' in (JSON.parse(fs.readFileSync(path.join(root, 'repositories.json'), 'utf8')) as object));
  lock.release();
  const r = await p;
  t.is(r.code, 0, r.stderr);
  t.true('waited:1' in (JSON.parse(fs.readFileSync(path.join(root, 'repositories.json'), 'utf8')) as object));
});

test('a stale lock (dead holder) is broken', async (t) => {
  const d = mkTmp(t);
  const root = await loaded(d);
  const dead = spawnSync('true');
  fs.writeFileSync(path.join(root, 'lock'), `${dead.pid} 12345`);
  const r = strata(root, ['tag', 'x:1', 'after:stale']);
  t.is(r.code, 0, r.stderr);
  t.false(fs.existsSync(path.join(root, 'lock')));
});

test('garbage from a crash is removed by the next mutating command', async (t) => {
  const d = mkTmp(t);
  const root = await loaded(d);
  const clean = snapshot(root);
  fs.mkdirSync(path.join(root, 'tmp', 'load-crashed', 'layer', 'diff'), { recursive: true });
  fs.writeFileSync(path.join(root, 'tmp', 'load-crashed', 'layer', 'diff', 'f'), 'partial');
  fs.mkdirSync(path.join(root, 'layers', 'ab'.repeat(32), 'diff'), { recursive: true });
  fs.writeFileSync(path.join(root, 'blobs', 'sha256', 'cd'.repeat(32)), 'orphan');
  fs.mkdirSync(path.join(root, 'containers', 'half', 'upper'), { recursive: true });
  // read-only commands leave it alone (they do not take the lock)
  t.is(strata(root, ['images']).code, 0);
  t.true(fs.existsSync(path.join(root, 'tmp', 'load-crashed')));
  t.is(strata(root, ['tag', 'x:1', 'x:1']).code, 0);
  t.deepEqual(snapshot(root), clean);
});

test('a load killed midway leaves the store as before', async (t) => {
  const d = mkTmp(t);
  const root = await loaded(d);
  const before = snapshot(root);
  const p = spawn(process.execPath, [STRATA, '--root', root, 'load', path.join(FIXTURES, 'oci')], { stdio: 'ignore' });
  // wait until it is extracting (a layer dir under tmp/), then kill it hard
  for (let i = 0; i < 600; i++) {
    const tmp = fs.readdirSync(path.join(root, 'tmp'));
    if (tmp.some((x) => x.startsWith('load-') && fs.readdirSync(path.join(root, 'tmp', x)).some((y) => y.startsWith('layer-')))) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  p.kill('SIGKILL');
  await new Promise((r) => p.on('close', r));
  t.deepEqual((JSON.parse(strata(root, ['images', '--json']).stdout) as Array<{ repository: string }>).map((x) => x.repository), ['x']);
  t.is(strata(root, ['tag', 'x:1', 'x:1']).code, 0, 'the stale lock of the killed load is broken');
  t.deepEqual(snapshot(root), before);
});
