// strata load: images from a docker-archive, oci-archive or OCI layout, or an archive on stdin.
import * as path from 'node:path';
import type { Command } from 'commander';
import { Common, common, json, locked, openStore, out } from '../context';

export function register(program: Command): void {
  common(
    program
      .command('load')
      .description('load images from a docker-archive, oci-archive or OCI layout dir (default: an archive on stdin)')
      .argument('[file]', 'archive or OCI layout directory ("-": stdin)')
      .option('-i, --input <file>', 'archive or OCI layout directory ("-": stdin)')
      .option('-q, --quiet', 'no progress display, even on a terminal (the Loaded image lines stay)')
      .addHelpText('after', `
Examples:
  strata load -i alpine.tar
  strata load < app.tar
  skopeo copy docker://alpine oci-archive:/dev/stdout | strata load -i -`),
    true,
  ).action(
    async (file: string | undefined, o: Common & { input?: string; quiet?: boolean }) => {
      const given = o.input ?? file;
      const src = given === '-' ? undefined : given;
      if (given === '-' && process.stdin.isTTY) throw new Error('load: -i - reads an archive from stdin, and stdin is a terminal: pipe an archive in');
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
      const { loadImages } = await import('../../store/importer');
      const { ttyProgress } = await import('../progress');
      const progress = () => (o.quiet ? undefined : ttyProgress());
      const store = openStore(o);
      const r = await locked(store, async () => {
        if (src) return loadImages(store, src, progress());
        // like docker load: the archive on stdin, spooled under tmp/ (members are read by offset)
        const spool = path.join(store.makeTmp('stdin'), 'archive');
        const { pipeline } = await import('node:stream/promises');
        const fs = await import('node:fs');
        await pipeline(process.stdin, fs.createWriteStream(spool, { flags: 'wx' }));
        try {
          if (fs.statSync(spool).size === 0) throw new Error('load: stdin is empty (give an archive with -i FILE or pipe one in)');
          return await loadImages(store, spool, progress());
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
}
