import * as path from 'node:path';
import { timed } from '../exec';
import { MountWorkload, TIME, count } from './types';

export const untar: MountWorkload = {
  kind: 'mount',
  group: 'metadata',
  id: 'untar',
  describe: 'GNU tar extracts the base fixture rootfs (uncompressed layer tar, owners, modes, xattrs) into the mount',
  metrics: () => [{ id: TIME, label: 'untar base rootfs (~4,300 entries, 78 MB)', unit: 's' }],
  cold: false,
  async prepare({ fx }) {
    const tar = await fx.baseTar();
    return {
      lowers: await fx.empty(),
      run: async (c) => ({
        [TIME]: await timed(
          ['tar', '--extract', `--file=${tar}`, `--directory=${c.mnt}`, '--numeric-owner', '--xattrs', '--xattrs-include=*'],
          { timeoutMs: c.timeoutMs },
        ),
      }),
    };
  },
};

/**
 * Walks of the merged base rootfs. "find" stats every entry (-printf of size,
 * mode and mtime needs lstat); "ls -lR" also reads xattrs (ACLs, SELinux label).
 * Warm runs walk once untimed first, to show what the kernel's caches give.
 */
function walk(tool: 'find' | 'ls', cold: boolean): MountWorkload {
  const argv = (mnt: string) => (tool === 'find' ? ['find', mnt, '-printf', '%s %m %T@ %p\n'] : ['ls', '-lR', mnt]);
  const what = tool === 'find' ? 'find -printf (stat)' : 'ls -lR';
  return {
    kind: 'mount',
    group: 'metadata',
    id: `${tool === 'find' ? 'find' : 'ls-lR'}-${cold ? 'cold' : 'warm'}`,
    describe: `${what} of the merged base rootfs, ${cold ? 'after dropping caches' : 'after one untimed walk'}`,
    metrics: () => [{ id: TIME, label: `${what} of base rootfs, ${cold ? 'cold' : 'warm'}`, unit: 's' }],
    cold,
    async prepare({ fx }) {
      const base = await fx.baseRootfs();
      return {
        lowers: base.lowers,
        setup: cold ? undefined : async (c) => void (await timed(argv(c.mnt), { timeoutMs: c.timeoutMs })),
        run: async (c) => ({ [TIME]: await timed(argv(c.mnt), { timeoutMs: c.timeoutMs }) }),
      };
    },
  };
}

export const findCold = walk('find', true);
export const findWarm = walk('find', false);
export const lsCold = walk('ls', true);
export const lsWarm = walk('ls', false);

export const rmRf: MountWorkload = {
  kind: 'mount',
  group: 'metadata',
  id: 'rm-rf',
  describe: 'rm -rf of the merged base rootfs but dev/ (whiteouts on union drivers), cold',
  metrics: () => [{ id: TIME, label: 'rm -rf base rootfs (lower tree), cold', unit: 's' }],
  cold: true,
  async prepare({ fx }) {
    const base = await fx.baseRootfs();
    // dev/ stays: fuse-overlayfs 1.10 cannot remove lower device nodes (ENXIO: it opens
    // them), which would turn its whole figure into a failure for 3 entries of 4,300.
    const victims = base.topLevel.filter((n) => n !== 'dev');
    return {
      lowers: base.lowers,
      run: async (c) => ({
        [TIME]: await timed(['rm', '-rf', '--', ...victims.map((n) => path.join(c.mnt, n))], { timeoutMs: c.timeoutMs }),
      }),
    };
  },
};

export const catSmall: MountWorkload = {
  kind: 'mount',
  group: 'metadata',
  id: 'cat-small',
  describe: 'cat (via xargs) of many small lower files (256 B-8 KiB, 100 per directory) to /dev/null, cold',
  metrics: (o) => [{ id: TIME, label: `cat ${count(o.sizes.smallFiles)} small lower files, cold`, unit: 's' }],
  cold: true,
  async prepare({ fx }) {
    const small = await fx.small();
    return {
      lowers: small.lowers,
      run: async (c) => ({ [TIME]: await timed(['xargs', '-0', '-a', small.list, 'cat', '--'], { cwd: c.mnt, timeoutMs: c.timeoutMs }) }),
    };
  },
};

export const createUnlink: MountWorkload = {
  kind: 'mount',
  group: 'metadata',
  id: 'create-unlink',
  describe: 'touch (via xargs) many new empty files in one directory, then rm them',
  metrics: (o) => [{ id: TIME, label: `create+unlink ${count(o.sizes.createFiles)} files`, unit: 's' }],
  cold: false,
  async prepare({ fx }) {
    const names = await fx.names();
    return {
      lowers: await fx.empty(),
      setup: async (c) => void (await timed(['mkdir', path.join(c.mnt, 'many')])),
      run: async (c) => ({
        [TIME]: await timed(['sh', '-c', 'xargs -0 -a "$1" touch -- && xargs -0 -a "$1" rm -f --', 'sh', names.list], {
          cwd: path.join(c.mnt, 'many'),
          timeoutMs: c.timeoutMs,
        }),
      }),
    };
  },
};
