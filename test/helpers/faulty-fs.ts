// Starts and stops faulty-fs-child.js: a FUSE mount of a real directory whose chosen
// operations on chosen names fail with EIO, to serve as a lower layer that really errs.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Faults } from './faulty-fs-child';
import { fstypeAt, unmount } from './mount';
import { alive, sleep } from './rel-daemon';

export type { Faults };

const CHILD = path.join(__dirname, 'faulty-fs-child.js');

export interface FaultyFs {
  mnt: string;
  pid: number;
  /** "op name" for every EIO it has answered so far */
  injected(): string[];
  /** Unmounts (anything stacked on it must be gone first) and waits for the process. */
  stop(): Promise<void>;
}

/** `report` is a file (outside the mount) where it records the EIOs it answered. */
export async function startFaultyFs(src: string, mnt: string, report: string, faults: Faults): Promise<FaultyFs> {
  fs.writeFileSync(report, '');
  const child = spawn(process.execPath, [CHILD, src, mnt, report, JSON.stringify(faults)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let partial = '';
  let stderr = '';
  let ready!: () => void;
  let failed!: (e: Error) => void;
  const up = new Promise<void>((res, rej) => { ready = res; failed = rej; });
  child.stdout!.on('data', (d: Buffer) => {
    partial += d.toString();
    let nl: number;
    while ((nl = partial.indexOf('\n')) >= 0) {
      const line = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      if (line === 'ready') ready();
    }
  });
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  const exited = new Promise<void>((res) => child.once('exit', (code, sig) => {
    failed(new Error(`faulty-fs exited (${sig ?? code}) before it was mounted: ${stderr.trim()}`));
    res();
  }));
  const timer = setTimeout(() => failed(new Error(`faulty-fs not ready after 30 s: ${stderr.trim()}`)), 30_000);
  try {
    await up;
  } catch (e) {
    child.kill('SIGKILL');
    if (fstypeAt(mnt)) unmount(mnt);
    throw e;
  } finally {
    clearTimeout(timer);
  }
  if (fstypeAt(mnt) !== 'fuse.strata-faulty') throw new Error(`faulty-fs said ready but ${mnt} is not its mount`);
  const pid = child.pid!;
  return {
    mnt,
    pid,
    injected: () => fs.readFileSync(report, 'utf8').split('\n').filter(Boolean),
    async stop() {
      if (fstypeAt(mnt)) unmount(mnt);
      const gone = await Promise.race([exited.then(() => true), sleep(10_000).then(() => false)]);
      if (!gone && alive(pid)) child.kill('SIGKILL');
    },
  };
}
