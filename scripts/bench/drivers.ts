import * as fs from 'node:fs';
import { describeFailure, must, run, shq } from './exec';
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
  mnt: string;
  /** The userspace daemon, for memory figures; null for in-kernel drivers and the floor. */
  daemonPid: number | null;
}

export interface Driver {
  name: string;
  description: string;
  /** The plain upper filesystem: a floor, not a union. */
  floor: boolean;
  /** Why the driver cannot run here, or null. */
  unavailable(): string | null;
  mount(req: MountRequest): Promise<Mounted>;
}

const MOUNT_TIMEOUT_MS = 60_000;

function overlayOptions(r: MountRequest): string {
  return `lowerdir=${r.lowers.join(':')},upperdir=${r.upper},workdir=${r.work}`;
}

/** Runs a mount command, then checks something really is mounted there. */
async function mountWith(argv: string[], mnt: string, name?: string): Promise<Mounted> {
  const r = await run(argv, { timeoutMs: MOUNT_TIMEOUT_MS });
  if (r.code !== 0) throw new Error(`mount failed: ${describeFailure(argv, r, name)}`);
  const m = mountAt(mnt);
  if (!m) throw new Error(`mount failed: ${argv[0]} exited 0 but nothing is mounted on ${mnt}`);
  return { mnt, daemonPid: m.fsType.startsWith('fuse') ? fuseDaemonPid(mnt) : null };
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

export const kernelOverlay: Driver = {
  name: 'overlay',
  description: 'kernel overlayfs (mount -t overlay)',
  floor: false,
  unavailable() {
    const fsList = fs.readFileSync('/proc/filesystems', 'utf8');
    // Not listed until the module is loaded; mount(8) loads it, so only note if mount is missing.
    if (!/\boverlay\b/.test(fsList) && !which('modprobe')) return 'overlay filesystem not available';
    return which('mount') ? null : 'mount(8) not found';
  },
  mount: (r) => mountWith(['mount', '-t', 'overlay', 'overlay', '-o', overlayOptions(r), r.mnt], r.mnt),
};

export const fuseOverlayfs: Driver = {
  name: 'fuse-overlayfs',
  description: 'fuse-overlayfs (Debian package)',
  floor: false,
  unavailable: () => (which('fuse-overlayfs') ? null : 'fuse-overlayfs not installed (apt-get install fuse-overlayfs)'),
  mount: (r) => mountWith(['fuse-overlayfs', '-o', overlayOptions(r), r.mnt], r.mnt),
};

export const strataFs: Driver = {
  name: 'strata-fs',
  description: 'strata-fs (bin/strata-fs of this checkout)',
  floor: false,
  unavailable: () => (fs.existsSync(binPath('strata-fs')) ? null : `${binPath('strata-fs')} not found (not built?)`),
  mount: (r) => mountWith([...nodeScriptArgv(binPath('strata-fs')), '-o', overlayOptions(r), r.mnt], r.mnt),
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
  unavailable: () => null,
  async mount(r) {
    if (r.lowers.length !== 1) throw new Error('the plain floor needs a single lower layer');
    await must(['cp', '-a', r.copyData ? '--reflink=auto' : '--link', '--', `${r.lowers[0]}/.`, r.mnt]);
    return { mnt: r.mnt, daemonPid: null };
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

export const builtinDrivers: Driver[] = [kernelOverlay, fuseOverlayfs, strataFs, plain];

/** The reference columns that ratios are computed against. */
export const REFERENCES = ['overlay', 'fuse-overlayfs'] as const;
