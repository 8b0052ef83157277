import * as fs from 'node:fs';
import * as path from 'node:path';
import { BtrfsPool } from './btrfs';
import { describeFailure, must, run, shq } from './exec';
import { applyLayer, stackId } from './layers';
import { Sizes } from './options';
import { binPath, which } from './paths';
import { fuseDaemonPid, mountAt } from './procs';

export interface MountRequest {
  /** Topmost first, as in overlayfs's lowerdir=. */
  lowers: string[];
  upper: string;
  work: string;
  mnt: string;
  /** The workload modifies lower files in place; the plain floor then needs real copies, not hard links. */
  copyData: boolean;
}

export interface Mounted {
  /** Where the workload runs: the mount point, or the driver's own directory (a btrfs snapshot). */
  mnt: string;
  /** The userspace daemon, for memory figures; null for in-kernel drivers and the floor. */
  daemonPid: number | null;
  /** Wall time of making the container ready (the mount command, the snapshot, the copy), in seconds. */
  seconds: number;
  /** Deletes what the driver made besides the mount (a snapshot); called after unmounting. */
  release?(): Promise<void>;
}

export interface DriverCtx {
  workdir: string;
  sizes: Sizes;
  /** Progress text while a driver lays down layers. */
  status(msg: string): void;
}

export interface Driver {
  name: string;
  description: string;
  /** The plain upper filesystem: a floor, not a union. */
  floor: boolean;
  /** A FUSE daemon (or a mount command given with --driver): also compared against fuse-overlayfs. */
  fuse: boolean;
  /** Why the driver cannot run here, or null. */
  unavailable(): string | null;
  /** Once before the driver's first mount in a bench run; close() once after its last (always, if open() ran). */
  open?(ctx: DriverCtx): Promise<void>;
  close?(): Promise<void>;
  mount(req: MountRequest): Promise<Mounted>;
  /** Workload id -> why that workload means nothing on this driver: n/a, with the reason as a footnote. */
  notFor?: Record<string, string>;
  /** Workload id -> what its figure measures on this driver (a footnote on the cell). */
  remarks?: Record<string, string>;
  /** What to know about all of this driver's figures (listed with the footnotes). */
  caveat?: string;
}

const MOUNT_TIMEOUT_MS = 60_000;

function overlayOptions(r: MountRequest): string {
  return `lowerdir=${r.lowers.join(':')},upperdir=${r.upper},workdir=${r.work}`;
}

/** Runs a mount command, then checks something really is mounted there. */
async function mountWith(argv: string[], mnt: string, name?: string): Promise<Mounted> {
  // Timed like a workload's command: the new-container workload counts the mount.
  const r = await run(argv, { timeoutMs: MOUNT_TIMEOUT_MS, precise: true });
  if (r.code !== 0) throw new Error(`mount failed: ${describeFailure(argv, r, name)}`);
  const m = mountAt(mnt);
  if (!m) throw new Error(`mount failed: ${argv[0]} exited 0 but nothing is mounted on ${mnt}`);
  return { mnt, daemonPid: m.fsType.startsWith('fuse') ? fuseDaemonPid(mnt) : null, seconds: r.seconds };
}

/** Node entry points may lack the exec bit in a fresh checkout; run them through node then. */
function nodeScriptArgv(file: string): string[] {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return [file];
  } catch {
    return [process.execPath, file];
  }
}

function overlayUnavailable(): string | null {
  const fsList = fs.readFileSync('/proc/filesystems', 'utf8');
  // Not listed until the module is loaded; mount(8) loads it, so only note if mount is missing.
  if (!/\boverlay\b/.test(fsList) && !which('modprobe')) return 'overlay filesystem not available';
  return which('mount') ? null : 'mount(8) not found';
}

export const kernelOverlay: Driver = {
  name: 'overlay',
  description: 'kernel overlayfs (mount -t overlay), docker\'s overlay2',
  floor: false,
  fuse: false,
  unavailable: overlayUnavailable,
  mount: (r) => mountWith(['mount', '-t', 'overlay', 'overlay', '-o', overlayOptions(r), r.mnt], r.mnt),
};

/** Copy-up of metadata only (chmod, chown, xattrs) until the data is written; renamed directories keep their lower contents. */
export const overlayMetacopy: Driver = {
  name: 'overlay-metacopy',
  description: 'kernel overlayfs with redirect_dir=on,metacopy=on',
  floor: false,
  fuse: false,
  unavailable: overlayUnavailable,
  mount: (r) => mountWith(['mount', '-t', 'overlay', 'overlay', '-o', `${overlayOptions(r)},redirect_dir=on,metacopy=on`, r.mnt], r.mnt),
};

export const fuseOverlayfs: Driver = {
  name: 'fuse-overlayfs',
  description: 'fuse-overlayfs (Debian package)',
  floor: false,
  fuse: true,
  unavailable: () => (which('fuse-overlayfs') ? null : 'fuse-overlayfs not installed (apt-get install fuse-overlayfs)'),
  mount: (r) => mountWith(['fuse-overlayfs', '-o', overlayOptions(r), r.mnt], r.mnt),
};

export const strataFs: Driver = {
  name: 'strata-fs',
  description: 'strata-fs (bin/strata-fs of this checkout)',
  floor: false,
  fuse: true,
  unavailable: () => (fs.existsSync(binPath('strata-fs')) ? null : `${binPath('strata-fs')} not found (not built?)`),
  mount: (r) => mountStrataFs(r),
};

function mountStrataFs(r: MountRequest, extra = ''): Promise<Mounted> {
  return mountWith([...nodeScriptArgv(binPath('strata-fs')), '-o', overlayOptions(r) + extra, r.mnt], r.mnt);
}

/** The kernel's switch for FUSE over io_uring; it applies to mounts made while it is on. */
const ENABLE_URING = '/sys/module/fuse/parameters/enable_uring';
let uringWas: string | null = null;

/** strata-fs serving requests over FUSE io_uring (uring=on) instead of read/write on /dev/fuse. */
export const strataUring: Driver = {
  name: 'strata-uring',
  description: 'strata-fs with uring=on (FUSE over io_uring; the kernel\'s enable_uring switched on for the run)',
  floor: false,
  fuse: true,
  unavailable: () => {
    const noStrata = strataFs.unavailable();
    if (noStrata) return noStrata;
    if (!fs.existsSync(ENABLE_URING)) return `this kernel has no FUSE over io_uring (${ENABLE_URING} missing)`;
    try {
      fs.accessSync(ENABLE_URING, fs.constants.W_OK);
    } catch {
      return `${ENABLE_URING} is not writable (root only)`;
    }
    return null;
  },
  async open() {
    uringWas = fs.readFileSync(ENABLE_URING, 'utf8').trim();
    fs.writeFileSync(ENABLE_URING, 'Y');
  },
  async close() {
    // as it was: other drivers' and the host's later mounts keep /dev/fuse
    if (uringWas !== null) fs.writeFileSync(ENABLE_URING, uringWas);
    uringWas = null;
  },
  mount: (r) => mountStrataFs(r, ',uring=on'),
};

/**
 * unionfs-fuse 1.0 (Debian): branches given as DIR=RW:DIR=RO:..., copy-on-write on,
 * its own deletion records (.unionfs-fuse/NAME_HIDDEN~ in the writable branch) hidden
 * from listings. It knows nothing of overlayfs's format (see the caveat).
 */
export const unionfsFuse: Driver = {
  name: 'unionfs-fuse',
  description: 'unionfs-fuse (Debian package), -o cow',
  floor: false,
  fuse: true,
  unavailable: () => (which('unionfs') ? null : 'unionfs-fuse not installed (apt-get install unionfs-fuse)'),
  mount: (r) =>
    mountWith(
      [
        'unionfs',
        '-o',
        'cow,allow_other,use_ino,suid,dev,hide_meta_files',
        [`${r.upper}=RW`, ...r.lowers.map((l) => `${l}=RO`)].join(':'),
        r.mnt,
      ],
      r.mnt,
    ),
  caveat:
    "unionfs-fuse: the lowers are in overlayfs's format, which unionfs-fuse does not read: it records deletions as " +
    '.unionfs-fuse/NAME_HIDDEN~ files in a branch, so an overlay whiteout (a 0/0 character device) shows as that device ' +
    'and an opaque directory (trusted.overlay.opaque) is merged with the layers below it. Only new-container has ' +
    "such lowers (the grandchild image's layers 2 and 3); every other workload's lower is a single layer.",
};

// The two drivers without a union keep state for one bench run: where their layers are.
let btrfsPool: BtrfsPool | null = null;

function btrfsSizeMiB(s: Sizes): number {
  // Room for the big lower, a new file of each kind written in a run, and the trees; sparse, so it costs what is used.
  return 4 * Math.max(s.bigMiB, s.writeMiB, s.randFileMiB) + 4096;
}

/** docker's btrfs driver: a layer is a subvolume snapshot of its parent plus its changes, a container a writable snapshot of the top layer. */
export const btrfs: Driver = {
  name: 'btrfs',
  description: 'btrfs subvolume snapshot per container (docker\'s btrfs driver), on a loop-mounted image',
  floor: false,
  fuse: false,
  unavailable: () => BtrfsPool.unavailable(),
  async open(ctx) {
    btrfsPool = new BtrfsPool(ctx.workdir, btrfsSizeMiB(ctx.sizes), ctx.status);
    await btrfsPool.open();
  },
  async close() {
    const pool = btrfsPool;
    btrfsPool = null;
    await pool?.close();
  },
  async mount(r) {
    const pool = btrfsPool;
    if (!pool) throw new Error('btrfs driver used before open()');
    // The run's scratch dir name is unique: the snapshot takes it.
    const snap = await pool.snapshot(r.lowers, path.basename(path.dirname(r.mnt)));
    return { mnt: snap.dir, daemonPid: null, seconds: snap.seconds, release: () => pool.remove(snap.dir) };
  },
  remarks: {
    'copy-up': 'btrfs: no copy of the file: the snapshot shares its extents and the write allocates only the new 4 KiB block (CoW of the extent)',
  },
  caveat:
    'btrfs: each lower stack laid down once per bench run as a chain of subvolumes (each a snapshot of the one below with the ' +
    'layer applied) on a sparse image file in the work dir, loop device with direct I/O, mounted discard=async; a container ' +
    'is a writable snapshot of the top subvolume, deleted (and `btrfs subvolume sync`ed) after each run.',
};

/** Flattened copies of lower stacks, built once per bench run. */
class FlatTrees {
  private readonly built = new Map<string, Promise<string>>();

  constructor(
    private readonly root: string,
    private readonly status: (msg: string) => void,
  ) {}

  of(lowers: string[]): Promise<string> {
    // A single layer is its own flattened tree.
    if (lowers.length === 1) return Promise.resolve(lowers[0]);
    const bottomFirst = [...lowers].reverse();
    const id = stackId(bottomFirst);
    let p = this.built.get(id);
    if (!p) {
      p = (async () => {
        const dir = path.join(this.root, id);
        fs.rmSync(dir, { recursive: true, force: true });
        fs.mkdirSync(dir, { recursive: true });
        bottomFirst.forEach((l, i) => {
          this.status(`vfs: flattening layer ${i + 1}/${bottomFirst.length}`);
          applyLayer(l, dir);
        });
        return dir;
      })();
      p.catch(() => this.built.delete(id));
      this.built.set(id, p);
    }
    return p;
  }

  close(): void {
    this.built.clear();
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}

let flatTrees: FlatTrees | null = null;

/** docker's vfs driver: no union, every container a full copy of its image's tree. */
export const vfs: Driver = {
  name: 'vfs',
  description: "full copy per container (docker's vfs driver): cp -a of the flattened image",
  floor: false,
  fuse: false,
  unavailable: () => null,
  async open(ctx) {
    flatTrees = new FlatTrees(path.join(ctx.workdir, 'vfs'), ctx.status);
  },
  async close() {
    flatTrees?.close();
    flatTrees = null;
  },
  async mount(r) {
    if (!flatTrees) throw new Error('vfs driver used before open()');
    const src = await flatTrees.of(r.lowers);
    const c = await must(['cp', '-a', '--', `${src}/.`, r.mnt], { precise: true });
    return { mnt: r.mnt, daemonPid: null, seconds: c.seconds };
  },
  notFor: {
    'copy-up': 'vfs: no copy-up: a container is a full copy, and its first write into a file is a plain write',
  },
  caveat: "vfs: a multi-layer lower stack is flattened once per bench run into the work dir; each container is a `cp -a` of it (of the layer itself when there is one).",
};

/**
 * The floor: the workload runs in a plain directory of the upper filesystem
 * holding the same files. Hard links make populating it cheap; workloads that
 * write into existing files get real copies so the cached lowers stay intact.
 */
export const plain: Driver = {
  name: 'plain',
  description: 'plain directory on the upper filesystem (floor)',
  floor: true,
  fuse: false,
  unavailable: () => null,
  async mount(r) {
    if (r.lowers.length !== 1) throw new Error('the plain floor needs a single lower layer');
    const c = await must(['cp', '-a', r.copyData ? '--reflink=auto' : '--link', '--', `${r.lowers[0]}/.`, r.mnt], { precise: true });
    return { mnt: r.mnt, daemonPid: null, seconds: c.seconds };
  },
  notFor: {
    'new-container': 'plain: the floor is a directory of hard links to one layer, not a way to make containers',
  },
};

/** A driver given on the command line: --driver 'name=cmd {lowerdir} {upperdir} {workdir} {mnt}'. */
export function customDriver(spec: string): Driver {
  const eq = spec.indexOf('=');
  const name = eq > 0 ? spec.slice(0, eq) : '';
  const template = spec.slice(eq + 1).trim();
  if (!/^[A-Za-z0-9._-]+$/.test(name) || !template) {
    throw new Error(`bad --driver ${JSON.stringify(spec)}: expected NAME='mount command with {lowerdir} {upperdir} {workdir} {mnt}'`);
  }
  if (!template.includes('{mnt}')) throw new Error(`bad --driver ${name}: the command must contain {mnt}`);
  return {
    name,
    description: `custom: ${template}`,
    floor: false,
    fuse: true,
    unavailable: () => null,
    mount(r) {
      const cmd = template
        .replace(/\{lowerdir\}/g, shq(r.lowers.join(':')))
        .replace(/\{upperdir\}/g, shq(r.upper))
        .replace(/\{workdir\}/g, shq(r.work))
        .replace(/\{mnt\}/g, shq(r.mnt));
      return mountWith(['sh', '-c', cmd], r.mnt, 'mount command');
    },
  };
}

/** In table order: the references first, then the other unions, the drivers without a union, the floor. */
export const builtinDrivers: Driver[] = [kernelOverlay, fuseOverlayfs, strataFs, strataUring, overlayMetacopy, unionfsFuse, btrfs, vfs, plain];

/** The reference columns that ratios are computed against. */
export const REFERENCES = ['overlay', 'fuse-overlayfs'] as const;
