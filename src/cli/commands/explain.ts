// strata explain: for one path, each layer top to bottom and which one you see.
import * as path from 'node:path';
import type { Command } from 'commander';
import type { Explanation } from '../../store/changes';
import { resolveContainer } from '../../store/resolve';
import { Common, common, json, openStore, out } from '../context';
import { showPath, shortId, utf8ToBytes } from '../format';

export function register(program: Command): void {
  common(program.command('explain').description('which layer provides a path, what hides it, whether it was copied up').argument('<path>', 'path in a mounted container, or in --container').option('-c, --container <container>', 'container (PATH is then a path inside it)'), true).action(
    async (p: string, o: Common & { container?: string }) => {
      const { isMounted } = await import('../../store/containers');
      const { explainPath, layerHistory } = await import('../../store/changes');
      const store = openStore(o);
      let c;
      let inside: string;
      let where: string;
      if (o.container) {
        c = resolveContainer(store, o.container);
        inside = path.posix.resolve('/', p);
        const m = isMounted(store, c);
        where = `in container ${c.name}${m ? ` (mounted at ${m.mountpoint})` : ' (not mounted)'}`;
      } else {
        const abs = path.resolve(p);
        const hit = store.containers().map((x) => ({ x, m: isMounted(store, x) })).find(({ m }) => m && (abs === m.mountpoint || abs.startsWith(m.mountpoint + '/')));
        if (!hit) throw new Error(`${abs} is not inside a mounted container (use --container NAME PATH)`);
        c = hit.x;
        inside = '/' + path.relative(hit.m!.mountpoint, abs);
        where = `in container ${c.name} (mounted at ${hit.m!.mountpoint})`;
      }
      const img = store.image(c.image);
      const h = img ? layerHistory(store, img.configDigest) : { createdBy: [], diffIds: [] };
      const rel = utf8ToBytes(inside.replace(/^\/+/, '').replace(/\/+$/, ''));
      const e = explainPath(store, c, rel, h.createdBy, h.diffIds);
      if (o.json) return json({ ...e, path: showPath(e.path), container: c.id });
      out(explainText(e, where));
    },
  );
}

function explainText(e: Explanation, where: string): string {
  const lines: string[] = [];
  const p = showPath(e.path);
  lines.push(`${p} ${where}`);
  if (!e.visible) {
    const why = e.hiddenBy ? `deleted: ${e.hiddenBy} hides it (see below)` : 'no layer has it';
    lines.push(`  visible: NO - ${why}`);
  }
  else {
    const by = e.providedBy === 'upper' ? "the container's upper dir" : `layer ${e.layers.find((l) => l.layer === e.providedBy)?.index} (${shortId(e.layers.find((l) => l.layer === e.providedBy)?.diffId ?? '')})`;
    lines.push(`  visible: yes, a ${e.type}, provided by ${by}`);
    if (e.providedBy === 'upper') lines.push(`  copied up: ${e.copiedUp ? 'yes - a lower layer has it too; the container changed it, so the union copied it into the upper first' : 'no - it exists only in the upper (created in this container)'}`);
    else lines.push('  copied up: no - the container has not changed it; reads go to the image layer');
  }
  lines.push('  layers, top to bottom (the topmost entry wins; a whiteout or an opaque directory hides everything below it):');
  for (const l of e.layers) {
    const name = l.index === null ? 'upper  ' : `layer ${l.index}`;
    const id = l.diffId ? ` ${shortId(l.diffId)}` : '';
    const by = l.createdBy ? ` (${l.createdBy.length > 50 ? l.createdBy.slice(0, 47) + '...' : l.createdBy})` : '';
    lines.push(`    ${name}${id}${by}: ${l.detail}`);
  }
  return lines.join('\n') + '\n';
}
