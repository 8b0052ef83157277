// strata: the command line. Each command is a thin wrapper over src/store and
// src/image; errors become one line on stderr and a non-zero exit.
import * as path from 'node:path';
import { Command, Option, CommanderError } from 'commander';
import { Store, DEFAULT_ROOT } from '../store/store';
import { resolveImage, resolveContainer, imageRefs } from '../store/resolve';
import { normalizeReference } from '../image/reference';
import type { Driver } from '../store/containers';
import type { Explanation } from '../store/changes';
import type { SaveImage } from '../image/save';
import { table, humanSize, ago, shortId, showPath, utf8ToBytes } from './format';

// Heavy modules (tar-stream, zstd, the addon) load only in the commands that need
// them: create and mount are on the hot path of every container start.
const containersMod = () => import('../store/containers');
const changesMod = () => import('../store/changes');

interface Common {
  root?: string;
  json?: boolean;
}

let programRef: Command;

function rootOf(o: Common): string {
  return path.resolve(o.root ?? (programRef.opts() as Common).root ?? process.env.STRATA_ROOT ?? DEFAULT_ROOT);
}

function openStore(o: Common): Store {
  return Store.open(rootOf(o));
}

function out(s: string): void {
  process.stdout.write(s);
}

function json(v: unknown): void {
  out(JSON.stringify(v, null, 2) + '\n');
}

const sayWaiting = (): void => {
  if (process.stderr.isTTY) process.stderr.write('waiting for another strata command to finish...\n');
};

async function locked<T>(store: Store, fn: () => Promise<T>): Promise<T> {
  return store.withLock(fn, sayWaiting);
}

function common(cmd: Command, withJson = false): Command {
  cmd.option('--root <dir>', `store root (default: $STRATA_ROOT or ${DEFAULT_ROOT})`);
  if (withJson) cmd.option('--json', 'print JSON');
  return cmd;
}

/** A layer's unpacked size, 0 for one being collected. */
function layerSize(store: Store, chainId: string): number {
  try {
    return store.layer(chainId).diffSize;
  } catch {
    return 0;
  }
}

function imageSize(store: Store, layers: Array<{ chainId: string }>): number {
  return layers.reduce((n, l) => n + layerSize(store, l.chainId), 0);
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

export function buildProgram(): Command {
  const program = new Command();
  programRef = program;
  program
    .name('strata')
    .description('Container image layer store with union mounts (strata-fs or kernel overlayfs)')
    .option('--root <dir>', `store root (default: $STRATA_ROOT or ${DEFAULT_ROOT})`)
    .showHelpAfterError(false)
    // commander's errors can span lines ("(Did you mean ...?)"): one line, like ours
    .configureOutput({ outputError: (str, write) => write(`strata: ${str.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ').trim()}\n`) })
    .exitOverride();

  common(program.command('load').description('load images from a docker-archive, oci-archive or OCI layout dir').argument('[file]', 'archive or directory').option('-i, --input <file>', 'archive or directory'), true).action(
    async (file: string | undefined, o: Common & { input?: string }) => {
      const src = o.input ?? file;
      if (!src && process.stdin.isTTY) throw new Error('load: give an archive or directory (strata load -i FILE), or pipe an archive to stdin');
      if (src) {
        const fs = await import('node:fs');
        try {
          const st = fs.statSync(src);
          if (!st.isFile() && !st.isDirectory()) throw new Error(`load: ${src} is neither a file nor a directory`);
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code === 'ENOENT' || code === 'ENOTDIR') throw new Error(`load: ${src}: no such file or directory`);
          if (code === 'EACCES') throw new Error(`load: ${src}: permission denied`);
          throw e;
        }
      }
      const { loadImages } = await import('../store/importer');
      const { ttyProgress } = await import('./progress');
      const store = openStore(o);
      const r = await locked(store, async () => {
        if (src) return loadImages(store, src, ttyProgress());
        // like docker load: the archive on stdin, spooled under tmp/ (members are read by offset)
        const spool = path.join(store.makeTmp('stdin'), 'archive');
        const { pipeline } = await import('node:stream/promises');
        const fs = await import('node:fs');
        await pipeline(process.stdin, fs.createWriteStream(spool, { flags: 'wx' }));
        try {
          if (fs.statSync(spool).size === 0) throw new Error('load: stdin is empty (give an archive with -i FILE or pipe one in)');
          return await loadImages(store, spool, ttyProgress());
        } finally {
          fs.rmSync(path.dirname(spool), { recursive: true, force: true });
        }
      });
      if (o.json) return json(r.images);
      for (const img of r.images) {
        if (img.refs.length === 0) out(`Loaded image ID: ${img.id}\n`);
        for (const ref of img.refs) out(`Loaded image: ${ref}\n`);
      }
    },
  );

  common(program.command('images').description('list images').argument('[reference]', 'REPO[:TAG] filter'), true).action((ref: string | undefined, o: Common) => {
    const store = openStore(o);
    const tags = store.tags();
    const rows: Array<{ repository: string; tag: string; id: string; created: string | null; size: number }> = [];
    const tagged = new Set(Object.values(tags));
    let filterRepo: string | null = null;
    let filterTag: string | null = null;
    if (ref) {
      const hasTag = ref.lastIndexOf(':') > ref.lastIndexOf('/');
      const n = normalizeReference(ref);
      filterRepo = n.slice(0, n.lastIndexOf(':'));
      filterTag = hasTag ? n.slice(n.lastIndexOf(':') + 1) : null;
    }
    for (const img of store.images()) {
      const refs = Object.keys(tags).filter((k) => tags[k] === img.id);
      const size = imageSize(store, img.layers);
      for (const r of refs) {
        const i = r.lastIndexOf(':');
        rows.push({ repository: r.slice(0, i), tag: r.slice(i + 1), id: img.id, created: img.created, size });
      }
      if (!tagged.has(img.id)) rows.push({ repository: '<none>', tag: '<none>', id: img.id, created: img.created, size });
    }
    const shown = rows.filter((r) => (filterRepo === null || r.repository === filterRepo) && (filterTag === null || r.tag === filterTag));
    shown.sort((a, b) => (b.created ?? '').localeCompare(a.created ?? '') || a.repository.localeCompare(b.repository) || a.tag.localeCompare(b.tag));
    if (o.json) return json(shown);
    out(table(['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE'], shown.map((r) => [r.repository, r.tag, shortId(r.id), ago(r.created), humanSize(r.size)])));
  });

  common(program.command('tag').description('give an image another name').argument('<source>').argument('<target>', 'REPO[:TAG]')).action(async (src: string, target: string, o: Common) => {
    const store = openStore(o);
    const t = normalizeReference(target);
    await locked(store, async () => {
      const img = resolveImage(store, src);
      const tags = store.tags();
      tags[t] = img.id;
      store.putTags(tags);
    });
  });

  common(program.command('rmi').description('untag images; delete images and layers nothing uses any more').argument('<images...>').option('-f, --force', 'remove all tags of an image given by id'), true).action(
    async (refs: string[], o: Common & { force?: boolean }) => {
      const { removeImages } = await import('../store/rmi');
      const store = openStore(o);
      const lines = await locked(store, async () => removeImages(store, refs, !!o.force));
      if (o.json) return json(lines);
      for (const l of lines) out(`${l.action}: ${l.what}\n`);
    },
  );

  common(program.command('inspect').description('show an image or container as JSON').argument('<name>', 'image or container')).action(async (name: string, o: Common) => {
    const { isMounted } = await containersMod();
    const store = openStore(o);
    let img = null;
    try {
      img = resolveImage(store, name);
    } catch {
      /* maybe a container */
    }
    if (img) {
      const config = JSON.parse(store.readBlob(img.configDigest).toString('utf8')) as unknown;
      const manifest = JSON.parse(store.readBlob(img.manifestDigest).toString('utf8')) as unknown;
      return json([{ Id: img.id, RepoTags: imageRefs(store, img.id), Created: img.created, Size: imageSize(store, img.layers), ManifestDigest: img.manifestDigest, Layers: img.layers.map((l) => ({ ...l, dir: store.layerDir(l.chainId) })), Config: config, Manifest: manifest }]);
    }
    let c;
    try {
      c = resolveContainer(store, name);
    } catch {
      throw new Error(`no such image or container: ${name}`);
    }
    const m = isMounted(store, c);
    json([{ Id: c.id, Name: c.name, Image: c.image, ImageRef: c.imageRef, Created: c.created, Mounted: m, UpperDir: path.join(store.containerDir(c.id), 'upper'), WorkDir: path.join(store.containerDir(c.id), 'work'), LowerDirs: store.lowerDirs(c.layers) }]);
  });

  common(program.command('history').description('one row per layer of an image').argument('<image>'), true).action(async (name: string, o: Common) => {
    const { layerHistory } = await changesMod();
    const store = openStore(o);
    const img = resolveImage(store, name);
    const h = layerHistory(store, img.configDigest);
    const cfg = JSON.parse(store.readBlob(img.configDigest).toString('utf8')) as { history?: Array<{ created?: string; created_by?: string; comment?: string; empty_layer?: boolean }> };
    const nonEmpty = (cfg.history ?? []).filter((x) => !x.empty_layer);
    const rows = img.layers.map((l, i) => {
      const size = layerSize(store, l.chainId);
      return { layer: i + 1, diffId: l.diffId, chainId: l.chainId, created: nonEmpty[i]?.created ?? null, createdBy: h.createdBy[i] ?? '', comment: nonEmpty[i]?.comment ?? '', size };
    }).reverse();
    if (o.json) return json(rows);
    out(table(['LAYER', 'DIFF ID', 'CREATED', 'CREATED BY', 'SIZE', 'COMMENT'], rows.map((r) => [String(r.layer), shortId(r.diffId), ago(r.created), r.createdBy.length > 45 ? r.createdBy.slice(0, 42) + '...' : r.createdBy, humanSize(r.size), r.comment])));
  });

  common(program.command('create').description('create a container (an empty upper over the image layers)').argument('<image>').option('--name <name>', 'container name')).action(async (name: string, o: Common & { name?: string }) => {
    const { createContainer } = await containersMod();
    const store = openStore(o);
    const c = await locked(store, async () => createContainer(store, resolveImage(store, name), name, o.name));
    out(c.id + '\n');
  });

  common(program.command('mount').description('mount a container; prints the mountpoint').argument('<container>').argument('[mountpoint]'))
    .addOption(new Option('--driver <driver>', 'union filesystem').choices(['strata-fs', 'overlay']).default('strata-fs'))
    .action(async (name: string, mnt: string | undefined, o: Common & { driver: Driver }) => {
      const { mountContainer } = await containersMod();
      const store = openStore(o);
      const st = await locked(store, async () => mountContainer(store, resolveContainer(store, name), mnt, o.driver));
      out(st.mountpoint + '\n');
    });

  common(program.command('umount').alias('unmount').description('unmount a container (a mount whose daemon died is detached lazily)').argument('<containers...>').option('-l, --lazy', 'detach even while processes use the mount (umount -l)')).action(async (names: string[], o: Common & { lazy?: boolean }) => {
    const { umountContainer } = await containersMod();
    const store = openStore(o);
    await locked(store, async () => {
      for (const n of names) {
        const c = resolveContainer(store, n);
        umountContainer(store, c, !!o.lazy);
        out(c.id + '\n');
      }
    });
  });

  common(program.command('ps').description('list containers'), true).action(async (o: Common) => {
    const { isMounted, mountHealth } = await containersMod();
    const store = openStore(o);
    const rows = store.containers().map((c) => {
      const m = isMounted(store, c);
      const stale = m !== null && mountHealth(m.mountpoint) === 'stale';
      return { id: c.id, name: c.name, image: c.imageRef, imageId: c.image, created: c.created, mountpoint: m?.mountpoint ?? null, driver: m?.driver ?? null, stale };
    });
    if (o.json) return json(rows);
    out(table(['CONTAINER ID', 'NAME', 'IMAGE', 'CREATED', 'MOUNTED AT'], rows.map((r) => [r.id.slice(0, 12), r.name, r.image, ago(r.created), r.mountpoint ? `${r.mountpoint} (${r.driver}${r.stale ? ', STALE: daemon dead, run strata umount' : ''})` : '-'])));
  });

  common(program.command('rm').description('remove containers').argument('<containers...>').option('-f, --force', 'unmount first if mounted')).action(async (names: string[], o: Common & { force?: boolean }) => {
    const { removeContainer } = await containersMod();
    const store = openStore(o);
    await locked(store, async () => {
      for (const n of names) {
        const c = resolveContainer(store, n);
        removeContainer(store, c, !!o.force);
        out(c.name + '\n');
      }
    });
  });

  common(program.command('diff').description('A/C/D lines: what the container added, changed, deleted').argument('<container>'), true).action(async (name: string, o: Common) => {
    const { containerChanges } = await changesMod();
    const store = openStore(o);
    const ch = containerChanges(store, resolveContainer(store, name));
    if (o.json) return json(ch.map((c) => ({ kind: c.kind, path: showPath(c.path) })));
    for (const c of ch) out(`${c.kind} ${showPath(c.path)}\n`);
  });

  common(program.command('commit').description("make the container's changes a new image").argument('<container>').argument('[reference]', 'REPO[:TAG]').option('-m, --message <msg>', 'history comment').option('-a, --author <author>', 'author'), true).action(
    async (name: string, ref: string | undefined, o: Common & { message?: string; author?: string }) => {
      const { commitContainer } = await import('../store/commit');
      const store = openStore(o);
      const t = ref ? normalizeReference(ref) : null;
      const img = await locked(store, async () => {
        const c = resolveContainer(store, name);
        return commitContainer(store, c, { message: o.message, author: o.author }, t);
      });
      if (o.json) return json({ id: img.id, ref: t });
      out(img.id + '\n');
    },
  );

  common(program.command('save').description('write images to an archive').argument('<images...>').requiredOption('-o, --output <file>', 'archive to write'))
    .addOption(new Option('--format <format>', 'archive format').choices(['docker-archive', 'oci-archive']).default('docker-archive'))
    .action(async (names: string[], o: Common & { output: string; format: string }) => {
      const { saveDockerArchive, saveOciArchive } = await import('../image/save');
      const store = openStore(o);
      await locked(store, async () => {
        const imgs: SaveImage[] = [];
        const byId = new Map<string, SaveImage>();
        for (const n of names) {
          const img = resolveImage(store, n);
          let norm: string | null = null;
          try {
            norm = normalizeReference(n);
          } catch {
            /* an id */
          }
          const refs = norm && store.tags()[norm] === img.id ? [norm] : imageRefs(store, img.id);
          const prev = byId.get(img.id);
          if (prev) {
            for (const r of refs) if (!prev.refs.includes(r)) prev.refs.push(r);
            continue;
          }
          const s: SaveImage = { refs, configDigest: img.configDigest, manifestDigest: img.manifestDigest, layers: img.layers.map((l) => ({ digest: l.digest, diffId: l.diffId, size: l.size, diffSize: store.layer(l.chainId).diffSize })) };
          byId.set(img.id, s);
          imgs.push(s);
        }
        const blobs = { path: (d: string) => store.blobPath(d) };
        if (o.format === 'oci-archive') await saveOciArchive(o.output, imgs, blobs);
        else await saveDockerArchive(o.output, imgs, blobs);
      });
    });

  common(program.command('explain').description('which layer provides a path, what hides it, whether it was copied up').argument('<path>', 'path in a mounted container, or in --container').option('-c, --container <container>', 'container (PATH is then a path inside it)'), true).action(
    async (p: string, o: Common & { container?: string }) => {
      const { isMounted } = await containersMod();
      const { explainPath, layerHistory } = await changesMod();
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

  common(
    program
      .command('check')
      .description('verify the store; exit 1 and one line per problem when something is wrong')
      .option('--repair', 'remove garbage, roll back interrupted commits, clear stale mount state, detach mounts whose daemon died')
      .addHelpText(
        'after',
        `
Checked: every blob (manifests, configs, layer blobs as loaded) hashes to its name; every
layer has layer.json, diff/, its blob, and the same shape as at import (names, types,
modes, owners, sizes, mtimes, xattrs: file CONTENTS are not re-read, so an edit that
keeps size and mtime is not seen; layers imported before shapes were recorded get the
structural checks only); images, tags and containers name things that exist; mount
state agrees with the mount table and live strata-fs daemons; no leftovers of
interrupted commands, no orphan layers or blobs. --repair never deletes data that
something still uses: damage is reported only.`,
      ),
    true,
  ).action(async (o: Common & { repair?: boolean }) => {
    const { checkStore, problemLine } = await import('../store/check');
    const root = rootOf(o);
    const fs = await import('node:fs');
    if (!fs.existsSync(root)) throw new Error(`check: no store at ${root}`);
    const store = openStore(o);
    // the lock keeps other commands out, without the garbage collection that withLock runs
    await store.lock.acquire(undefined, sayWaiting);
    let r;
    try {
      r = checkStore(store, !!o.repair);
    } finally {
      store.lock.release();
    }
    const left = r.problems.filter((p) => !p.repaired);
    if (o.json) json({ clean: left.length === 0, ...r });
    else {
      for (const p of r.problems) out(problemLine(p) + '\n');
      if (r.problems.length === 0) out(`ok: ${r.checked.blobs} blobs, ${r.checked.layers} layers, ${r.checked.images} images, ${r.checked.containers} containers\n`);
    }
    if (left.length) process.exitCode = 1;
  });

  program
    .command('demo')
    .description('build a tiny image and walk through load, mount, write, diff, explain, commit')
    .option('--root <dir>', 'store root (default: a fresh temporary dir, removed afterwards)')
    .addOption(new Option('--driver <driver>', 'union filesystem (auto: strata-fs, else kernel overlayfs)').choices(['auto', 'strata-fs', 'overlay']).default('auto'))
    .option('--keep', 'keep the demo store')
    .action(async (o: { root?: string; driver: Driver; keep?: boolean }) => {
      const { runDemo } = await import('./demo');
      await runDemo({ root: o.root ?? (program.opts() as Common).root, driver: o.driver, keep: !!o.keep });
    });

  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  let finished = false;
  // a promise that can never settle would otherwise end the process silently with 0
  process.once('beforeExit', () => {
    if (!finished) {
      process.stderr.write('strata: internal error: the command stopped before finishing\n');
      process.exitCode = 70;
    }
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
    finished = true;
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    finished = true;
    if (e instanceof CommanderError) {
      // commander already printed its message (or help/version, which are not errors)
      return e.exitCode === 0 ? 0 : e.exitCode || 1;
    }
    const msg = (e as Error).message ?? String(e);
    process.stderr.write(`strata: ${msg.split('\n')[0]}\n`);
    if (process.env.STRATA_DEBUG) process.stderr.write(String((e as Error).stack) + '\n');
    return 1;
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => (process.exitCode = code));
}
