// strata cp, export, import, rename: files in and out of containers, as docker's.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { normalizeReference } from '../../image/reference';
import { resolveContainer } from '../../store/resolve';
import { Common, common, locked, openStore, out } from '../context';

const collect = (v: string, prev: string[]) => [...prev, v];

/** "NAME:/path" -> [NAME, /path]; a plain host path (even one with a colon after a slash) -> null. */
function containerSide(arg: string): [string, string] | null {
  const i = arg.indexOf(':');
  if (i <= 0 || arg.slice(0, i).includes('/') || arg.startsWith('.')) return null;
  return [arg.slice(0, i), arg.slice(i + 1) || '/'];
}

export function register(program: Command): void {
  common(
    program
      .command('cp')
      .description('copy files between a container and the host, through its union mount (writes copy up; an unmounted container is mounted for the copy)')
      .argument('<src>', 'CONTAINER:PATH or a host path')
      .argument('<dest>', 'a host path or CONTAINER:PATH (an existing directory receives the source inside it)')
      .addHelpText('after', `
Examples:
  strata cp web:/etc/nginx/nginx.conf .
  strata cp ./site web:/usr/share/nginx/html`),
  ).action(async (src: string, dest: string, o: Common) => {
    const from = containerSide(src);
    const to = containerSide(dest);
    if (!!from === !!to) throw new Error('cp: exactly one of SRC and DEST must be CONTAINER:PATH');
    const { withMounted, copyIn, copyOut } = await import('../../runtime/transfer');
    if (to && !fs.existsSync(src) && !isLink(src)) throw new Error(`cp: ${src}: no such file or directory`);
    const store = openStore(o);
    resolveContainer(store, (from ?? to)![0]); // a missing one is an error before the lock, which would make a store
    await locked(store, async () => {
      const c = resolveContainer(store, (from ?? to)![0]);
      await withMounted(store, c, async (root) => {
        if (from) copyOut(root, from[1], dest);
        else copyIn(root, src, to![1]);
      });
    });
  });

  common(
    program
      .command('export')
      .description("write a container's filesystem (all layers and its changes, flattened) as a tar archive")
      .argument('<container>', 'container name or id')
      .option('-o, --output <file>', 'write to a file instead of stdout (refused on a terminal)')
      .addHelpText('after', `
Examples:
  strata export web > web-rootfs.tar
  strata export -o web-rootfs.tar web`),
  ).action(async (name: string, o: Common & { output?: string }) => {
    const toStdout = o.output === undefined || o.output === '-';
    if (o.output === undefined && process.stdout.isTTY) throw new Error('cowardly refusing to write an archive to a terminal: use -o FILE or redirect stdout (strata export C > rootfs.tar)');
    const { withMounted, exportTree } = await import('../../runtime/transfer');
    const store = openStore(o);
    resolveContainer(store, name); // a missing one is an error before the lock, which would make a store
    await locked(store, async () => {
      const c = resolveContainer(store, name);
      await withMounted(store, c, async (root) => {
        if (toStdout) return exportTree(root, process.stdout);
        const tmp = path.join(path.dirname(path.resolve(o.output!)), `.${path.basename(o.output!)}.strata-tmp-${process.pid}`);
        const ws = fs.createWriteStream(tmp, { flags: 'wx' });
        try {
          await exportTree(root, ws);
          await new Promise<void>((res, rej) => ws.end((e?: Error | null) => (e ? rej(e) : res())));
          fs.renameSync(tmp, o.output!);
        } catch (e) {
          ws.destroy();
          fs.rmSync(tmp, { force: true });
          throw e;
        }
      });
    });
  });

  common(
    program
      .command('import')
      .description('make a one-layer image from a root filesystem tar (plain, gzip or zstd); prints its id')
      .argument('<file>', 'the tar archive ("-": stdin)')
      .argument('[reference]', 'REPO[:TAG] for the new image (default: untagged)')
      .option('-c, --change <instruction>', 'apply a Dockerfile instruction to the config: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, USER, VOLUME, WORKDIR (repeatable)', collect, [])
      .option('-m, --message <msg>', 'history comment')
      .addHelpText('after', `
Examples:
  strata import rootfs.tar me/base:1
  strata export web | strata import -c 'CMD ["/bin/sh"]' - me/web-flat`),
  ).action(async (file: string, ref: string | undefined, o: Common & { change: string[]; message?: string }) => {
    const { importRootfs } = await import('../../store/import-rootfs');
    const { applyChanges } = await import('../../build/changes');
    const t = ref ? normalizeReference(ref) : null;
    const config = o.change.length ? applyChanges({}, o.change) : undefined;
    if (file === '-' && process.stdin.isTTY) throw new Error('import: - reads a tar from stdin, and stdin is a terminal: pipe one in');
    if (file !== '-' && !fs.existsSync(file)) throw new Error(`import: ${file}: no such file or directory`);
    const store = openStore(o);
    const id = await locked(store, async () => {
      if (file !== '-') return importRootfs(store, file, { ref: t, config, message: o.message });
      const spool = path.join(store.makeTmp('stdin'), 'rootfs.tar');
      const { pipeline } = await import('node:stream/promises');
      await pipeline(process.stdin, fs.createWriteStream(spool, { flags: 'wx' }));
      try {
        if (fs.statSync(spool).size === 0) throw new Error('import: stdin is empty');
        return await importRootfs(store, spool, { ref: t, config, message: o.message });
      } finally {
        fs.rmSync(path.dirname(spool), { recursive: true, force: true });
      }
    });
    out(id + '\n');
  });

  common(
    program
      .command('rename')
      .description('give a container a new name')
      .argument('<container>', 'container name or id')
      .argument('<new-name>', 'unused name: letters, digits, _ . -')
      .addHelpText('after', '\nExample:\n  strata rename web web-old'),
  ).action(async (name: string, newName: string, o: Common) => {
    const { renameContainer } = await import('../../store/containers');
    const store = openStore(o);
    resolveContainer(store, name); // before the lock, which would make a store
    await locked(store, async () => renameContainer(store, resolveContainer(store, name), newName));
  });
}

function isLink(p: string): boolean {
  try {
    return fs.lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}
