// The user namespace a user other than root works in, as rootless podman's: inside it the
// user is uid/gid 0 and 1..N are the user's subordinate IDs (/etc/subuid, /etc/subgid), so
// files can keep the owners a layer gives them. Made by util-linux `unshare --user` and
// filled in from outside by newuidmap/newgidmap (uidmap package, setuid root), which alone
// may write a mapping of more than one's own ID.
//
// Not `unshare --map-auto --map-root-user` (util-linux 2.38): it finds the range by user
// name only (the subuid file may name the uid), maps one ID fewer than the range holds, and
// fails without saying which part is missing. The handshake here is a few lines of sh: the
// child waits until its map is written, then execs the command, which so starts as root of
// the namespace with its capabilities there (an exec before the map is written would drop
// them).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';

export interface SubRange {
  start: number;
  count: number;
}

export interface NamespaceIds {
  uid: number;
  gid: number;
  subuid: SubRange;
  subgid: SubRange;
}

/** The first range of `user` (a name or a uid) in a subuid/subgid file, or null. */
export function subordinateRange(text: string, names: string[]): SubRange | null {
  for (const line of text.split('\n')) {
    const f = line.trim().split(':');
    if (f.length !== 3 || !names.includes(f[0]!)) continue;
    const start = Number(f[1]);
    const count = Number(f[2]);
    if (Number.isSafeInteger(start) && Number.isSafeInteger(count) && start > 0 && count > 0) return { start, count };
  }
  return null;
}

function onPath(bin: string): boolean {
  for (const d of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    try {
      fs.accessSync(path.join(d || '.', bin), fs.constants.X_OK);
      return true;
    } catch {
      /* next */
    }
  }
  return false;
}

function userName(uid: number): string | null {
  try {
    for (const l of fs.readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = l.split(':');
      if (f.length >= 3 && Number(f[2]) === uid && f[2] !== '') return f[0]!;
    }
  } catch {
    /* no passwd */
  }
  try {
    return os.userInfo().username;
  } catch {
    return null;
  }
}

let cached: NamespaceIds | null = null;

/** This user's IDs and subordinate ranges; throws one line saying what to do when the
 *  namespace cannot be made. */
export function namespaceIds(): NamespaceIds {
  if (cached) return cached;
  const uid = process.geteuid?.() ?? 0;
  const gid = process.getegid?.() ?? 0;
  const name = userName(uid);
  const who = name ?? `uid ${uid}`;
  const names = [String(uid), ...(name ? [name] : [])];
  const range = (file: string, idNames: string[]): SubRange => {
    let text = '';
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      /* missing: no range */
    }
    const r = subordinateRange(text, idNames);
    if (!r) throw new Error(`${who} has no subordinate ID range in ${file}, needed to keep a layer's owners without root: add one (e.g. as root: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${name ?? uid}), or run as root`);
    return r;
  };
  const subuid = range('/etc/subuid', names);
  const groupName = name; // subgid is keyed by user, as shadow-utils' newgidmap reads it
  const subgid = range('/etc/subgid', [String(uid), ...(groupName ? [groupName] : [])]);
  for (const bin of ['newuidmap', 'newgidmap', 'unshare']) {
    if (!onPath(bin)) throw new Error(`${bin} not found on PATH: install the ${bin === 'unshare' ? 'util-linux' : 'uidmap'} package (a user other than root needs it to keep a layer's owners), or run as root`);
  }
  cached = { uid, gid, subuid, subgid };
  return cached;
}

/** Exit status of the launcher itself when the namespace could not be made. */
export const LAUNCH_FAILED = 125;

// $1..$6: uid subuid-start subuid-count gid subgid-start subgid-count; the rest: the command.
// The child keeps the launcher's stdin through fd 4 (dash gives an asynchronous command
// /dev/null even with 0<&0), and fds 3 and 5..9 as given (a daemon's IPC channel, its
// /dev/fuse descriptor), which the launcher itself then closes: it outlives the command's
// start (it waits for it), and its copy of a /dev/fuse fd would keep a dead daemon's
// mount hanging rather than failing with ENOTCONN.
const SCRIPT = `
u=$1 us=$2 un=$3 g=$4 gs=$5 gn=$6; shift 6
exec 4<&0
unshare --user -- sh -c 'while ! grep -q . /proc/self/gid_map; do sleep 0.002; done; exec "$@"' sh "$@" <&4 4<&- &
pid=$!
exec 3<&- 5<&- 6<&- 7<&- 8<&- 9<&-
me=$(readlink /proc/self/ns/user)
n=0
while [ "$(readlink /proc/$pid/ns/user 2>/dev/null)" = "$me" ]; do
  n=$((n+1)); [ $n -gt 5000 ] && { kill -9 $pid; echo "strata: unshare --user did not make a user namespace" >&2; exit ${LAUNCH_FAILED}; }
  sleep 0.002
done
if ! err=$(newuidmap $pid 0 $u 1 1 $us $un 2>&1) || ! err=$(newgidmap $pid 0 $g 1 1 $gs $gn 2>&1); then
  kill -9 $pid 2>/dev/null
  echo "strata: cannot map the user namespace's IDs: $(echo "$err" | head -n 1)" >&2
  exit ${LAUNCH_FAILED}
fi
wait $pid
`;

/** The argv that runs argv in this user's namespace (see above), for spawn or spawnSync. */
export function inUserNamespace(argv: string[], ids: NamespaceIds = namespaceIds()): string[] {
  const m = [ids.uid, ids.subuid.start, ids.subuid.count, ids.gid, ids.subgid.start, ids.subgid.count].map(String);
  return ['sh', '-c', SCRIPT, 'sh', ...m, ...argv];
}

/** fuse-overlayfs's uidmapping=/gidmapping= values for a server in the namespace serving
 *  a mount of the initial one: an owner inside is shown as the host's ID, and back. */
export function hostIdMappingOptions(ids: NamespaceIds = namespaceIds()): string {
  const m = namespaceMappings(ids);
  const join = (r: Array<[number, number, number]>): string => r.map((x) => x.join(':')).join(':');
  return `uidmapping=${join(m.uids)},gidmapping=${join(m.gids)}`;
}

/** The namespace's ID for a host ID (what the user's files are owned by on disk), or null
 *  when the namespace does not map it. */
export function namespaceId(host: number, kind: 'uid' | 'gid', ids: NamespaceIds = namespaceIds()): number | null {
  return mapId(host, kind, ids, 1, 0);
}

/** The host ID the namespace shows as `inside` (an owner in an image, 0..N), or null when
 *  the namespace does not map it. */
export function hostId(inside: number, kind: 'uid' | 'gid', ids: NamespaceIds = namespaceIds()): number | null {
  return mapId(inside, kind, ids, 0, 1);
}

function mapId(id: number, kind: 'uid' | 'gid', ids: NamespaceIds, from: 0 | 1, to: 0 | 1): number | null {
  for (const row of namespaceMappings(ids)[kind === 'uid' ? 'uids' : 'gids']) {
    if (id >= row[from] && id < row[from] + row[2]) return row[to] + (id - row[from]);
  }
  return null;
}

/** How a child run through inUserNamespace ended: its exit, and what it printed. */
export interface ChildEnd {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/**
 * The answer of a child that works in the namespace for the user's store (the
 * *-in-namespace modules): the last line of its stdout, one JSON object, with `error` when
 * it failed. Throws one line: the child's error (as fail() makes it), the launcher's reason
 * the namespace could not be made, or how the child ended.
 */
export function namespaceAnswer<T extends object>(r: ChildEnd, what: string, done: (a: T) => boolean, fail: (a: T & { error: string }) => Error = (a) => new Error(a.error)): T {
  let a: (T & { error?: string }) | null = null;
  try {
    a = JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as T & { error?: string };
  } catch {
    a = null;
  }
  if (a && a.error !== undefined) throw fail(a as T & { error: string });
  if (r.code === 0 && a && done(a)) return a;
  const why = r.stderr.trim().split('\n').filter(Boolean).pop();
  if (r.code === LAUNCH_FAILED && why) throw new Error(why.replace(/^strata: /, ''));
  throw new Error(`${what} in a user namespace failed (${r.signal ?? `exit ${r.code}`})${why ? `: ${why}` : ''}`);
}

/** Runs argv (from inUserNamespace) with `input` on its stdin and collects its output. */
export function runInNamespace(argv: string[], what: string, input = ''): Promise<ChildEnd> {
  return new Promise<ChildEnd>((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    // a child that fails before reading its input says why on stdout, not with EPIPE
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
    child.on('error', (e) => reject(new Error(`cannot start ${what} in a user namespace: ${e.message}`)));
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** The uid_map/gid_map lines the namespace has: inside ID, outside ID, count. */
export function namespaceMappings(ids: NamespaceIds = namespaceIds()): { uids: Array<[number, number, number]>; gids: Array<[number, number, number]> } {
  return {
    uids: [[0, ids.uid, 1], [1, ids.subuid.start, ids.subuid.count]],
    gids: [[0, ids.gid, 1], [1, ids.subgid.start, ids.subgid.count]],
  };
}

/** Whether this process must work through the namespace (not root of the initial one). */
export function needsUserNamespace(): boolean {
  return (process.geteuid?.() ?? 0) !== 0;
}

/** Set in the environment of a user's container's supervisor (src/runtime/container.ts),
 *  which runs as root of the user's namespace. */
export const USER_NAMESPACE_ENV = 'STRATA_USER_NAMESPACE';

let insideCached: boolean | null = null;

/** Whether this process is root of a user's namespace working for that user's store (the
 *  supervisor of a user's container): marked so by its starter, and in a user namespace
 *  other than the initial one. Root elsewhere (in someone else's namespace) is not. */
export function insideUserNamespace(): boolean {
  if (insideCached !== null) return insideCached;
  insideCached = false;
  if (process.env[USER_NAMESPACE_ENV] !== '1') return insideCached;
  try {
    const rows = fs.readFileSync('/proc/self/uid_map', 'utf8').trim().split('\n').map((l) => l.trim().split(/\s+/).join(' '));
    insideCached = !(rows.length === 1 && rows[0] === '0 0 4294967295');
  } catch {
    /* no /proc: not inside */
  }
  return insideCached;
}

/**
 * rm -rf that also removes what other IDs of the user's namespace own (a layer's files,
 * which the user alone may not delete): first as the user, then inside the namespace.
 */
export function removeTree(p: string): void {
  try {
    // retried on ENOTEMPTY: a write stream's asynchronous open may create a file in the
    // tree while it is being removed
    fs.rmSync(p, { recursive: true, force: true, maxRetries: 3, retryDelay: 20 });
    return;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if ((code !== 'EACCES' && code !== 'EPERM' && code !== 'ENOTEMPTY') || !needsUserNamespace()) throw e;
  }
  const argv = inUserNamespace(['rm', '-rf', '--', p]);
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`cannot remove ${p}: ${(r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n')[0]}`);
}
