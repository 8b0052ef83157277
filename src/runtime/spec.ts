// The OCI runtime bundle's config.json, made from an image config and the options of
// `strata run` the way docker makes it: Env/Entrypoint/Cmd/WorkingDir/User by docker's
// rules (the user looked up in the container's own /etc/passwd and /etc/group), the
// namespaces, /proc, /dev, /sys and friends, /etc/hosts etc. bound from the state dir,
// docker's default capabilities and masked/read-only paths, rlimits the host allows.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { readInRoot } from './rootfs';

/** What a container runs with: the options of `strata run`/`create`, kept as run.json. */
export interface RunSpec {
  /** null: the image's Cmd */
  cmd: string[] | null;
  /** null: the image's Entrypoint; [] resets it */
  entrypoint: string[] | null;
  env: string[];
  workdir: string | null;
  user: string | null;
  hostname: string | null;
  volumes: Volume[];
  network: 'none' | 'host';
  readOnly: boolean;
  tty: boolean;
  interactive: boolean;
  runtime: string;
  autoRemove: boolean;
  /** the image's VOLUMEs become anonymous volumes (not for a build's RUN, whose writes there are kept, as buildah and BuildKit keep them) */
  imageVolumes: boolean;
}

export interface Volume {
  host: string;
  ctr: string;
  ro: boolean;
}

/** The image config's `config` object (docker's names). */
export interface ContainerConfig {
  Env?: string[] | null;
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  WorkingDir?: string;
  User?: string;
  StopSignal?: string;
  Volumes?: Record<string, object> | null;
  ExposedPorts?: Record<string, object> | null;
  Labels?: Record<string, string> | null;
  Healthcheck?: unknown;
  OnBuild?: string[] | null;
  Shell?: string[] | null;
  [k: string]: unknown;
}

export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export function defaultRunSpec(): RunSpec {
  return { cmd: null, entrypoint: null, env: [], workdir: null, user: null, hostname: null, volumes: [], network: 'host', readOnly: false, tty: false, interactive: false, runtime: 'runc', autoRemove: false, imageVolumes: true };
}

/** docker's rule: the entrypoint, then the command (the image's Cmd is dropped with --entrypoint). */
export function processArgs(img: ContainerConfig, run: Pick<RunSpec, 'cmd' | 'entrypoint'>): string[] {
  const entry = run.entrypoint ?? img.Entrypoint ?? [];
  const cmd = run.cmd ?? (run.entrypoint !== null ? [] : (img.Cmd ?? []));
  const args = [...entry, ...cmd];
  if (args.length === 0) throw new Error('no command specified (the image has no Cmd or Entrypoint)');
  return args;
}

/** Sets KEY=V in env (KEY=V list), replacing an earlier KEY. */
export function setEnv(env: string[], kv: string): string[] {
  const k = kv.split('=')[0];
  return [...env.filter((e) => e.split('=')[0] !== k), kv];
}

export function getEnv(env: string[], k: string): string | undefined {
  const e = env.find((x) => x.split('=')[0] === k);
  return e === undefined ? undefined : e.slice(k.length + 1);
}

/** -e K=V, or -e K taking the value from strata's own environment (dropped when unset). */
export function userEnv(items: string[]): string[] {
  const out: string[] = [];
  for (const it of items) {
    if (it.startsWith('=') || it === '') throw new Error(`invalid environment variable: ${JSON.stringify(it)}`);
    if (it.includes('=')) out.push(it);
    else if (process.env[it] !== undefined) out.push(`${it}=${process.env[it]}`);
  }
  return out;
}

/** An --env-file: K=V lines, # comments, blank lines; K alone takes strata's environment. */
export function readEnvFile(file: string): string[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`cannot read env file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const lines = text.split(/\r?\n/).map((l) => l.replace(/^\s+/, '')).filter((l) => l !== '' && !l.startsWith('#'));
  return userEnv(lines);
}

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  home: string;
  name: string | null;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

function parsePasswd(text: string | null): PasswdEntry[] {
  if (!text) return [];
  const out: PasswdEntry[] = [];
  for (const l of text.split('\n')) {
    const f = l.split(':');
    if (f.length < 7 || l.startsWith('#')) continue;
    out.push({ name: f[0], uid: Number(f[2]), gid: Number(f[3]), home: f[5] });
  }
  return out;
}

function parseGroup(text: string | null): Array<{ name: string; gid: number; members: string[] }> {
  if (!text) return [];
  const out: Array<{ name: string; gid: number; members: string[] }> = [];
  for (const l of text.split('\n')) {
    const f = l.split(':');
    if (f.length < 4 || l.startsWith('#')) continue;
    out.push({ name: f[0], gid: Number(f[2]), members: f[3].split(',').filter(Boolean) });
  }
  return out;
}

const NUM = /^[0-9]+$/;

/** USER[:GROUP] resolved in the container's /etc/passwd and /etc/group (moby's GetExecUser rules). */
export function resolveUser(rootfs: string, spec: string | null): ResolvedUser {
  const s = spec ?? '';
  const [u, g] = s.includes(':') ? [s.slice(0, s.indexOf(':')), s.slice(s.indexOf(':') + 1)] : [s, ''];
  const passwd = parsePasswd(readInRoot(rootfs, '/etc/passwd'));
  const groups = parseGroup(readInRoot(rootfs, '/etc/group'));
  const res: ResolvedUser = { uid: 0, gid: 0, additionalGids: [], home: '/', name: null };
  let pw: PasswdEntry | undefined;
  if (u === '') pw = passwd.find((p) => p.uid === 0);
  else if (NUM.test(u)) pw = passwd.find((p) => p.uid === Number(u));
  else {
    pw = passwd.find((p) => p.name === u);
    if (!pw) throw new Error(`unable to find user ${u}: no matching entries in passwd file`);
  }
  if (pw) {
    res.uid = pw.uid;
    res.gid = pw.gid;
    res.home = pw.home || '/';
    res.name = pw.name;
  } else if (u !== '') res.uid = Number(u);
  if (res.uid > 2 ** 31 - 2) throw new Error(`uid ${u} is out of range`);
  if (g !== '') {
    if (NUM.test(g)) res.gid = Number(g);
    else {
      const gr = groups.find((x) => x.name === g);
      if (!gr) throw new Error(`unable to find group ${g}: no matching entries in group file`);
      res.gid = gr.gid;
    }
  } else if (res.name !== null) {
    const name = res.name;
    res.additionalGids = [...new Set(groups.filter((x) => x.members.includes(name) && x.gid !== res.gid).map((x) => x.gid))];
  }
  return res;
}

/** The container's environment: the image's, then -e, with PATH, HOSTNAME, HOME (and TERM for a tty) as docker adds them. */
export function containerEnv(img: ContainerConfig, extra: string[], o: { hostname: string; home: string; tty: boolean }): string[] {
  let env: string[] = [];
  for (const e of img.Env ?? []) env = setEnv(env, e);
  for (const e of extra) env = setEnv(env, e);
  if (getEnv(env, 'PATH') === undefined) env = [DEFAULT_PATH, ...env];
  env = [`HOSTNAME=${o.hostname}`, ...env.filter((e) => !e.startsWith('HOSTNAME='))];
  if (o.tty && getEnv(env, 'TERM') === undefined) env.push('TERM=xterm');
  if (getEnv(env, 'HOME') === undefined) env.push(`HOME=${o.home}`);
  return env;
}

// docker's defaults (moby oci/caps/defaults.go, oci/defaults.go)
export const DEFAULT_CAPS = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID', 'CAP_SETUID',
  'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];
const MASKED = [
  '/proc/asound', '/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats',
  '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap',
];
const READONLY = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

/** The hard limit the host gives this process for one /proc/self/limits row. */
function hostHardLimit(row: string): number | null {
  try {
    const line = fs.readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith(row));
    if (!line) return null;
    const f = line.slice(row.length).trim().split(/\s+/);
    return f[1] === 'unlimited' ? Infinity : Number(f[1]);
  } catch {
    return null;
  }
}

/** docker gives containers 1048576 open files; here no more than the host's hard limit (runc may not raise it). */
export function rlimits(): Array<{ type: string; hard: number; soft: number }> {
  const nofile = hostHardLimit('Max open files');
  if (nofile === null) return [];
  const n = Math.min(nofile, 1048576);
  return [{ type: 'RLIMIT_NOFILE', hard: n, soft: n }];
}

export interface ProcessSpec {
  terminal: boolean;
  user: { uid: number; gid: number; additionalGids?: number[] };
  args: string[];
  env: string[];
  cwd: string;
  capabilities: Record<string, string[]>;
  rlimits: Array<{ type: string; hard: number; soft: number }>;
  noNewPrivileges: boolean;
  consoleSize?: { height: number; width: number };
}

export function processSpec(o: { args: string[]; env: string[]; cwd: string; user: ResolvedUser; tty: boolean }): ProcessSpec {
  const caps = [...DEFAULT_CAPS];
  const p: ProcessSpec = {
    terminal: o.tty,
    user: { uid: o.user.uid, gid: o.user.gid, ...(o.user.additionalGids.length ? { additionalGids: o.user.additionalGids } : {}) },
    args: o.args,
    env: o.env,
    cwd: o.cwd,
    capabilities: { bounding: caps, effective: caps, permitted: caps, inheritable: [], ambient: [] },
    rlimits: rlimits(),
    noNewPrivileges: false,
  };
  if (o.tty && process.stdout.isTTY) p.consoleSize = { height: process.stdout.rows, width: process.stdout.columns };
  return p;
}

export interface BundleInput {
  rootfs: string;
  readOnly: boolean;
  process: ProcessSpec;
  hostname: string;
  network: 'none' | 'host';
  /** host files for /etc/hosts, /etc/hostname, /etc/resolv.conf */
  etc: { hosts: string; hostname: string; resolv: string };
  volumes: Volume[];
}

export function runtimeSpec(b: BundleInput): object {
  const bind = (src: string, dst: string, ro: boolean) => ({ destination: dst, type: 'bind', source: src, options: ['rbind', 'rprivate', ...(ro ? ['ro'] : [])] });
  const namespaces = [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }];
  if (b.network === 'none') namespaces.push({ type: 'network' });
  return {
    ociVersion: '1.0.2',
    process: b.process,
    root: { path: b.rootfs, readonly: b.readOnly },
    hostname: b.hostname,
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      // a new sysfs needs a network namespace of our own; with the host's, bind the host's read-only
      b.network === 'none'
        ? { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] }
        : { destination: '/sys', type: 'bind', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro', 'rslave'] },
      bind(b.etc.hosts, '/etc/hosts', b.readOnly),
      bind(b.etc.hostname, '/etc/hostname', b.readOnly),
      bind(b.etc.resolv, '/etc/resolv.conf', b.readOnly),
      ...b.volumes.map((v) => bind(v.host, v.ctr, v.ro)),
    ],
    linux: {
      namespaces,
      maskedPaths: MASKED,
      readonlyPaths: READONLY,
      resources: { devices: [{ allow: false, access: 'rwm' }] },
    },
  };
}

const HOSTS_DEFAULT = '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n';

/** The contents docker gives /etc/hosts, /etc/hostname and /etc/resolv.conf. */
export function etcFiles(network: 'none' | 'host', hostname: string): { hosts: string; hostname: string; resolv: string } {
  const read = (f: string) => {
    try {
      return fs.readFileSync(f, 'utf8');
    } catch {
      return '';
    }
  };
  if (network === 'host') return { hosts: read('/etc/hosts') || HOSTS_DEFAULT, hostname: hostname + '\n', resolv: read('/etc/resolv.conf') };
  // no network: the loopback names, and the host's resolv.conf without loopback servers
  const resolv = read('/etc/resolv.conf')
    .split('\n')
    .filter((l) => !/^\s*nameserver\s+(127\.|::1\b)/.test(l))
    .join('\n');
  return { hosts: HOSTS_DEFAULT, hostname: hostname + '\n', resolv };
}

export function defaultHostname(network: 'none' | 'host', id: string): string {
  return network === 'host' ? os.hostname() : id.slice(0, 12);
}
