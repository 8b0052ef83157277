// A container's life as a process: start (bundle, runc run --detach, supervision),
// stop, kill, wait, exec, pause for commit, removal of a running one. Next to
// container.json it keeps:
//   run.json       what it runs with (the options of run/create, see spec.ts)
//   state.json     created | running | exited, pids, times, exit code
//   container.log  its output (logs.ts); runtime.log: runc's own JSON log
//   bundle/        the OCI bundle (config.json; the root is the container's mount)
//   hosts, hostname, resolv.conf   bound over the container's /etc files
//   init/          mountpoints the image lacks, a lower layer above the image's
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirs } from '../store/root';
import { Store, ContainerRecord, MountState, readJson } from '../store/store';
import { isMounted, mountContainer, removeContainer, umountContainer } from '../store/containers';
import type { ImageConfig } from '../image/sources';
import { makeInitLayer, resolveInRoot } from './rootfs';
import { Runtime, RuntimeError } from './runc';
import { ContainerConfig, RunSpec, Volume, containerEnv, defaultHostname, defaultRunSpec, etcFiles, processArgs, processSpec, resolveUser, runtimeSpec } from './spec';
import { Launched, drained, isAlive, launch, procStart } from './supervise';
import { LogWriter } from './logs';
import { native } from '../native';
import { USER_NAMESPACE_ENV, inUserNamespace, insideUserNamespace } from '../userns';
import { humanDuration } from '../units';

export interface ContainerRun {
  status: 'created' | 'running' | 'exited';
  pid: number | null;
  pidStart: string | null;
  monitorPid: number | null;
  monitorStart: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  exitCode: number | null;
  /** the start mounted the container (and so unmounts it when the process ends) */
  mountedByRuntime: boolean;
}

const file = (store: Store, c: ContainerRecord, name: string) => path.join(store.containerDir(c.id), name);

/** Written next to the target and renamed: the store's tmp/ is emptied by every locked command. */
function writeAtomic(f: string, data: string): void {
  const tmp = `${f}.${randomBytes(4).toString('hex')}.tmp`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, f);
}

export function runSpecOf(store: Store, c: ContainerRecord): RunSpec {
  return { ...defaultRunSpec(), ...(readJson<Partial<RunSpec>>(file(store, c, 'run.json')) ?? {}) };
}

export function saveRunSpec(store: Store, c: ContainerRecord, spec: RunSpec): void {
  writeAtomic(file(store, c, 'run.json'), JSON.stringify(spec, null, 2) + '\n');
}

export function imageConfigOf(store: Store, imageId: string): ContainerConfig {
  const img = store.image(imageId);
  if (!img) throw new Error(`image ${imageId} is no longer in the store`);
  const cfg = JSON.parse(store.readBlob(img.configDigest).toString('utf8')) as ImageConfig;
  return (cfg.config ?? {}) as ContainerConfig;
}

export function runtimeOf(store: Store, spec: RunSpec): Runtime {
  return new Runtime(spec.runtime, path.join(store.root, 'runc'));
}

/** The runtime for commands to a container that runs: a user's container's runc runs as
 *  root of the user's namespace, in its supervisor's mount namespace (nsenter joins them;
 *  the user may, owning the namespace), so it may signal the container's every ID. */
function runtimeFor(store: Store, c: ContainerRecord): Runtime {
  const rt = runtimeOf(store, runSpecOf(store, c));
  if (!store.rootless || insideUserNamespace()) return rt;
  const st = stateOf(store, c);
  if (st.monitorPid === null || !isAlive(st.monitorPid, st.monitorStart)) return rt;
  return new Runtime(rt.bin, rt.stateRoot, ['nsenter', '--user', '--mount', '-t', String(st.monitorPid), '--']);
}

const runtimeLog = (store: Store, c: ContainerRecord) => file(store, c, 'runtime.log');
export const logFile = (store: Store, c: ContainerRecord) => file(store, c, 'container.log');

function blankRun(): ContainerRun {
  return { status: 'created', pid: null, pidStart: null, monitorPid: null, monitorStart: null, startedAt: null, finishedAt: null, exitCode: null, mountedByRuntime: false };
}

function saveRun(store: Store, c: ContainerRecord, st: ContainerRun): void {
  if (fs.existsSync(store.containerDir(c.id))) writeAtomic(file(store, c, 'state.json'), JSON.stringify(st) + '\n');
}

/** The container's state, with a process that died unwatched (its monitor killed) seen as exited. */
export function stateOf(store: Store, c: ContainerRecord): ContainerRun {
  const st = { ...blankRun(), ...(readJson<Partial<ContainerRun>>(file(store, c, 'state.json')) ?? {}) };
  if (st.status === 'running' && st.pid !== null && !isAlive(st.pid, st.pidStart)) {
    const monitorAlive = st.monitorPid !== null && isAlive(st.monitorPid, st.monitorStart);
    if (!monitorAlive) return { ...st, status: 'exited', exitCode: 255, finishedAt: st.finishedAt ?? new Date().toISOString() };
  }
  return st;
}

export function isRunning(store: Store, c: ContainerRecord): boolean {
  const st = stateOf(store, c);
  return st.status === 'running' && st.pid !== null && isAlive(st.pid, st.pidStart);
}

/** docker's units.HumanDuration */
/** docker ps's STATUS: "Created", "Up 3 seconds", "Exited (0) 5 seconds ago". */
export function statusText(st: ContainerRun, now = Date.now()): string {
  if (st.status === 'running') return `Up ${humanDuration(now - Date.parse(st.startedAt ?? new Date(now).toISOString()))}`;
  if (st.status === 'exited') return `Exited (${st.exitCode ?? 255}) ${humanDuration(now - Date.parse(st.finishedAt ?? new Date(now).toISOString()))} ago`;
  return 'Created';
}

/** The container's init layer (before its first mount): the mountpoints its image lacks. */
export function ensureInitLayer(store: Store, c: ContainerRecord): void {
  const init = file(store, c, 'init');
  if (fs.existsSync(init)) return;
  const tmp = init + '.tmp';
  fs.rmSync(tmp, { recursive: true, force: true });
  if (makeInitLayer(store.lowerDirs(c.layers), tmp)) fs.renameSync(tmp, init);
}

interface Prepared {
  spec: RunSpec;
  runtime: Runtime;
  bundle: string;
  mountedByRuntime: boolean;
}

/** Under the store lock: init layer, mount, /etc files, config.json. */
async function prepare(store: Store, c: ContainerRecord): Promise<Prepared> {
  const spec = runSpecOf(store, c);
  const img = imageConfigOf(store, c.image);
  const runtime = runtimeOf(store, spec);
  // a previous run's runtime record (a monitor that was killed) would make create fail
  try {
    runtime.delete(runtimeLog(store, c), c.id, true);
  } catch {
    /* nothing to delete */
  }
  let m = isMounted(store, c);
  const mountedByRuntime = m === null;
  try {
    return await prepareMounted(store, c, spec, img, runtime, m, mountedByRuntime);
  } catch (e) {
    // nothing started: leave the container as it was (or gone, with --rm)
    if (spec.autoRemove) removeContainer(store, c, true);
    else if (mountedByRuntime && isMounted(store, c)) umountContainer(store, c, true);
    throw e instanceof RuntimeError ? e : new RuntimeError((e as Error).message);
  }
}

async function prepareMounted(store: Store, c: ContainerRecord, spec: RunSpec, img: ContainerConfig, runtime: Runtime, m: MountState | null, mountedByRuntime: boolean): Promise<Prepared> {
  if (!m) {
    ensureInitLayer(store, c);
    m = await mountContainer(store, c, undefined, 'strata-fs');
  }
  const rootfs = m.mountpoint;
  const hostname = spec.hostname ?? defaultHostname(spec.network, c.id);
  const etc = etcFiles(spec.network, hostname);
  const etcPaths = { hosts: file(store, c, 'hosts'), hostname: file(store, c, 'hostname'), resolv: file(store, c, 'resolv.conf') };
  fs.writeFileSync(etcPaths.hosts, etc.hosts);
  fs.writeFileSync(etcPaths.hostname, etc.hostname);
  fs.writeFileSync(etcPaths.resolv, etc.resolv);
  const user = resolveUser(rootfs, spec.user ?? img.User ?? null);
  const args = processArgs(img, spec);
  const env = containerEnv(img, spec.env, { hostname, home: user.home, tty: spec.tty });
  const cwd = spec.workdir ?? (img.WorkingDir || '/');
  for (const v of spec.volumes) mkdirs(v.host);
  const volumes = [...spec.volumes, ...(spec.imageVolumes ? anonymousVolumes(store, c, img, spec, rootfs) : [])];
  const cfg = runtimeSpec({ rootfs, readOnly: spec.readOnly, process: processSpec({ args, env, cwd, user, tty: spec.tty }), hostname, network: spec.network, etc: etcPaths, volumes });
  const bundle = file(store, c, 'bundle');
  mkdirs(bundle);
  writeAtomic(path.join(bundle, 'config.json'), JSON.stringify(cfg, null, 2) + '\n');
  return { spec, runtime, bundle, mountedByRuntime };
}

/**
 * The image's VOLUMEs that no -v covers: docker's anonymous volumes, directories of the
 * container (containers/ID/volumes/), filled from the image's content the first time, so
 * what the process writes there is not in its upper (nor in a commit).
 */
function anonymousVolumes(store: Store, c: ContainerRecord, img: ContainerConfig, spec: RunSpec, rootfs: string): Volume[] {
  const out: Volume[] = [];
  for (const ctr of Object.keys(img.Volumes ?? {})) {
    const norm = path.posix.normalize('/' + ctr);
    if (norm === '/' || spec.volumes.some((v) => path.posix.normalize(v.ctr) === norm)) continue;
    const host = path.join(store.containerDir(c.id), 'volumes', createHash('sha256').update(norm).digest('hex').slice(0, 16));
    if (!fs.existsSync(host)) {
      const tmp = host + '.tmp';
      fs.rmSync(tmp, { recursive: true, force: true });
      mkdirs(tmp);
      const src = resolveInRoot(rootfs, norm);
      if (fs.existsSync(src) && fs.statSync(src).isDirectory()) {
        const r = spawnSync('cp', ['-a', '--', src + '/.', tmp], { encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`cannot fill the volume ${norm}: ${(r.stderr || '').trim().split('\n')[0]}`);
        const st = fs.statSync(src);
        fs.chmodSync(tmp, st.mode & 0o7777);
        fs.chownSync(tmp, st.uid, st.gid);
      }
      fs.renameSync(tmp, host);
    }
    out.push({ host, ctr: norm, ro: false });
  }
  return out;
}

export interface Attach {
  /** forward our stdin to the process */
  stdin: boolean;
  /** no output to our stdout/stderr (build -q) */
  quiet?: boolean;
}

/**
 * With -it on a terminal, our terminal goes raw before the process starts, as docker's
 * does: output the process writes at once would otherwise pass through our terminal's
 * output processing as well as the pty's (\r\r\n) and its input would be echoed twice.
 */
function rawTerminal(tty: boolean, attachStdin: boolean): () => void {
  if (!tty || !attachStdin || !process.stdin.isTTY) return () => undefined;
  process.stdin.setRawMode(true);
  // the pty already turned \n into \r\n; setRawMode(false) restores the saved settings, OPOST included
  native.rawOutput(0);
  return () => process.stdin.setRawMode(false);
}

/** Output to our stdout/stderr (when attached) and the log; our stdin, window size and signals to the process. */
function relay(l: Launched, o: { attach: Attach | null; tty: boolean; log: LogWriter | null; keepStdinOpen: boolean }): () => void {
  const undo: Array<() => void> = [];
  for (const out of l.outputs) {
    out.from.on('data', (d: Buffer) => {
      o.log?.write(out.stream, d);
      if (o.attach && !o.attach.quiet) (out.stream === 'stdout' ? process.stdout : process.stderr).write(d);
    });
  }
  if (o.attach) {
    if (o.attach.stdin && l.stdin) {
      const stdin = l.stdin;
      const onData = (d: Buffer) => stdin.write(d);
      const onEnd = () => {
        if (!o.tty) stdin.end();
      };
      process.stdin.on('data', onData);
      process.stdin.on('end', onEnd);
      stdin.on('error', () => undefined); // the process closed its stdin
      undo.push(() => {
        process.stdin.removeListener('data', onData);
        process.stdin.removeListener('end', onEnd);
        process.stdin.pause();
      });
    } else if (l.stdin && !o.keepStdinOpen && !o.tty) l.stdin.end();
    if (o.tty && l.ptyFd !== null) {
      const fd = l.ptyFd;
      const resize = () => {
        const out = process.stdout.isTTY ? process.stdout : null;
        if (out) native.setWinsize(fd, out.rows, out.columns);
      };
      resize();
      process.stdout.on('resize', resize);
      undo.push(() => process.stdout.removeListener('resize', resize));
    }
    const forward = (sig: NodeJS.Signals) => {
      try {
        process.kill(l.pid, sig);
      } catch {
        /* gone */
      }
    };
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'] as NodeJS.Signals[]) {
      process.on(sig, forward);
      undo.push(() => process.removeListener(sig, forward));
    }
  } else if (l.stdin && !o.keepStdinOpen && !o.tty) l.stdin.end();
  return () => {
    for (const u of undo.reverse()) u();
  };
}

/** While a user's container runs, its root is mounted in its supervisor's mount namespace
 *  only: a `strata mount` would serve the same upper from a second daemon. */
export function refuseWhileRunningRootless(store: Store, c: ContainerRecord, what: string): void {
  if (store.rootless && !insideUserNamespace() && isRunning(store, c)) throw new Error(`container ${c.name} is running, its root mounted in a namespace of its own: ${what} it once it has exited (strata wait ${c.name})`);
}

/** A user's container mounted by `strata mount` (fusermount3, the user's ID alone may enter
 *  it) cannot be its processes' root, and its root's mount must not serve the same upper
 *  beside it. */
function refuseMountedRootless(store: Store, c: ContainerRecord): void {
  const m = isMounted(store, c);
  if (m) throw new RuntimeError(`container ${c.name} is mounted at ${m.mountpoint} (strata mount), where its processes could not enter: strata umount ${c.name}, then run it`);
}

/** The supervisor of a user's container: the monitor program, as root of the user's
 *  namespace (src/userns.ts) in a mount namespace of its own, where it mounts the
 *  container's root (allow_other, so every ID of the namespace enters it) and runs runc,
 *  which so runs rootless; the mount and runc live and die with that namespace. */
function supervisorArgv(store: Store, c: ContainerRecord, mode: string): string[] {
  return inUserNamespace(['unshare', '--mount', '--propagation', 'private', '--', 'env', `${USER_NAMESPACE_ENV}=1`, process.execPath, monitorJs(), store.root, c.id, mode]);
}

/** The processes below pid (children first found, any depth). */
function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      parent.set(Number(e), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      /* gone */
    }
  }
  const out: number[] = [];
  const want = new Set([pid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [p, pp] of parent) {
      if (want.has(pp) && !want.has(p)) {
        want.add(p);
        out.push(p);
        grew = true;
      }
    }
  }
  return out;
}

/** startContainer for a user's store, from outside its namespace: the supervisor does it
 *  all (and prints its own one-line reason when the container cannot start); its exit
 *  status is the container's. */
async function startInUserNamespace(store: Store, c: ContainerRecord, attach: Attach): Promise<number> {
  if (isRunning(store, c)) throw new Error(`container ${c.name} is already running`);
  refuseMountedRootless(store, c);
  const argv = supervisorArgv(store, c, attach.stdin ? 'attach-stdin' : attach.quiet ? 'attach-quiet' : 'attach');
  const child = spawn(argv[0]!, argv.slice(1), { stdio: [attach.stdin ? 'inherit' : 'ignore', 'inherit', 'inherit'] });
  // the terminal's SIGINT/SIGQUIT reach the supervisor too (our process group); others are
  // passed on to it, which passes them to the container's process
  const forward = (sig: NodeJS.Signals) => {
    if (sig === 'SIGINT' || sig === 'SIGQUIT') return;
    for (const p of child.pid ? descendants(child.pid) : []) {
      try {
        if (fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').includes(monitorJs())) process.kill(p, sig);
      } catch {
        /* gone */
      }
    }
  };
  const sigs = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'] as NodeJS.Signals[];
  for (const sig of sigs) process.on(sig, forward);
  try {
    return await new Promise<number>((resolve, reject) => {
      child.on('exit', (code, sig) => resolve(code ?? 128 + (os.constants.signals[sig as NodeJS.Signals] ?? 0)));
      child.on('error', (e) => reject(new RuntimeError(`cannot start the container's supervisor: ${e.message}`)));
    });
  } finally {
    for (const sig of sigs) process.removeListener(sig, forward);
  }
}

/**
 * Starts the container's process and supervises it until it exits: resolves with its
 * exit status once it has been recorded and the container cleaned up (unmounted, or
 * removed with --rm). onStarted runs once the process runs (the detached monitor
 * reports it to `strata run -d`).
 */
export async function startContainer(store: Store, c: ContainerRecord, attach: Attach | null, onStarted?: () => void): Promise<number> {
  if (store.rootless && !insideUserNamespace()) {
    if (!attach) return startDetached(store, c).then(() => 0); // the monitor runs it in the namespace
    return startInUserNamespace(store, c, attach);
  }
  if (isRunning(store, c)) throw new Error(`container ${c.name} is already running`);
  const prep = await store.withLock(async () => {
    if (!store.container(c.id)) throw new Error(`no such container: ${c.name}`);
    return prepare(store, c);
  });
  const { spec, runtime } = prep;
  const cooked = rawTerminal(spec.tty, !!attach?.stdin);
  let l: Launched;
  try {
    l = await launch({
      runtime,
      logFile: runtimeLog(store, c),
      // create + start in one runtime process (one Go start-up less than create, then start)
      command: (extra) => ['run', '--detach', '--bundle', prep.bundle, ...extra, c.id],
      tty: spec.tty,
      openStdin: spec.interactive,
    });
  } catch (e) {
    cooked();
    await cleanup(store, c, prep, null);
    throw e;
  }
  const st: ContainerRun = { ...blankRun(), status: 'running', pid: l.pid, pidStart: procStart(l.pid), monitorPid: process.pid, monitorStart: procStart(process.pid), startedAt: new Date().toISOString(), mountedByRuntime: prep.mountedByRuntime };
  const log = spec.autoRemove && attach ? null : new LogWriter(logFile(store, c));
  const stopRelay = relay(l, { attach, tty: spec.tty, log, keepStdinOpen: spec.interactive });
  saveRun(store, c, st);
  onStarted?.();
  const code = await l.exited;
  await drained(l, 1000);
  stopRelay();
  cooked();
  log?.close();
  saveRun(store, c, { ...st, status: 'exited', exitCode: code, finishedAt: new Date().toISOString() });
  await cleanup(store, c, prep, runtime);
  return code;
}

async function cleanup(store: Store, c: ContainerRecord, prep: Prepared, runtime: Runtime | null): Promise<void> {
  // runc's record goes while we unmount: two short processes side by side
  const deleted = (runtime ?? prep.runtime).deleteLater(c.id);
  await store.withLock(async () => {
    const cur = store.container(c.id);
    if (!cur) return; // removed meanwhile (rm -f)
    if (prep.spec.autoRemove) removeContainer(store, cur, true);
    else if (prep.mountedByRuntime && isMounted(store, cur)) {
      try {
        umountContainer(store, cur);
      } catch {
        umountContainer(store, cur, true);
      }
    }
  });
  await deleted;
}

/** The built monitor program (dist/src/runtime/monitor.js). */
const monitorJs = () => path.join(__dirname, 'monitor.js');

/** Starts the container under a detached monitor process; resolves once its process runs. */
export function startDetached(store: Store, c: ContainerRecord): Promise<void> {
  // a user's container: the monitor is its supervisor in the user's namespace (the IPC
  // channel, fd 3, passes through the namespace's launcher)
  const outside = store.rootless && !insideUserNamespace();
  if (outside) refuseMountedRootless(store, c);
  const argv = outside ? supervisorArgv(store, c, 'detach') : [process.execPath, monitorJs(), store.root, c.id];
  return new Promise<void>((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
    let done = false;
    const finish = (err: Error | null) => {
      if (done) return;
      done = true;
      child.unref();
      if (child.connected) child.disconnect();
      if (err) reject(err);
      else resolve();
    };
    child.on('message', (m: { ok?: boolean; error?: string; code?: number }) => finish(m.ok ? null : new RuntimeError(m.error ?? 'the monitor failed', m.code ?? 125)));
    child.on('exit', (code, sig) => finish(new RuntimeError(`the container monitor exited before the container started (${sig ?? `exit ${code}`})`)));
    child.on('error', (e) => finish(e));
  });
}

const SIGNALS = os.constants.signals as Record<string, number>;

/** "TERM", "SIGTERM" or "15" -> "SIGTERM" */
export function signalName(s: string): string {
  const u = s.toUpperCase();
  if (/^[0-9]+$/.test(u)) {
    const hit = Object.entries(SIGNALS).find(([, n]) => n === Number(u));
    if (!hit) throw new Error(`invalid signal: ${s}`);
    return hit[0];
  }
  const name = u.startsWith('SIG') ? u : 'SIG' + u;
  if (!(name in SIGNALS)) throw new Error(`invalid signal: ${s}`);
  return name;
}

export function killContainer(store: Store, c: ContainerRecord, signal = 'SIGKILL'): void {
  if (!isRunning(store, c)) throw new Error(`cannot kill container ${c.name}: container is not running`);
  runtimeFor(store, c).kill(runtimeLog(store, c), c.id, signalName(signal));
}

/** Waits until the container has exited (and its exit is recorded); its exit code. */
export async function waitContainer(store: Store, c: ContainerRecord, timeoutMs = Infinity): Promise<number | null> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!fs.existsSync(store.containerDir(c.id))) return null; // removed (--rm)
    const st = stateOf(store, c);
    if (st.status === 'exited') return st.exitCode;
    if (Date.now() > deadline) return null;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** docker stop: the image's StopSignal (SIGTERM), then SIGKILL after timeoutS. */
export async function stopContainer(store: Store, c: ContainerRecord, timeoutS = 10): Promise<void> {
  if (!isRunning(store, c)) return;
  const sig = imageConfigOf(store, c.image).StopSignal ?? 'SIGTERM';
  try {
    killContainer(store, c, sig);
  } catch {
    /* exited meanwhile */
  }
  if ((await waitContainer(store, c, timeoutS * 1000)) !== null || !isRunning(store, c)) return;
  try {
    killContainer(store, c, 'SIGKILL');
  } catch {
    /* exited meanwhile */
  }
  await waitContainer(store, c, 30_000);
}

/** rm -f of a running container: SIGKILL, wait for its monitor to record the exit, drop the runtime state. */
export async function killForRemoval(store: Store, c: ContainerRecord): Promise<void> {
  if (isRunning(store, c)) {
    try {
      killContainer(store, c, 'SIGKILL');
    } catch {
      /* exited meanwhile */
    }
    const deadline = Date.now() + 10_000;
    while (isRunning(store, c) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  }
  try {
    runtimeFor(store, c).delete(runtimeLog(store, c), c.id, true);
  } catch {
    /* none */
  }
}

/** Runs fn with the container frozen (runc pause) when it is running: commit -p. */
export async function withPaused<T>(store: Store, c: ContainerRecord, pause: boolean, fn: () => Promise<T>): Promise<T> {
  if (!pause || !isRunning(store, c)) return fn();
  // runc rootless makes no cgroups here (only root may manage this host's v1 hierarchies), so it has no freezer
  if (store.rootless) throw new Error(`cannot pause container ${c.name}: a container of a user's store has no cgroup to freeze it with: commit it with --no-pause, or stop it first`);
  const rt = runtimeFor(store, c);
  rt.run(runtimeLog(store, c), 'pause', c.id);
  try {
    return await fn();
  } finally {
    rt.run(runtimeLog(store, c), 'resume', c.id);
  }
}

export interface ExecOptions {
  cmd: string[];
  tty: boolean;
  interactive: boolean;
  user: string | null;
  workdir: string | null;
  env: string[];
  detach?: boolean;
}

/** exec in a user's container: the same, by the monitor program joined to its supervisor's
 *  user and mount namespaces (nsenter; the user owns them), where its root is mounted and
 *  its runc runs. It prints its own one-line reason for a failure; its exit status is the
 *  process's. */
async function execInUserNamespace(store: Store, c: ContainerRecord, o: ExecOptions): Promise<number> {
  const st = stateOf(store, c);
  if (!isRunning(store, c) || st.monitorPid === null || !isAlive(st.monitorPid, st.monitorStart)) throw new Error(`container ${c.name} is not running`);
  const argv = ['nsenter', '--user', '--mount', '-t', String(st.monitorPid), '--', 'env', `${USER_NAMESPACE_ENV}=1`, process.execPath, monitorJs(), store.root, c.id, 'exec', JSON.stringify(o)];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: [o.interactive && !o.detach ? 'inherit' : 'ignore', 'inherit', 'inherit'] });
  return new Promise<number>((resolve, reject) => {
    child.on('exit', (code, sig) => resolve(code ?? 128 + (os.constants.signals[sig as NodeJS.Signals] ?? 0)));
    child.on('error', (e) => reject(new RuntimeError(`cannot run nsenter: ${e.message}`)));
  });
}

/** docker exec: a new process in the running container, attached; its exit status. */
export async function execInContainer(store: Store, c: ContainerRecord, o: ExecOptions): Promise<number> {
  if (store.rootless && !insideUserNamespace()) return execInUserNamespace(store, c, o);
  if (!isRunning(store, c)) throw new Error(`container ${c.name} is not running`);
  const m = isMounted(store, c);
  if (!m) throw new Error(`container ${c.name} is not mounted`);
  const spec = runSpecOf(store, c);
  const img = imageConfigOf(store, c.image);
  const user = resolveUser(m.mountpoint, o.user ?? spec.user ?? img.User ?? null);
  const hostname = spec.hostname ?? defaultHostname(spec.network, c.id);
  const env = containerEnv(img, [...spec.env, ...o.env], { hostname, home: user.home, tty: o.tty });
  const proc = processSpec({ args: o.cmd, env, cwd: o.workdir ?? spec.workdir ?? (img.WorkingDir || '/'), user, tty: o.tty });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-exec-'));
  const cooked = rawTerminal(o.tty, !o.detach && o.interactive);
  try {
    const pf = path.join(tmp, 'process.json');
    fs.writeFileSync(pf, JSON.stringify(proc));
    const l = await launch({
      runtime: runtimeOf(store, spec),
      logFile: path.join(tmp, 'runtime.log'),
      command: (extra) => ['exec', '--detach', '--process', pf, ...extra, c.id],
      tty: o.tty,
      openStdin: o.interactive,
    });
    const stop = relay(l, { attach: o.detach ? null : { stdin: o.interactive }, tty: o.tty, log: null, keepStdinOpen: false });
    if (o.detach) {
      stop();
      for (const out of l.outputs) out.from.destroy();
      return 0;
    }
    const code = await l.exited;
    await drained(l, 1000);
    stop();
    return code;
  } finally {
    cooked();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
