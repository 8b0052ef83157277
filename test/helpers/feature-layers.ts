// The two lower layers the per-feature fs tests (fs-inodes, fs-times, fs-xattrs,
// fs-special, fs-io) run on: files with known times in d/, one per layer, and the
// special files a rootfs has in dev/.
import { LayerEntry } from './layers';

export const hx = (s: string | Buffer) => (Buffer.isBuffer(s) ? s : Buffer.from(s)).toString('hex');

export const layers: LayerEntry[][] = [
  [
    { p: 'd', t: 'dir' },
    { p: 'd/lower', t: 'file', data: 'lower data', mtime: 1_500_000_000_111_111_111n, atime: 1_000_000_000_000_000_000n },
    { p: 'd/other', t: 'file', data: '0123456789' },
    { p: 'd/sub', t: 'dir' },
    { p: 'dev', t: 'dir' },
    { p: 'dev/null', t: 'char', rdev: [1, 3] },
    { p: 'dev/loop', t: 'block', rdev: [7, 0] },
    { p: 'dev/fifo', t: 'fifo' },
  ],
  [
    { p: 'd', t: 'dir' },
    { p: 'd/mid', t: 'file', data: 'mid' },
  ],
];
