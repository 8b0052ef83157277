import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { mkTmp, STRATA, DRIVER } from './image-helpers';

test('strata demo runs the whole story and cleans up', (t) => {
  const d = mkTmp(t);
  const root = path.join(d, 'store');
  const r = spawnSync(process.execPath, [STRATA, 'demo', '--driver', DRIVER, '--root', root], { encoding: 'utf8', timeout: 240_000 });
  t.is(r.status, 0, r.stderr);
  const out = r.stdout;
  t.regex(out, /Loaded image: strata-demo:latest/);
  t.regex(out, /\$ strata diff demo\nC \/etc\nA \/etc\/greeting\nC \/etc\/motd\n/);
  t.regex(out, /D \/usr\/share\/doc\/demo\/README/);
  t.regex(out, /copied up: yes/);
  t.regex(out, /WHITEOUT/);
  t.regex(out, /\$ strata commit .*\nsha256:[0-9a-f]{64}/);
  t.regex(out, /Untagged: strata-demo:latest/);
  // the example image built from the Dockerfile the demo ships, and containers run from it
  t.regex(out, /Step 1\/7 : FROM strata-demo:latest\n/);
  t.regex(out, /Successfully tagged strata-demo:app\n/);
  t.regex(out, /\$ strata run --rm strata-demo:app\nWelcome to the strata demo image \(updated by layer 2\)\.\nbuilt by strata build\nhello from a strata container in \/var\/log\n/);
  t.regex(out, /\$ strata diff app\nC \/etc\nA \/etc\/note\n/);
  t.regex(out, /\$ strata run --rm strata-demo:noted cat \/etc\/note\nwritten by a process in the container\n/);
  t.deepEqual(fs.readdirSync(path.join(root, 'images')), []);
  // cleaned up: no containers, images, layers or mounts left
  t.deepEqual(fs.readdirSync(path.join(root, 'containers')), []);
  t.deepEqual(fs.readdirSync(path.join(root, 'layers')), []);
  t.false(fs.readFileSync('/proc/self/mountinfo', 'utf8').includes('strata-demo-'));
});
