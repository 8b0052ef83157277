// strata ps: the containers, and where each is mounted.
import type { Command } from 'commander';
import { Common, common, json, openStore, out } from '../context';
import { ago, table } from '../format';

export function register(program: Command): void {
  common(program.command('ps').description('list containers (running ones; -a: all)'), true).option('-a, --all', 'show all containers, not only running ones').action(async (o: Common & { all?: boolean }) => {
    const { isMounted, mountHealth } = await import('../../store/containers');
    const { stateOf, statusText } = await import('../../runtime/container');
    const store = openStore(o);
    const rows = store.containers().flatMap((c) => {
      const st = stateOf(store, c);
      if (!o.all && st.status !== 'running') return [];
      const m = isMounted(store, c);
      const stale = m !== null && mountHealth(m.mountpoint) === 'stale';
      return [{ id: c.id, name: c.name, image: c.imageRef, imageId: c.image, created: c.created, status: statusText(st), state: st.status, exitCode: st.exitCode, mountpoint: m?.mountpoint ?? null, driver: m?.driver ?? null, stale }];
    });
    if (o.json) return json(rows);
    out(table(['CONTAINER ID', 'NAME', 'IMAGE', 'CREATED', 'STATUS', 'MOUNTED AT'], rows.map((r) => [r.id.slice(0, 12), r.name, r.image, ago(r.created), r.status, r.mountpoint ? `${r.mountpoint} (${r.driver}${r.stale ? ', STALE: daemon dead, run strata umount' : ''})` : '-'])));
  });
}
