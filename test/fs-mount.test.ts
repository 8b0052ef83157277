import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { DRIVERS, fstypeAt, mountUnion, unmount } from './helpers/mount';
import { tempDirFor } from './helpers/tmp';
import { buildLayer } from './helpers/layers';
import { useDropCachesStressor } from './helpers/dropcaches';

useDropCachesStressor(test);

function processesMentioning(s: string): number[] {
  const out: number[] = [];
  for (const pid of fs.readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      if (fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(s)) out.push(Number(pid));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

for (const driver of DRIVERS) {
  test(`${driver}: a missing lowerdir fails the mount and leaves nothing mounted`, (t) => {
    const dir = tempDirFor(t);
    const mnt = path.join(dir, 'mnt');
    fs.mkdirSync(mnt);
    t.throws(() => mountUnion(driver, { lowers: [path.join(dir, 'does-not-exist')], mnt }));
    t.is(fstypeAt(mnt), undefined);
  });

  test(`${driver}: data written is in the upper dir after umount, and umount ends the daemon`, (t) => {
    const dir = tempDirFor(t);
    const [lower, upper, work, mnt] = ['lower', 'upper', 'work', 'mnt'].map((n) => path.join(dir, n));
    for (const d of [lower, upper, work, mnt]) fs.mkdirSync(d);
    buildLayer(lower, [{ p: 'f', t: 'file', data: 'lower' }]);
    mountUnion(driver, { lowers: [lower], upper, work, mnt });
    try {
      fs.writeFileSync(path.join(mnt, 'f'), 'upper data');
      fs.writeFileSync(path.join(mnt, 'new'), 'new data');
    } finally {
      unmount(mnt);
    }
    t.is(fstypeAt(mnt), undefined);
    t.is(fs.readFileSync(path.join(upper, 'f'), 'utf8'), 'upper data');
    t.is(fs.readFileSync(path.join(upper, 'new'), 'utf8'), 'new data');
    t.is(fs.readFileSync(path.join(lower, 'f'), 'utf8'), 'lower');
    // the daemon may need a moment to exit after the kernel let go of the mount
    let left = processesMentioning(mnt).filter((p) => p !== process.pid);
    for (let i = 0; left.length > 0 && i < 50; i++) {
      spawnSync('sleep', ['0.1']);
      left = processesMentioning(mnt).filter((p) => p !== process.pid);
    }
    t.deepEqual(left, [], 'no process still serves the mountpoint');
  });
}
