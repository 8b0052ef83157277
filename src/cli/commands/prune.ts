// strata image prune, container prune, system df, system prune: docker's cleanup and accounting.
import type { Command } from 'commander';
import type { Store } from '../../store/store';
import { Common, common, json, locked, openStore, out } from '../context';
import { humanSize, shortId, table, ago } from '../format';
import { groupCommand } from '../group';
import { formatRows } from '../template';

interface PruneOpts extends Common {
  force?: boolean;
  all?: boolean;
}

/** Asks on a terminal; elsewhere -f is required, so that nothing is removed unasked. */
async function confirmed(o: PruneOpts, what: string): Promise<boolean> {
  if (o.force) return true;
  if (!process.stdin.isTTY) throw new Error(`this removes ${what}: add -f/--force to do it without asking (stdin is not a terminal)`);
  const rl = (await import('node:readline')).createInterface({ input: process.stdin, output: process.stderr });
  const answer = await new Promise<string>((res) => rl.question(`WARNING! This will remove ${what}.\nAre you sure you want to continue? [y/N] `, res));
  rl.close();
  return /^y(es)?$/i.test(answer.trim());
}

async function pruneContainers(store: Store): Promise<{ removed: string[]; reclaimed: number }> {
  const rt = await import('../../runtime/container');
  const { isMounted, removeContainer } = await import('../../store/containers');
  const { treeBytes } = await import('../../store/prune');
  const { upperDir } = await import('../../store/containers');
  const removed: string[] = [];
  let reclaimed = 0;
  for (const c of store.containers()) {
    // running or mounted (someone may be using its files): not stopped, kept
    if (rt.isRunning(store, c) || isMounted(store, c)) continue;
    reclaimed += treeBytes(upperDir(store, c.id));
    removeContainer(store, c, false);
    removed.push(c.id);
  }
  return { removed, reclaimed };
}

export function register(program: Command): void {
  const image = groupCommand(program, 'image');
  const container = groupCommand(program, 'container');
  const system = groupCommand(program, 'system');

  common(
    image
      .command('prune')
      .description('remove dangling images (untagged, unused); -a: every image no container uses')
      .option('-a, --all', 'remove all images without a container, not just dangling ones')
      .option('-f, --force', 'do not ask for confirmation (required when stdin is not a terminal)')
      .addHelpText('after', '\nExamples:\n  strata image prune -f\n  strata image prune -af'),
    true,
  ).action(async (o: PruneOpts) => {
    const { pruneImages } = await import('../../store/prune');
    if (!(await confirmed(o, o.all ? 'all images without at least one container associated to them' : 'all dangling images'))) return;
    const store = openStore(o);
    // no store: nothing to prune, and nothing to create
    const r = store.exists ? await locked(store, async () => pruneImages(store, !!o.all)) : { lines: [], errors: [], reclaimed: 0 };
    if (o.json) return json(r);
    if (r.lines.length) out('Deleted Images:\n' + r.lines.map((l) => `${l.action.toLowerCase()}: ${l.what}\n`).join('') + '\n');
    for (const e of r.errors) process.stderr.write(`strata: ${e}\n`);
    out(`Total reclaimed space: ${humanSize(r.reclaimed)}\n`);
    if (r.errors.length) process.exitCode = 1;
  });

  common(
    container
      .command('prune')
      .description('remove all stopped containers (running or mounted ones stay)')
      .option('-f, --force', 'do not ask for confirmation (required when stdin is not a terminal)')
      .addHelpText('after', '\nExample:\n  strata container prune -f'),
    true,
  ).action(async (o: PruneOpts) => {
    if (!(await confirmed(o, 'all stopped containers'))) return;
    const store = openStore(o);
    const r = store.exists ? await locked(store, async () => pruneContainers(store)) : { removed: [], reclaimed: 0 };
    if (o.json) return json(r);
    if (r.removed.length) out('Deleted Containers:\n' + r.removed.map((id) => id + '\n').join('') + '\n');
    out(`Total reclaimed space: ${humanSize(r.reclaimed)}\n`);
  });

  common(
    system
      .command('df')
      .description('disk usage: images, containers, layers (shared by several images or unique), what is reclaimable')
      .option('-v, --verbose', 'one row per image (shared and unique size) and per container')
      .option('--format <template>', "Go-template-like format of the summary rows; fields: Type TotalCount Active Size Reclaimable")
      .addHelpText('after', '\nExamples:\n  strata system df\n  strata system df -v'),
    true,
  ).action(async (o: Common & { verbose?: boolean; format?: string }) => {
    const { diskUsage } = await import('../../store/prune');
    const rt = await import('../../runtime/container');
    const store = openStore(o);
    const byId = new Map(store.containers().map((c) => [c.id, c]));
    const u = diskUsage(store, (id) => rt.isRunning(store, byId.get(id)!));
    if (o.json) return json(u);
    const pct = (r: number, s: number) => `${humanSize(r)} (${s ? Math.round((r * 100) / s) : 0}%)`;
    const rows = [
      { Type: 'Images', TotalCount: u.images.total, Active: u.images.active, Size: humanSize(u.images.size), Reclaimable: pct(u.images.reclaimable, u.images.size) },
      { Type: 'Containers', TotalCount: u.containers.total, Active: u.containers.active, Size: humanSize(u.containers.size), Reclaimable: pct(u.containers.reclaimable, u.containers.size) },
      { Type: 'Layers', TotalCount: u.layers.total, Active: u.layers.shared, Size: humanSize(u.layers.size), Reclaimable: pct(u.layers.reclaimable, u.layers.size) },
    ];
    if (o.format) return out(formatRows(o.format, rows, { TotalCount: 'TOTAL', Reclaimable: 'RECLAIMABLE' }, '{{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}'));
    out(table(['TYPE', 'TOTAL', 'ACTIVE', 'SIZE', 'RECLAIMABLE'], rows.map((r) => [r.Type, String(r.TotalCount), String(r.Active), r.Size, r.Reclaimable])));
    out(`(layers: ${u.layers.shared} shared by several images, ${humanSize(u.layers.sharedSize)}; ${u.layers.unique} unique to one, ${humanSize(u.layers.uniqueSize)})\n`);
    if (!o.verbose) return;
    out('\nImages space usage:\n\n');
    out(table(['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE', 'SHARED SIZE', 'UNIQUE SIZE', 'CONTAINERS'], u.images.list.flatMap((i) => (i.refs.length ? i.refs : ['<none>:<none>']).map((r) => [r.slice(0, r.lastIndexOf(':')), r.slice(r.lastIndexOf(':') + 1), shortId(i.id), ago(i.created), humanSize(i.size), humanSize(i.shared), humanSize(i.unique), String(i.containers)]))));
    out('\nContainers space usage:\n\n');
    out(table(['CONTAINER ID', 'IMAGE', 'SIZE', 'STATUS', 'NAMES'], u.containers.list.map((c) => [c.id.slice(0, 12), c.image, humanSize(c.size), c.active ? 'running' : 'not running', c.name])));
  });

  common(
    system
      .command('prune')
      .description('remove stopped containers, then dangling images (-a: every image no container uses) and their layers')
      .option('-a, --all', 'remove all images without a container, not just dangling ones')
      .option('-f, --force', 'do not ask for confirmation (required when stdin is not a terminal)')
      .addHelpText('after', '\nExample:\n  strata system prune -af'),
    true,
  ).action(async (o: PruneOpts) => {
    const { pruneImages } = await import('../../store/prune');
    if (!(await confirmed(o, `all stopped containers and ${o.all ? 'all images without at least one container associated to them' : 'all dangling images'}`))) return;
    const store = openStore(o);
    const r = store.exists
      ? await locked(store, async () => {
          const c = await pruneContainers(store);
          return { containers: c, images: pruneImages(store, !!o.all) };
        })
      : { containers: { removed: [] as string[], reclaimed: 0 }, images: { lines: [], errors: [], reclaimed: 0 } };
    if (o.json) return json(r);
    if (r.containers.removed.length) out('Deleted Containers:\n' + r.containers.removed.map((id) => id + '\n').join('') + '\n');
    if (r.images.lines.length) out('Deleted Images:\n' + r.images.lines.map((l) => `${l.action.toLowerCase()}: ${l.what}\n`).join('') + '\n');
    for (const e of r.images.errors) process.stderr.write(`strata: ${e}\n`);
    out(`Total reclaimed space: ${humanSize(r.containers.reclaimed + r.images.reclaimed)}\n`);
    if (r.images.errors.length) process.exitCode = 1;
  });
}
