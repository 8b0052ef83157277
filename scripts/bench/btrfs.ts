import * as fs from 'node:fs';
import * as path from 'node:path';
import { forceUnmount } from './cleanup';
import { must, run } from './exec';
import { applyLayer, stackId } from './layers';
import { which } from './paths';
import { mountAt } from './procs';

/**
 * What docker's btrfs storage driver does, on a btrfs image file loop-mounted in the
 * bench's work dir for the length of one bench run: each image layer is a subvolume, a
 * snapshot of the layer below with the layer's changes applied; a container is a
 * writable snapshot of its image's top layer, and deleting it deletes the snapshot.
 */
export class BtrfsPool {
  private readonly root: string;
  private readonly image: string;
  readonly mnt: string;
  private loop: string | null = null;
  private readonly layers = new Map<string, Promise<string>>();

  constructor(
    workdir: string,
    private readonly sizeMiB: number,
    private readonly status: (msg: string) => void,
  ) {
    this.root = path.join(workdir, 'btrfs');
    this.image = path.join(this.root, 'btrfs.img');
    this.mnt = path.join(this.root, 'mnt');
  }

  static unavailable(): string | null {
    for (const tool of ['mkfs.btrfs', 'btrfs', 'losetup']) if (!which(tool)) return `${tool} not found (apt-get install btrfs-progs)`;
    if (!fs.readFileSync('/proc/filesystems', 'utf8').includes('btrfs') && !which('modprobe')) return 'btrfs not available in this kernel';
    return null;
  }

  /**
   * What a bench killed with SIGKILL left of this driver in the work dir: the mount, the
   * loop device (losetup's, not mount's own, so no autoclear) and the image. Run at every
   * start, whichever drivers that run uses.
   */
  static async removeLeftovers(workdir: string): Promise<void> {
    const root = path.join(workdir, 'btrfs');
    const image = path.join(root, 'btrfs.img');
    const mnt = path.join(root, 'mnt');
    if (!fs.existsSync(root)) return;
    if (mountAt(mnt)) await forceUnmount(mnt, null);
    if (mountAt(mnt)) throw new Error(`${mnt} is still mounted; left the btrfs image in place`);
    if (fs.existsSync(image) && which('losetup')) {
      const r = await run(['losetup', '-j', image], { stdout: 'pipe', cleanup: true });
      for (const line of r.stdout.split('\n')) {
        const dev = /^(\/dev\/loop\d+):/.exec(line)?.[1];
        if (dev) await run(['losetup', '-d', dev], { cleanup: true });
      }
    }
    fs.rmSync(root, { recursive: true, force: true });
  }

  async open(): Promise<void> {
    if (this.loop) return;
    await BtrfsPool.removeLeftovers(path.dirname(this.root));
    fs.mkdirSync(this.mnt, { recursive: true });
    this.status('btrfs: making the file system');
    // Sparse: the file takes only what the file system writes (and discard gives back).
    fs.writeFileSync(this.image, '');
    fs.truncateSync(this.image, this.sizeMiB * 1024 * 1024);
    await must(['mkfs.btrfs', '-q', this.image]);
    // Direct I/O: the btrfs page cache is the only one, as on a real disk (no second copy
    // of every block in the page cache of the image file).
    this.loop = (await must(['losetup', '--find', '--show', '--direct-io=on', this.image], { stdout: 'pipe' })).stdout.trim();
    await must(['mount', '-t', 'btrfs', '-o', 'discard=async', this.loop, this.mnt]);
    fs.mkdirSync(path.join(this.mnt, 'layers'));
    fs.mkdirSync(path.join(this.mnt, 'containers'));
  }

  /** The read-only subvolume of the top of this stack (topmost first, as overlayfs takes them), built once per bench run. */
  topLayer(lowers: string[]): Promise<string> {
    const bottomFirst = [...lowers].reverse();
    return this.layer(bottomFirst, bottomFirst.length);
  }

  private layer(bottomFirst: string[], n: number): Promise<string> {
    const id = stackId(bottomFirst.slice(0, n));
    let p = this.layers.get(id);
    if (!p) {
      p = (async () => {
        const dir = path.join(this.mnt, 'layers', id);
        if (n === 1) await must(['btrfs', '-q', 'subvolume', 'create', dir]);
        else await must(['btrfs', '-q', 'subvolume', 'snapshot', await this.layer(bottomFirst, n - 1), dir]);
        this.status(`btrfs: applying layer ${n}/${bottomFirst.length}`);
        applyLayer(bottomFirst[n - 1], dir);
        await must(['btrfs', 'property', 'set', '-ts', dir, 'ro', 'true']);
        return dir;
      })();
      // A failed build is not cached: the next mount tries again and reports its own error.
      p.catch(() => this.layers.delete(id));
      this.layers.set(id, p);
    }
    return p;
  }

  /** A writable snapshot of the stack's top layer; seconds is the snapshot command's wall time. */
  async snapshot(lowers: string[], name: string): Promise<{ dir: string; seconds: number }> {
    const top = await this.topLayer(lowers);
    const dir = path.join(this.mnt, 'containers', name);
    const r = await must(['btrfs', '-q', 'subvolume', 'snapshot', top, dir], { precise: true });
    return { dir, seconds: r.seconds };
  }

  /** Deletes a container's snapshot and waits until btrfs has freed its space, so the next run does not pay for it. */
  async remove(dir: string): Promise<void> {
    if (!fs.existsSync(dir)) return;
    await must(['btrfs', '-q', 'subvolume', 'delete', dir], { cleanup: true });
    await must(['btrfs', '-q', 'subvolume', 'sync', this.mnt], { cleanup: true });
  }

  /** Unmounts, detaches the loop device and deletes the image: nothing of it outlives the bench. */
  async close(): Promise<void> {
    this.layers.clear();
    this.loop = null;
    await BtrfsPool.removeLeftovers(path.dirname(this.root));
  }
}
