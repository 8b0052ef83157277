// strata inspect: images and containers as docker shows them (a JSON array), or -f per object.
import type { Command } from 'commander';
import type { ContainerRecord, Store } from '../../store/store';
import { resolveContainer, resolveImage } from '../../store/resolve';
import { Common, common, json, openStore, out } from '../context';
import { compile } from '../template';

interface Opts extends Common {
  format?: string;
  type?: string;
}

async function runtimeView(store: Store, c: ContainerRecord): Promise<import('../../store/inspect').ContainerRuntimeView> {
  const rt = await import('../../runtime/container');
  const st = rt.stateOf(store, c);
  const spec = rt.runSpecOf(store, c);
  let img: import('../../runtime/spec').ContainerConfig = {};
  try {
    img = rt.imageConfigOf(store, c.image);
  } catch {
    /* its image is gone */
  }
  const entrypoint = spec.entrypoint ?? img.Entrypoint ?? [];
  const cmd = spec.cmd ?? img.Cmd ?? [];
  const argv = [...entrypoint, ...cmd];
  const zero = '0001-01-01T00:00:00Z';
  return {
    path: argv[0] ?? '',
    args: argv.slice(1),
    state: { Status: st.status, Running: st.status === 'running', Paused: false, ExitCode: st.exitCode ?? 0, StartedAt: st.startedAt ?? zero, FinishedAt: st.finishedAt ?? zero, Pid: st.status === 'running' ? (st.pid ?? 0) : 0 },
    config: {
      ...img,
      Hostname: spec.hostname ?? c.id.slice(0, 12),
      User: spec.user ?? img.User ?? '',
      Env: [...(img.Env ?? []), ...spec.env],
      Cmd: cmd,
      Entrypoint: entrypoint.length ? entrypoint : null,
      WorkingDir: spec.workdir ?? img.WorkingDir ?? '',
      Tty: spec.tty,
      OpenStdin: spec.interactive,
    },
  };
}

export function register(program: Command): void {
  common(
    program
      .command('inspect')
      .description('show images or containers as docker does: a JSON array, or one line per object with -f')
      .argument('<names...>', 'images (name[:tag], id) or containers (name, id)')
      .option('-f, --format <template>', "Go-template-like format per object, e.g. '{{.Config.Cmd}}', '{{json .RootFS.Layers}}', '{{.GraphDriver.Data.MergedDir}}'")
      .option('--type <type>', 'image or container: look only for that kind of object')
      .addHelpText('after', `
Examples:
  strata inspect alpine:3.19
  strata inspect -f '{{.Os}}/{{.Architecture}} {{json .Config.Cmd}}' alpine:3.19 me/app
  strata inspect -f '{{.GraphDriver.Data.UpperDir}}' web`),
  ).action(async (names: string[], o: Opts) => {
    if (o.type !== undefined && o.type !== 'image' && o.type !== 'container') throw new Error(`--type must be image or container, not ${JSON.stringify(o.type)}`);
    const { inspectImage, inspectContainer } = await import('../../store/inspect');
    const { isMounted } = await import('../../store/containers');
    const tmpl = o.format !== undefined ? compile(o.format) : null;
    const store = openStore(o);
    const found: Array<Record<string, unknown>> = [];
    let failed = false;
    for (const name of names) {
      let img = null;
      if (o.type !== 'container') {
        try {
          img = resolveImage(store, name);
        } catch {
          /* maybe a container */
        }
      }
      if (img) {
        found.push(inspectImage(store, img));
        continue;
      }
      let c: ContainerRecord | null = null;
      if (o.type !== 'image') {
        try {
          c = resolveContainer(store, name);
        } catch {
          /* reported below */
        }
      }
      if (!c) {
        process.stderr.write(`strata: no such ${o.type ?? 'image or container'}: ${name}\n`);
        failed = true;
        continue;
      }
      found.push(inspectContainer(store, c, isMounted(store, c), await runtimeView(store, c)));
    }
    // as docker: what was found is printed, the exit status says whether everything was
    if (tmpl) out(tmpl.render(found));
    else if (found.length || !failed) json(found);
    if (failed) process.exitCode = 1;
  });
}
