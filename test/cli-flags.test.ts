// docker's everyday flags and output shapes, through the real CLI on a temp store.
import test from 'ava';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { mkTmp, strata, STRATA } from './image-helpers';

const bare = (args: string[]) => {
  const r = spawnSync(process.execPath, [STRATA, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
};

test('--version, -v, version; bare strata prints help and exits 0', (t) => {
  const pkg = require(path.join(__dirname, '..', '..', 'package.json')) as { version: string };
  for (const a of ['--version', '-v']) {
    const r = bare([a]);
    t.is(r.code, 0, r.stderr);
    t.is(r.stdout, `strata version ${pkg.version}\n`);
  }
  const v = bare(['version']);
  t.is(v.code, 0, v.stderr);
  t.regex(v.stdout, new RegExp(`Version: +${pkg.version.replace(/\./g, '\\.')}\\n`));
  t.regex(v.stdout, /OS\/Arch: +linux\//);
  t.is((JSON.parse(bare(['version', '--json']).stdout) as { Version: string }).Version, pkg.version);
  const h = bare([]);
  t.is(h.code, 0, h.stderr);
  t.regex(h.stdout, /^Usage: strata /);
  t.regex(h.stdout, /images/);
  t.is(h.stderr, '');
  const d = mkTmp(t);
  const hr = strata(path.join(d, 'store'), []);
  t.is(hr.code, 0);
  t.regex(hr.stdout, /^Usage: strata /);
  const bad = bare(['no-such-command']);
  t.is(bad.code, 1);
  t.regex(bad.stderr, /unknown command/);
});
