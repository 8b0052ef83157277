// strata ps: the containers, and where each is mounted.
import type { Command } from 'commander';
import { Common, common, json, openStore, out } from '../context';
import { ago, table } from '../format';

export function register(program: Command): void {
  common(program.command('ps').description('list containers'), true).action(async (o: Common) => {
    const { isMounted, mountHealth } = await import('../../store/containers');
    const store = openStore(o);
    const rows = store.containers().map((c) => {
      const m = isMounted(store, c);
      const stale = m !== null && mountHealth(m.mountpoint) === 'stale';
      return { id: c.id, name: c.name, image: c.imageRef, imageId: c.image, created: c.created, mountpoint: m?.mountpoint ?? null, driver: m?.driver ?? null, stale };
    });
    if (o.json) return json(rows);
    out(table(['CONTAINER ID', 'NAME', 'IMAGE', 'CREATED', 'MOUNTED AT'], rows.map((r) => [r.id.slice(0, 12), r.name, r.image, ago(r.created), r.mountpoint ? `${r.mountpoint} (${r.driver}${r.stale ? ', STALE: daemon dead, run strata umount' : ''})` : '-'])));
  });
}
