// strata save: images to a docker-archive or oci-archive.
import { Command, Option } from 'commander';
import type { SaveImage } from '../../image/save';
import { findImage, imageRefs } from '../../store/resolve';
import { Common, common, locked, openStore } from '../context';

export function register(program: Command): void {
  common(
    program
      .command('save')
      .description('write images to an archive (a file with -o, else stdout when it is not a terminal)')
      .argument('<images...>', 'image names (name[:tag]) or ids')
      .option('-o, --output <file>', 'archive to write ("-": stdout; default: stdout, refused on a terminal)')
      .addHelpText('after', `
Examples:
  strata save -o app.tar me/app:2 base:1
  strata save me/app:2 | gzip > app.tar.gz
  strata save --format oci-archive -o app.oci.tar me/app:2`),
  )
    .addOption(new Option('--format <format>', 'archive format').choices(['docker-archive', 'oci-archive']).default('docker-archive'))
    .action(async (names: string[], o: Common & { output?: string; format: string }) => {
      const { saveDockerArchive, saveOciArchive } = await import('../../image/save');
      const toStdout = o.output === undefined || o.output === '-';
      if (o.output === undefined && process.stdout.isTTY) throw new Error('cowardly refusing to write an archive to a terminal: use -o FILE or redirect stdout (strata save IMAGE > file.tar)');
      const target = toStdout ? process.stdout : o.output!;
      const store = openStore(o);
      await locked(store, async () => {
        const imgs: SaveImage[] = [];
        const byId = new Map<string, SaveImage>();
        const tags = store.tags();
        for (const n of names) {
          const { img, tag } = findImage(store, n, tags);
          const refs = tag ? [tag] : imageRefs(store, img.id);
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
        if (o.format === 'oci-archive') await saveOciArchive(target, imgs, blobs);
        else await saveDockerArchive(target, imgs, blobs);
      });
    });
}
