import { dropCaches, sleep, timed } from '../exec';
import { memoryOf } from '../procs';
import { MountWorkload, TIME, count } from './types';

/**
 * Walks a wide tree with find (stat of every entry), then reads the daemon's
 * resident memory (VmRSS) and peak (VmHWM) from /proc. Then it makes the kernel
 * forget the inodes (drop dentries and inodes: FUSE sends FORGETs) and reads
 * VmRSS again, to show whether memory comes back. In-kernel drivers have no
 * daemon: their memory figures are n/a.
 */
export const walkMem: MountWorkload = {
  kind: 'mount',
  group: 'metadata',
  id: 'walk-mem',
  describe: 'find -printf (stat) of a wide lower tree, cold; then the FUSE daemon\'s VmRSS/VmHWM, and VmRSS after the kernel forgets the inodes',
  metrics: (o) => {
    const n = count(o.sizes.walkEntries);
    return [
      { id: TIME, label: `walk ${n}-entry tree, cold`, unit: 's' },
      { id: 'rss', label: `daemon RSS after walking ${n} entries`, unit: 'MB' },
      { id: 'hwm', label: `daemon peak RSS (VmHWM), ${n} entries`, unit: 'MB' },
      { id: 'rss-forget', label: `daemon RSS after the kernel forgets them`, unit: 'MB' },
    ];
  },
  cold: true,
  async prepare({ fx }) {
    const tree = await fx.tree();
    return {
      lowers: tree.lowers,
      async run(c) {
        const time = await timed(['find', c.mnt, '-printf', '%s %p\n'], { timeoutMs: c.timeoutMs });
        const pid = c.mounted.daemonPid;
        if (pid === null) return { [TIME]: time, rss: null, hwm: null, 'rss-forget': null };
        const after = memoryOf(pid);
        await dropCaches('2');
        // FORGETs arrive in batches and a garbage-collected daemon frees lazily: give it a moment.
        await sleep(2000);
        const forgot = memoryOf(pid);
        return { [TIME]: time, rss: after?.rssMB ?? null, hwm: after?.hwmMB ?? null, 'rss-forget': forgot?.rssMB ?? null };
      },
    };
  },
};
