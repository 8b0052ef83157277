// The monitor of a detached container (`strata run -d`, `strata start`): started by
// startDetached, it supervises the container's process like an attached `strata run`
// does, but with no terminal: output to the log, the exit code to state.json. It tells
// its starter over IPC once the process runs, or why it could not start.
import { ContainerRecord, Store } from '../store/store';
import { RuntimeError } from './runc';
import { ExecOptions, execInContainer, startContainer } from './container';

/** Runs a supervisor's foreground job for container `id` (see attached and exec below):
 *  its status is ours; a failure is one line on stderr, prefixed `runtimeWhat` when runc's. */
async function foreground(store: Store, id: string, missingStatus: number, runtimeWhat: (name: string) => string, job: (c: ContainerRecord) => Promise<number>): Promise<void> {
  const c = store.container(id);
  if (!c) {
    process.stderr.write(`strata: no such container: ${id}\n`);
    process.exitCode = missingStatus;
    return;
  }
  try {
    process.exitCode = await job(c);
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0];
    process.stderr.write(e instanceof RuntimeError ? `strata: ${runtimeWhat(c.name)}: ${msg}\n` : `strata: ${msg}\n`);
    process.exitCode = e instanceof RuntimeError ? e.exitCode : 1;
  }
}

/** Attached (mode attach, attach-stdin, attach-quiet): the supervisor of a user's container
 *  run in the foreground, in the user's namespace (container.ts startInUserNamespace); our
 *  stdio are the user's, the exit status the container's. */
const attached = (store: Store, id: string, mode: string): Promise<void> =>
  foreground(store, id, 125, (n) => `cannot start container ${n}`, (c) => startContainer(store, c, { stdin: mode === 'attach-stdin', quiet: mode === 'attach-quiet' }));

/** exec (mode exec, the options as JSON): `strata exec` in a user's container, joined to
 *  its supervisor's namespaces (container.ts execInUserNamespace). */
const exec = (store: Store, id: string, json: string): Promise<void> =>
  foreground(store, id, 1, (n) => `exec in ${n} failed`, (c) => execInContainer(store, c, JSON.parse(json) as ExecOptions));

async function main(root: string, id: string, mode?: string): Promise<void> {
  const store = new Store(root);
  if (mode?.startsWith('attach')) return attached(store, id, mode);
  if (mode === 'exec') return exec(store, id, process.argv[5]!);
  const c = store.container(id);
  const send = (m: object) => {
    if (process.connected) process.send?.(m);
    if (process.connected) process.disconnect();
  };
  if (!c) return send({ error: `no such container: ${id}` });
  // a detached container outlives the terminal that started it
  process.on('SIGHUP', () => undefined);
  process.on('SIGINT', () => undefined);
  try {
    await startContainer(store, c, null, () => send({ ok: true }));
  } catch (e) {
    send({ error: (e as Error).message.split('\n')[0], code: e instanceof RuntimeError ? e.exitCode : 125 });
    process.exitCode = 1;
  }
}

void main(process.argv[2]!, process.argv[3]!, process.argv[4]);
