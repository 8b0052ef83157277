import * as path from 'node:path';
import { timed } from '../exec';
import { which } from '../paths';
import { MountWorkload, TIME, mib } from './types';

/** dd with 1 MiB blocks: a plain sequential reader/writer every system has. */
function ddRead(file: string): string[] {
  return ['dd', `if=${file}`, 'of=/dev/null', 'bs=1M', 'status=none'];
}

function seqRead(cold: boolean): MountWorkload {
  return {
    kind: 'mount',
    group: 'data',
    id: cold ? 'seq-read-cold' : 'seq-read-warm',
    describe: cold
      ? 'dd a big lower file to /dev/null after dropping caches'
      : 'dd a big lower file to /dev/null after reading it once through the mount',
    metrics: (o) => [{ id: TIME, label: `seq read ${mib(o.sizes.bigMiB)} lower file, ${cold ? 'cold' : 'warm'}`, unit: 's' }],
    cold,
    async prepare({ fx }) {
      const big = await fx.big();
      return {
        lowers: big.lowers,
        setup: cold ? undefined : async (c) => void (await timed(ddRead(path.join(c.mnt, big.file)), { timeoutMs: c.timeoutMs })),
        run: async (c) => ({ [TIME]: await timed(ddRead(path.join(c.mnt, big.file)), { timeoutMs: c.timeoutMs }) }),
      };
    },
  };
}

export const seqReadCold = seqRead(true);
export const seqReadWarm = seqRead(false);

export const seqWrite: MountWorkload = {
  kind: 'mount',
  group: 'data',
  id: 'seq-write',
  describe: 'dd from /dev/zero into a new file, 1 MiB blocks, fsync before dd exits (conv=fsync)',
  metrics: (o) => [{ id: TIME, label: `seq write ${mib(o.sizes.writeMiB)} new file (fsync)`, unit: 's' }],
  cold: false,
  async prepare({ fx, opts }) {
    return {
      lowers: await fx.empty(),
      run: async (c) => ({
        [TIME]: await timed(
          ['dd', 'if=/dev/zero', `of=${path.join(c.mnt, 'out.dat')}`, 'bs=1M', `count=${opts.sizes.writeMiB}`, 'conv=fsync', 'status=none'],
          { timeoutMs: c.timeoutMs },
        ),
      }),
    };
  },
};

export const copyUp: MountWorkload = {
  kind: 'mount',
  group: 'data',
  id: 'copy-up',
  describe: 'first 4 KiB write into a big lower file (open for write copies it up), cold',
  metrics: (o) => [{ id: TIME, label: `first write to ${mib(o.sizes.bigMiB)} lower file (copy-up)`, unit: 's' }],
  cold: true,
  copyData: true,
  async prepare({ fx }) {
    const big = await fx.big();
    return {
      lowers: big.lowers,
      run: async (c) => ({
        [TIME]: await timed(
          ['dd', 'if=/dev/zero', `of=${path.join(c.mnt, big.file)}`, 'bs=4k', 'count=1', 'conv=notrunc', 'status=none'],
          { timeoutMs: c.timeoutMs },
        ),
      }),
    };
  },
};

export const randRw: MountWorkload = {
  kind: 'mount',
  group: 'data',
  id: 'rand-rw',
  describe: 'fio psync 4 KiB random reads and writes (50/50) on a big file written through the mount, warm',
  metrics: (o) => [
    { id: TIME, label: `rand 4k r/w, ${mib(o.sizes.randIoMiB)} of I/O in a ${mib(o.sizes.randFileMiB)} file`, unit: 's' },
  ],
  cold: false,
  async prepare({ fx, opts }) {
    if (!which('fio')) return 'fio not installed (apt-get install fio)';
    const s = opts.sizes;
    return {
      lowers: await fx.empty(),
      async setup(c) {
        await timed(['dd', 'if=/dev/zero', `of=${path.join(c.mnt, 'rand.dat')}`, 'bs=1M', `count=${s.randFileMiB}`, 'status=none'], {
          timeoutMs: c.timeoutMs,
        });
      },
      run: async (c) => ({
        [TIME]: await timed(
          [
            'fio',
            '--name=randrw',
            `--filename=${path.join(c.mnt, 'rand.dat')}`,
            '--rw=randrw',
            '--rwmixread=50',
            '--bs=4k',
            `--size=${s.randFileMiB}m`,
            `--io_size=${s.randIoMiB}m`,
            '--ioengine=psync',
            '--randrepeat=1',
            '--norandommap',
            '--output-format=terse',
          ],
          { timeoutMs: c.timeoutMs },
        ),
      }),
    };
  },
};
