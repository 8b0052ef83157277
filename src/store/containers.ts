// Containers: an image's layers plus a private upper dir, mounted on demand by
// strata-fs (or kernel overlayfs, which reads the same on-disk format).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { Store, ContainerRecord, ImageRecord, MountState, writeFileAtomic } from './store';
import { causeOf, mkdirs } from './root';
import { mountOverlay } from '../native';
import { PASSED_FUSE_FD, launchDaemon } from '../launch';
import { hostIdMappingOptions, inUserNamespace, insideUserNamespace, namespaceId, needsUserNamespace, removeTree } from '../userns';

export type Driver = 'strata-fs' | 'overlay';

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;

export function upperDir(store: Store, id: string): string {
  return path.join(store.containerDir(id), 'upper');
}
export function workDir(store: Store, id: string): string {
  return path.join(store.containerDir(id), 'work');
}

function randomName(): string {
  const a = ['brave', 'calm', 'eager', 'keen', 'quiet', 'swift', 'tidy', 'wise', 'bold', 'merry'];
  const b = ['otter', 'heron', 'lynx', 'marten', 'ibis', 'newt', 'vole', 'wren', 'yak', 'finch'];
  return `${a[randomBytes(1)[0] % a.length]}_${b[randomBytes(1)[0] % b.length]}_${randomBytes(2).toString('hex')}`;
}

export function createContainer(store: Store, image: ImageRecord, imageRef: string, name?: string): ContainerRecord {
  if (name !== undefined && !NAME_RE.test(name)) throw new Error(`invalid container name ${JSON.stringify(name)}`);
  const all = store.containers();
  const nm = name ?? randomName();
  if (all.some((c) => c.name === nm)) throw new Error(`container name ${JSON.stringify(nm)} is already in use`);
  const id = randomBytes(32).toString('hex');
  const rec: ContainerRecord = { id, name: nm, image: image.id, imageRef, layers: image.layers.map((l) => l.chainId), created: new Date().toISOString() };
  // built under tmp/ and renamed: a container dir exists only when complete
  const tmp = store.makeTmp('create');
  for (const d of ['upper', 'work', 'merged']) fs.mkdirSync(path.join(tmp, d), { mode: 0o755 });
  // the upper root takes the image root's metadata, as the merged root shows the upper's
  // (an image FROM scratch has no layers: its root is the upper's own)
  if (rec.layers.length) {
    const rootStat = fs.lstatSync(store.layerDir(rec.layers[rec.layers.length - 1]));
    fs.chmodSync(path.join(tmp, 'upper'), rootStat.mode & 0o7777);
    chownAsNamespace(store, path.join(tmp, 'upper'), rootStat.uid, rootStat.gid);
  }
  fs.writeFileSync(path.join(tmp, 'container.json'), JSON.stringify(rec, null, 2) + '\n');
  fs.renameSync(tmp, store.containerDir(id));
  return rec;
}

/** chown, which in a user's store gives the owner through the user's namespace when the
 *  user alone may not (an image root owned by a subordinate ID). */
function chownAsNamespace(store: Store, p: string, uid: number, gid: number): void {
  try {
    fs.chownSync(p, uid, gid);
    return;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM' || !store.rootless) throw e;
  }
  const u = namespaceId(uid, 'uid');
  const g = namespaceId(gid, 'gid');
  if (u === null || g === null) throw new Error(`cannot give ${p} the owner ${uid}:${gid}: outside your subordinate ID ranges`);
  const argv = inUserNamespace(['chown', '-h', `${u}:${g}`, '--', p]);
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`cannot give ${p} the owner ${uid}:${gid}: ${(r.stderr || `exit ${r.status}`).trim().split('\n').pop()}`);
}

function unescapeMountinfo(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** The filesystem type mounted exactly at p, or null. */
export function mountedFsType(p: string): string | null {
  // resolve only the parent: a stat of the mountpoint itself would wait on a hung FUSE server
  let real: string;
  try {
    const abs = path.resolve(p);
    real = abs === '/' ? '/' : path.join(fs.realpathSync(path.dirname(abs)), path.basename(abs));
  } catch {
    return null;
  }
  const lines = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n');
  let found: string | null = null;
  for (const l of lines) {
    const parts = l.split(' ');
    if (parts.length < 10) continue;
    if (unescapeMountinfo(parts[4]) !== real) continue;
    const sep = parts.indexOf('-');
    found = parts[sep + 1] ?? null; // the last one listed is the one on top
  }
  return found;
}

/** Every mount point at or below dir (deepest last). */
export function mountsUnder(dir: string): string[] {
  const out: string[] = [];
  for (const l of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const mp = l.split(' ')[4];
    if (!mp) continue;
    const m = unescapeMountinfo(mp);
    if (m === dir || m.startsWith(dir + '/')) out.push(m);
  }
  return out;
}

const SHELLS = new Set(['sh', 'dash', 'bash']);

/** The strata-fs daemons serving mountpoint (their argv ends with it). */
export function strataDaemonsFor(mountpoint: string): number[] {
  const out: number[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    let argv: string[];
    try {
      argv = fs.readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0').filter(Boolean);
    } catch {
      continue; // exited meanwhile
    }
    // a daemon serving a descriptor (/dev/fd/N) carries its mountpoint as an ignored option;
    // the shell that started it in the user's namespace (and waits for it) has the same
    // words in its argv, and is not the daemon
    if ((argv[argv.length - 1] === mountpoint || argv.includes(mountpointTag(mountpoint))) && argv.some((a) => a.endsWith('strata-fs')) && !SHELLS.has(path.basename(argv[0] ?? ''))) out.push(Number(e));
  }
  return out;
}

/** The option naming a daemon's mountpoint when its argv ends with /dev/fd/N (strata-fs
 *  ignores x-* options, as mount(8) helpers do). */
export function mountpointTag(mountpoint: string): string {
  return `x-strata.mountpoint=${mountpoint.replace(/[\\,]/g, '\\$&')}`;
}

/** The strata-fs daemon serving mountpoint, or null. */
export function strataDaemonFor(mountpoint: string): number | null {
  return strataDaemonsFor(mountpoint)[0] ?? null;
}

export type MountHealth = 'absent' | 'live' | 'stale';

/**
 * 'stale': still in the mount table but its FUSE daemon is gone, so every access
 * answers ENOTCONN. Decided from /proc, never by touching the mountpoint, which could
 * hang on a live but stuck daemon.
 */
export function mountHealth(mountpoint: string): MountHealth {
  const t = mountedFsType(mountpoint);
  if (!t) return 'absent';
  if (!t.startsWith('fuse')) return 'live';
  return strataDaemonFor(mountpoint) === null ? 'stale' : 'live';
}

/** Detaches a mount whatever holds it (umount -l; fusermount3 -u -z for FUSE). */
export function lazyUnmount(mountpoint: string): void {
  let r = needsUserNamespace() && mountedFsType(mountpoint)?.startsWith('fuse')
    ? spawnSync('fusermount3', ['-u', '-z', mountpoint], { encoding: 'utf8' })
    : spawnSync('umount', ['-l', mountpoint], { encoding: 'utf8' });
  if (r.status !== 0 && mountedFsType(mountpoint)?.startsWith('fuse')) r = spawnSync('fusermount3', ['-u', '-z', mountpoint], { encoding: 'utf8' });
  if (mountedFsType(mountpoint)) throw new Error(`cannot detach ${mountpoint}: ${(r.stderr || r.error?.message || '').trim().split('\n')[0]}`);
}

export function isMounted(store: Store, c: ContainerRecord): MountState | null {
  const st = store.mountState(c.id);
  if (!st) return null;
  return mountedFsType(st.mountpoint) ? st : null;
}

export function mountOptions(store: Store, c: ContainerRecord, driver: Driver): string {
  // the kernel takes one page of options, hence short symlinked names; strata-fs gets
  // the real dirs (it opens layer roots without following symlinks)
  const lowers = driver === 'overlay' ? store.shortLowerDirs(c.layers) : store.lowerDirs(c.layers);
  // the runtime's init layer (src/runtime/rootfs.ts): mountpoints the image lacks, kept out of the upper
  const init = path.join(store.containerDir(c.id), 'init');
  if (fs.existsSync(init)) lowers.unshift(init);
  const lower = lowers.join(':');
  return `lowerdir=${lower},upperdir=${upperDir(store, c.id)},workdir=${workDir(store, c.id)}`;
}

export interface MountOptions {
  /** mount over a directory that has files in it (they are hidden while mounted) */
  force?: boolean;
}

export async function mountContainer(store: Store, c: ContainerRecord, mountpoint: string | undefined, driver: Driver, mo: MountOptions = {}): Promise<MountState> {
  let cur = isMounted(store, c);
  if (cur && mountHealth(cur.mountpoint) === 'stale') {
    // its daemon died (kill -9, OOM): the upper holds everything written; start over
    lazyUnmount(cur.mountpoint);
    store.setMountState(c.id, null);
    cur = null;
  }
  if (cur) {
    if (mountpoint && path.resolve(mountpoint) !== cur.mountpoint) throw new Error(`container ${c.name} is already mounted at ${cur.mountpoint}`);
    return cur;
  }
  for (const l of c.layers) if (!store.hasLayer(l)) throw new Error(`container ${c.name}: layer ${l} is missing from the store`);
  const mnt = path.resolve(mountpoint ?? path.join(store.containerDir(c.id), 'merged'));
  if (mountHealth(mnt) === 'stale') lazyUnmount(mnt); // a dead daemon's mount left without mount state
  try {
    mkdirs(mnt);
  } catch (e) {
    throw new Error(`cannot create mountpoint ${mnt}: ${causeOf(e as NodeJS.ErrnoException)}`);
  }
  if (mountedFsType(mnt)) {
    const holder = store.containers().find((o) => o.id !== c.id && store.mountState(o.id)?.mountpoint === mnt);
    throw new Error(`${mnt} is already a mount point${holder ? ` (container ${holder.name} is mounted there)` : ''}: give another directory`);
  }
  // files there would be hidden under the mount, and whoever put them there surprised
  if (!mo.force && mnt !== path.join(store.containerDir(c.id), 'merged')) {
    let entries: string[];
    try {
      entries = fs.readdirSync(mnt);
    } catch (e) {
      throw new Error(`cannot use mountpoint ${mnt}: ${(e as NodeJS.ErrnoException).code === 'ENOTDIR' ? 'not a directory' : (e as Error).message}`);
    }
    if (entries.length) throw new Error(`mountpoint ${mnt} is not empty (${entries.length} entr${entries.length === 1 ? 'y' : 'ies'}, e.g. ${entries[0]}): use an empty directory, or --force to mount over it`);
  }
  const opts = mountOptions(store, c, driver);
  if (driver === 'overlay' && opts.length > 4000) throw new Error(`mount options too long (${opts.length} bytes): store root path too long for ${c.layers.length} layers`);
  if (driver === 'overlay' && store.rootless) throw new Error('the overlay driver needs root (a kernel overlay mount in your namespaces would be gone with them): use --driver strata-fs, or run as root');
  // a leftover work/ from an unclean unmount makes overlayfs refuse: start it fresh
  const work = workDir(store, c.id);
  removeTree(work);
  fs.mkdirSync(work, { mode: 0o755 });
  if (store.rootless && insideUserNamespace()) {
    // a container's root, mounted by its supervisor as root of the user's namespace (in a
    // mount namespace of its own): the kernel admits the namespace's other IDs with
    // allow_other, and speaks the namespace's IDs to the daemon (no mapping needed)
    try {
      await launchDaemon(['-o', `${opts},userxattr,allow_other`, mnt]);
    } catch (e) {
      throw new Error(`strata-fs failed to mount ${mnt}: ${(e as Error).message}`);
    }
    if (!mountedFsType(mnt)) throw new Error(`strata-fs returned but ${mnt} is not mounted`);
  } else if (store.rootless) {
    await mountInUserNamespace(opts, mnt);
    if (!mountedFsType(mnt)) throw new Error(`strata-fs returned but ${mnt} is not mounted`);
  } else if (driver === 'overlay') {
    try {
      mountOverlay(mnt, opts);
    } catch (e) {
      throw new Error(`overlay mount of ${mnt} failed: ${(e as Error).message}`);
    }
  } else {
    try {
      await launchDaemon(['-o', opts, mnt]);
    } catch (e) {
      throw new Error(`strata-fs failed to mount ${mnt}: ${(e as Error).message}`);
    }
    if (!mountedFsType(mnt)) throw new Error(`strata-fs returned but ${mnt} is not mounted`);
  }
  const st: MountState = { mountpoint: mnt, driver, since: new Date().toISOString() };
  store.setMountState(c.id, st);
  return st;
}

/**
 * A user's store: fusermount3 mounts in the host's namespaces (so the user sees the mount
 * like any FUSE mount of theirs, and it outlives this command), and the daemon serves the
 * descriptor from the user's namespace, where it may give files any owner the layers use.
 * The kernel speaks the host's IDs to it: uidmapping/gidmapping translate (an owner 0 in
 * the namespace is the user, N the range's start + N - 1, as on disk).
 */
async function mountInUserNamespace(opts: string, mnt: string): Promise<void> {
  const { MS_NODEV, MS_NOSUID, mountThroughFusermount } = await import('../fuse/mount');
  const idOpts = hostIdMappingOptions(); // throws the one line about a missing range first
  const mounted = mountThroughFusermount({ source: 'strata', mountpoint: mnt, subtype: 'strata-fs', flags: MS_NOSUID | MS_NODEV, allowOther: false });
  try {
    await launchDaemon(['-o', `${opts},userxattr,${idOpts}`, '-o', mountpointTag(mnt), `/dev/fd/${PASSED_FUSE_FD}`], {
      // the daemon's stderr goes nowhere: the pipe that brings the launcher's reason for a
      // failure is closed once the mount is live, and a write to it would kill the daemon
      wrap: (argv) => inUserNamespace(['sh', '-c', 'exec "$@" 2>/dev/null', 'sh', ...argv]),
      fds: { [PASSED_FUSE_FD]: mounted.fd },
    });
  } catch (e) {
    try {
      mounted.unmount(true);
    } catch {
      /* reported below: the mount's failure is what matters */
    }
    throw new Error(`strata-fs failed to mount ${mnt}: ${(e as Error).message}`);
  } finally {
    fs.closeSync(mounted.fd);
  }
}

/** umount(8), or for a user's FUSE mount fusermount3 -u, which alone may unmount it. */
function unmount(mountpoint: string): ReturnType<typeof spawnSync> & { stderr: string } {
  const fuse = needsUserNamespace() && mountedFsType(mountpoint)?.startsWith('fuse');
  return spawnSync(fuse ? 'fusermount3' : 'umount', fuse ? ['-u', mountpoint] : [mountpoint], { encoding: 'utf8' });
}
function unmountOnce(mountpoint: string): number | null {
  return unmount(mountpoint).status;
}

export function umountContainer(store: Store, c: ContainerRecord, lazy = false): string | null {
  const st = store.mountState(c.id);
  if (!st) return null;
  const h = mountHealth(st.mountpoint);
  if (h === 'stale' || (h === 'live' && lazy)) lazyUnmount(st.mountpoint);
  else if (h === 'live') {
    // a user's FUSE mount goes through fusermount3, which alone may unmount it
    const r = unmount(st.mountpoint);
    if (r.status !== 0) {
      const why = (r.stderr || '').trim().split('\n')[0];
      throw new Error(`umount ${st.mountpoint} failed: ${why}${/busy/i.test(why) ? ' (a process uses it; strata umount --lazy detaches it anyway)' : ''}`);
    }
  }
  store.setMountState(c.id, null);
  return st.mountpoint;
}

export function removeContainer(store: Store, c: ContainerRecord, force: boolean): void {
  const m = isMounted(store, c);
  if (m) {
    if (!force) throw new Error(`container ${c.name} is mounted at ${m.mountpoint}; umount it first or use rm -f`);
    umountContainer(store, c);
  }
  // never recurse into a live mount: rm -rf through a union would write whiteouts,
  // through anything else it would delete someone's files
  const left = mountsUnder(store.containerDir(c.id));
  if (left.length) {
    if (!force) throw new Error(`container ${c.name} has a mount at ${left[0]}; umount it first or use rm -f`);
    for (const m of left.reverse()) {
      if (unmountOnce(m) !== 0 && mountHealth(m) === 'stale') lazyUnmount(m);
    }
    const still = mountsUnder(store.containerDir(c.id));
    if (still.length) throw new Error(`cannot unmount ${still[0]}`);
  }
  // rename first so a crash midway leaves garbage (no container.json), not half a container
  const trash = path.join(store.tmpRoot, `rm-${c.id}`);
  fs.renameSync(store.containerDir(c.id), trash);
  removeTree(trash); // in a user's store the upper holds files of subordinate IDs
}

/** docker rename: a new, unused, valid name; the container's id and files stay. */
export function renameContainer(store: Store, c: ContainerRecord, name: string): ContainerRecord {
  if (!NAME_RE.test(name)) throw new Error(`invalid container name ${JSON.stringify(name)} (letters, digits, _ . -, starting with a letter or digit)`);
  if (name === c.name) throw new Error(`container ${c.name} is already named ${name}`);
  const other = store.containers().find((o) => o.name === name);
  if (other) throw new Error(`container name ${JSON.stringify(name)} is already in use by container ${other.id.slice(0, 12)}`);
  const rec = { ...c, name };
  writeFileAtomic(path.join(store.containerDir(c.id), 'container.json'), JSON.stringify(rec, null, 2) + '\n', store.tmpRoot);
  return rec;
}
