// Copy-up by FICLONE where upper and lower share a filesystem with reflinks (a loop-mounted
// btrfs): the copy shares the lower file's extents, as kernel overlayfs's copy-up does; a
// lower layer on another filesystem is copied.
import test from 'ava';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { DRIVERS, fstypeAt, mountUnion, strataOptions, unmount, UnionSpec } from './helpers/mount';
import { strataFsBin } from './helpers/paths';
import { tempDirFor } from './helpers/tmp';
import { useDropCachesStressor } from './helpers/dropcaches';

useDropCachesStressor(test);

const MIB = 1 << 20;
const SIZE = 32 * MIB;

function must(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** btrfs filesystem du --raw of one file: [total, exclusive] bytes. */
function extents(file: string): { total: number; exclusive: number } {
  must('sync', ['-f', file]);
  const line = must('btrfs', ['filesystem', 'du', '--raw', file]).trim().split('\n').pop()!;
  const [total, exclusive] = line.trim().split(/\s+/).map(Number);
  return { total: total!, exclusive: exclusive! };
}

function btrfs(dir: string): string {
  const img = path.join(dir, 'btrfs.img');
  const bt = path.join(dir, 'bt');
  fs.mkdirSync(bt);
  fs.writeFileSync(img, '');
  fs.truncateSync(img, 512 * MIB);
  must('mkfs.btrfs', ['-q', '-f', img]);
  must('mount', ['-o', 'loop', img, bt]);
  return bt;
}

const sha = (b: Buffer): string => crypto.createHash('sha256').update(b).digest('hex');

test('copy-up on btrfs shares the lower file\'s extents (FICLONE), as on kernel overlayfs; from another filesystem it copies', async (t) => {
  const dir = tempDirFor(t, 'strata-reflink-');
  const bt = btrfs(dir);
  const data = crypto.randomBytes(SIZE);
  const want = sha(Buffer.concat([data, Buffer.from('+')]));
  const lowerBt = path.join(bt, 'lower');
  fs.mkdirSync(lowerBt);
  fs.writeFileSync(path.join(lowerBt, 'big'), data);
  const lowerExt = path.join(dir, 'lower-ext4');
  fs.mkdirSync(lowerExt);
  fs.writeFileSync(path.join(lowerExt, 'big'), data);
  const results: Record<string, unknown> = {};
  for (const driver of DRIVERS) {
    for (const [where, lower] of [['btrfs', lowerBt], ['other-fs', lowerExt]] as const) {
      const name = `${driver}-${where}`;
      const spec: UnionSpec = { lowers: [lower], upper: path.join(bt, `upper-${name}`), work: path.join(bt, `work-${name}`), mnt: path.join(dir, `mnt-${name}`) };
      for (const d of [spec.upper!, spec.work!, spec.mnt]) fs.mkdirSync(d);
      mountUnion(driver, spec);
      fs.appendFileSync(path.join(spec.mnt, 'big'), '+');
      const merged = sha(fs.readFileSync(path.join(spec.mnt, 'big')));
      unmount(spec.mnt);
      const up = path.join(spec.upper!, 'big');
      const e = extents(up);
      results[name] = {
        content: sha(fs.readFileSync(up)) === want && merged === want,
        size: fs.statSync(up).size,
        // the append rewrites at most the last block (and btrfs may round to its sector)
        shared: e.exclusive <= 64 * 1024,
        copied: e.exclusive >= SIZE,
      };
    }
  }
  t.deepEqual(results.strata, results.overlay);
  t.deepEqual(results, {
    'overlay-btrfs': { content: true, size: SIZE + 1, shared: true, copied: false },
    'overlay-other-fs': { content: true, size: SIZE + 1, shared: false, copied: true },
    'strata-btrfs': { content: true, size: SIZE + 1, shared: true, copied: false },
    'strata-other-fs': { content: true, size: SIZE + 1, shared: false, copied: true },
  });
});

test('the btrfs copy-up is one FICLONE, no data copied by the daemon', async (t) => {
  const dir = tempDirFor(t, 'strata-reflink-ioctl-');
  const bt = btrfs(dir);
  const lower = path.join(bt, 'lower');
  fs.mkdirSync(lower);
  fs.writeFileSync(path.join(lower, 'big'), crypto.randomBytes(4 * MIB));
  const spec: UnionSpec = { lowers: [lower], upper: path.join(bt, 'upper'), work: path.join(bt, 'work'), mnt: path.join(dir, 'mnt') };
  for (const d of [spec.upper!, spec.work!, spec.mnt]) fs.mkdirSync(d);
  const trace = path.join(dir, 'trace');
  const child = spawn('strace', ['-f', '-qq', '-o', trace, '-e', 'trace=ioctl,copy_file_range,pwrite64,write',
    strataFsBin, '-f', '-o', strataOptions(spec), 'strata', spec.mnt], { stdio: 'ignore' });
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  try {
    for (let i = 0; fstypeAt(spec.mnt) !== 'fuse.strata-fs'; i++) {
      if (i > 600) throw new Error('strata-fs under strace did not mount');
      await new Promise((r) => setTimeout(r, 100));
    }
    fs.appendFileSync(path.join(spec.mnt, 'big'), '+');
  } finally {
    unmount(spec.mnt);
    await exited;
  }
  const lines = fs.readFileSync(trace, 'utf8').split('\n');
  t.is(lines.filter((l) => /ioctl\(\d+, (BTRFS_IOC_CLONE or )?FICLONE, \d+\) = 0/.test(l)).length, 1, 'one FICLONE');
  t.deepEqual(lines.filter((l) => /copy_file_range\(|pwrite64\(/.test(l)), [], 'no copy_file_range or pwrite');
  t.is(fs.statSync(path.join(spec.upper!, 'big')).size, 4 * MIB + 1);
});
