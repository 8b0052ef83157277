// Every bad argument or option value: one line on stderr starting with "strata: ",
// nothing on stdout, a non-zero exit, and the store unchanged.
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeTar, mkTmp, writeOciLayout, strata, snapshot } from './image-helpers';

test('bad arguments are refused with one clear line', async (t) => {
  const d = mkTmp(t);
  const root = path.join(d, 'store');
  writeOciLayout(path.join(d, 'oci'), [{ ref: 'app:1', layers: [{ tar: await makeTar([{ name: 'f', body: 'x' }]) }] }]);
  t.is(strata(root, ['load', path.join(d, 'oci')]).code, 0);
  t.is(strata(root, ['create', '--name', 'c1', 'app:1']).code, 0);
  fs.writeFileSync(path.join(d, 'afile'), 'x');
  const before = snapshot(root);
  const cases: Array<[string[], RegExp]> = [
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['load', path.join(d, 'nonexistent')], /load: .*nonexistent: no such file or directory/],
    [['load', '-i'], /option '-i, --input <file>' argument missing/],
    [['load', path.join(d, 'afile')], /not a valid tar archive|not a docker-archive/],
    [['save', '-o', path.join(d, 'x.tar')], /missing required argument 'images'/],
    [['save', '-o', path.join(d, 'x.tar'), '--format', 'zip', 'app:1'], /argument 'zip' is invalid\. Allowed choices are docker-archive, oci-archive/],
    [['save', '-o', path.join(d, 'x.tar'), 'nosuch:1'], /no such image: nosuch:1/],
    [['tag', 'nosuch:1', 'x:1'], /no such image: nosuch:1/],
    [['tag', 'app:1', 'Bad!!'], /invalid repository name "Bad!!"/],
    [['tag', 'app:1', 'ok:bad tag'], /invalid/],
    [['images', 'a b'], /invalid repository name "a b"/],
    [['create'], /missing required argument 'image'/],
    [['create', '--network', 'bridge', 'app:1'], /network "bridge" is not supported/],
    [['run'], /missing required argument 'image'/],
    [['run', '-v', 'named:/x', 'app:1'], /named volumes are not supported/],
    [['run', '-w', 'rel', 'app:1'], /needs to be an absolute path/],
    [['run', 'nosuch:1'], /no such image: nosuch:1/],
    [['start', 'nosuch'], /no such container: nosuch/],
    [['stop', '-t', 'soon', 'c1'], /invalid --time "soon"/],
    [['kill', '-s', 'NOPE', 'c1'], /invalid signal: NOPE/],
    [['kill', 'c1'], /container is not running/],
    [['wait', 'nosuch'], /no such container: nosuch/],
    [['logs', 'nosuch'], /no such container: nosuch/],
    [['exec', 'c1', 'true'], /container c1 is not running/],
    [['build', path.join(d, 'nonexistent')], /path .*nonexistent.* not found/],
    [['build', '-t', 'Bad!!', d], /invalid repository name "Bad!!"/],
    [['build', '-f', path.join(d, 'nonexistent'), d], /cannot locate the Dockerfile/],
    [['create', '--name', 'bad name', 'app:1'], /invalid container name "bad name"/],
    [['create', '--name', 'c1', 'app:1'], /container name "c1" is already in use/],
    [['mount', 'c1', '--driver', 'zfs'], /argument 'zfs' is invalid\. Allowed choices are strata-fs, overlay/],
    [['mount', 'c1', path.join(d, 'afile', 'sub')], /cannot create mountpoint .*afile\/sub: not a directory\n/],
    [['mount', 'nosuch'], /no such container: nosuch/],
    [['umount', 'nosuch'], /no such container: nosuch/],
    [['rm', 'nosuch'], /no such container: nosuch/],
    [['rmi'], /missing required argument 'images'/],
    [['rmi', 'nosuch:1'], /no such image: nosuch:1/],
    [['commit', 'c1', 'UPPER:x'], /invalid repository name "UPPER"/],
    [['commit', 'nosuch'], /no such container: nosuch/],
    [['diff', 'nosuch'], /no such container: nosuch/],
    [['history', 'nosuch'], /no such image: nosuch/],
    [['inspect', 'nosuch'], /no such image or container: nosuch/],
    [['explain', path.join(d, 'afile')], /is not inside a mounted container/],
    [['check', 'extra'], /too many arguments for 'check'/],
    [['check', '--repiar'], /unknown option '--repiar' \(Did you mean --repair\?\)/],
    [['ps', '--bogus'], /unknown option '--bogus'/],
    [['--root'], /option '--root <dir>' argument missing/],
  ];
  for (const [args, re] of cases) {
    const r = strata(root, args);
    const what = args.join(' ');
    t.not(r.code, 0, what);
    t.is(r.stdout, '', what);
    t.regex(r.stderr, /^strata: [^\n]+\n$/, `${what}: ${JSON.stringify(r.stderr)}`);
    t.regex(r.stderr, re, what);
  }
  t.deepEqual(snapshot(root), before);
});
