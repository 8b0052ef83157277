// strata ps: the containers, and where each is mounted.
import type { Command } from 'commander';
import { resolveImage } from '../../store/resolve';
import { Common, common, json, openStore, out } from '../context';
import { anyOf, parseFilters } from '../filter';
import { ago, goTime, table } from '../format';
import { formatRows } from '../template';

const collect = (v: string, prev: string[]) => [...prev, v];
const HEADERS = { ID: 'CONTAINER ID', Names: 'NAMES', Image: 'IMAGE', ImageID: 'IMAGE ID', CreatedAt: 'CREATED AT', RunningFor: 'CREATED', Status: 'STATUS', State: 'STATE', MountedAt: 'MOUNTED AT', Driver: 'DRIVER' };
const STATES = ['created', 'restarting', 'running', 'removing', 'paused', 'exited', 'dead'];

interface Opts extends Common {
  all?: boolean;
  quiet?: boolean;
  trunc: boolean;
  format?: string;
  filter: string[];
}

export function register(program: Command): void {
  common(
    program
      .command('ps')
      .description('list containers (running ones; -a: all)')
      .option('-a, --all', 'show all containers, not only running ones')
      .option('-q, --quiet', 'only show container ids')
      .option('--no-trunc', "don't truncate output (full ids)")
      .option('--format <template>', "Go-template-like format, e.g. '{{.Names}}\\t{{.Status}}', 'json'; fields: ID Names Image ImageID CreatedAt RunningFor Status State MountedAt Driver")
      .option('-f, --filter <key=value>', `status=${STATES.join('|')}, name=REGEX, id=PREFIX, ancestor=IMAGE (the image or one built on it); a status filter implies -a`, collect, [])
      .addHelpText('after', `
Examples:
  strata ps -a
  strata ps -aq --filter status=exited
  strata ps --filter ancestor=alpine --format '{{.Names}} {{.Status}}'`),
    true,
  ).action(async (o: Opts) => {
    const { isMounted, mountHealth } = await import('../../store/containers');
    const { stateOf, statusText } = await import('../../runtime/container');
    const filters = parseFilters(o.filter, ['status', 'name', 'id', 'ancestor']);
    for (const s of filters.get('status') ?? []) if (!STATES.includes(s)) throw new Error(`invalid filter 'status=${s}' (${STATES.join(', ')})`);
    const store = openStore(o);
    const ancestors = (filters.get('ancestor') ?? []).map((a) => resolveImage(store, a));
    const names = (filters.get('name') ?? []).map((n) => {
      try {
        return new RegExp(n);
      } catch {
        throw new Error(`invalid filter 'name=${n}': not a regular expression`);
      }
    });
    // docker: asking for a status other than running shows stopped containers too
    const all = o.all || filters.has('status');
    const rows = store.containers().flatMap((c) => {
      const st = stateOf(store, c);
      if (!all && st.status !== 'running') return [];
      if (!anyOf(filters, 'status', (s) => s === st.status)) return [];
      if (names.length && !names.some((re) => re.test(c.name))) return [];
      if (!anyOf(filters, 'id', (p) => c.id.startsWith(p))) return [];
      // built on it: the container's layers start with all of the ancestor's
      if (ancestors.length && !ancestors.some((a) => a.id === c.image || (a.layers.length <= c.layers.length && a.layers.every((l, i) => l.chainId === c.layers[i])))) return [];
      const m = isMounted(store, c);
      const stale = m !== null && mountHealth(m.mountpoint) === 'stale';
      return [{ id: c.id, name: c.name, image: c.imageRef, imageId: c.image, created: c.created, status: statusText(st), state: st.status, exitCode: st.exitCode, mountpoint: m?.mountpoint ?? null, driver: m?.driver ?? null, stale }];
    });
    if (o.json) return json(rows);
    const id = (x: string) => (o.trunc === false ? x : x.slice(0, 12));
    if (o.quiet) return out(rows.map((r) => id(r.id) + '\n').join(''));
    const mounted = (r: (typeof rows)[number]) => (r.mountpoint ? `${r.mountpoint} (${r.driver}${r.stale ? ', STALE: daemon dead, run strata umount' : ''})` : '-');
    if (o.format) {
      const shown = rows.map((r) => ({ ID: id(r.id), Names: r.name, Image: r.image, ImageID: id(r.imageId.replace(/^sha256:/, '')), CreatedAt: goTime(r.created), RunningFor: ago(r.created), Status: r.status, State: r.state, MountedAt: r.mountpoint ?? '', Driver: r.driver ?? '' }));
      return out(formatRows(o.format, shown, HEADERS, '{{.ID}}\t{{.Names}}\t{{.Image}}\t{{.RunningFor}}\t{{.Status}}\t{{.MountedAt}}'));
    }
    out(table(['CONTAINER ID', 'NAME', 'IMAGE', 'CREATED', 'STATUS', 'MOUNTED AT'], rows.map((r) => [id(r.id), r.name, r.image, ago(r.created), r.status, mounted(r)])));
  });
}
