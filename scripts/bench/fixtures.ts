import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import { must } from './exec';
import { Sizes } from './options';
import { sharedDir, which } from './paths';
import { Progress } from './progress';

/**
 * Lower layers and inputs shared by every driver, built once and cached in the
 * work dir (a ".done" marker is written last, so an interrupted build is redone).
 * Drivers only ever read them: each run gets its own upper.
 */
export class Fixtures {
  private readonly root: string;
  private readonly memo = new Map<string, Promise<unknown>>();

  constructor(
    workdir: string,
    private readonly sizes: Sizes,
    private readonly rebuild: boolean,
    private readonly progress: Progress,
  ) {
    this.root = path.join(workdir, 'fixtures');
  }

  ociDir(): string {
    return path.join(sharedDir(), 'fixtures', 'oci');
  }

  private cached<T>(name: string, build: (dir: string) => Promise<void>, result: (dir: string) => T): Promise<T> {
    let p = this.memo.get(name) as Promise<T> | undefined;
    if (!p) {
      p = (async () => {
        const dir = path.join(this.root, name);
        const marker = `${dir}.done`;
        if (this.rebuild || !fs.existsSync(marker)) {
          this.progress.status(`preparing fixture ${name}`);
          fs.rmSync(marker, { force: true });
          fs.rmSync(dir, { recursive: true, force: true });
          fs.mkdirSync(dir, { recursive: true });
          await build(dir);
          fs.writeFileSync(marker, new Date().toISOString() + '\n');
        }
        return result(dir);
      })();
      this.memo.set(name, p);
    }
    return p;
  }

  /** A lower with nothing in it, for workloads that only create. */
  empty(): Promise<string[]> {
    return this.cached('empty', async () => {}, (d) => [d]);
  }

  /** A tiny lower to check that a driver mounts at all. */
  probe(): Promise<string[]> {
    return this.cached(
      'probe',
      async (d) => fs.writeFileSync(path.join(d, 'probe.txt'), 'strata bench probe\n'),
      (d) => [d],
    );
  }

  /** One big lower file of random bytes (not zeros: nothing may shortcut the data path). */
  big(): Promise<{ lowers: string[]; file: string }> {
    const mib = this.sizes.bigMiB;
    return this.cached(
      `big-${mib}m`,
      async (d) => {
        await must(['dd', 'if=/dev/urandom', `of=${path.join(d, 'big.dat')}`, 'bs=1M', `count=${mib}`, 'iflag=fullblock', 'status=none']);
      },
      (d) => ({ lowers: [d], file: 'big.dat' }),
    );
  }

  /** The base fixture image converted to overlayfs lowers by the shared tool. */
  baseRootfs(): Promise<{ lowers: string[]; topLevel: string[]; entries: number }> {
    return this.imageRootfs('base');
  }

  /** A fixture image (base, child, grandchild) converted to overlayfs lowers, topmost first. */
  imageRootfs(tag: string): Promise<{ lowers: string[]; topLevel: string[]; entries: number }> {
    return this.cached(
      `${tag}-rootfs`,
      async (d) => {
        await must([path.join(sharedDir(), 'tools', 'layers-to-overlay'), this.ociDir(), tag, d], { stdout: 'pipe' });
      },
      (d) => {
        const lowers = fs.readFileSync(path.join(d, 'lowerdir'), 'utf8').trim().split(':');
        const top = lowers[lowers.length - 1];
        return {
          lowers,
          topLevel: fs.readdirSync(top).sort(),
          entries: fs.readdirSync(top, { recursive: true }).length,
        };
      },
    );
  }

  /** The base image's layer as an uncompressed tar, so untar measures the filesystem, not gunzip. */
  baseTar(): Promise<string> {
    return this.cached(
      'base-tar',
      async (d) => {
        const blob = this.layerBlob('base', 0);
        const out = path.join(d, 'base.tar');
        const head = Buffer.alloc(4);
        const fd = fs.openSync(blob, 'r');
        fs.readSync(fd, head, 0, 4, 0);
        fs.closeSync(fd);
        if (head[0] === 0x1f && head[1] === 0x8b) {
          await pipeline(fs.createReadStream(blob), zlib.createGunzip(), fs.createWriteStream(out));
        } else if (head.readUInt32LE(0) === 0xfd2fb528) {
          if (!which('zstd')) throw new Error('the base layer is zstd-compressed and zstd is not installed');
          await must(['sh', '-c', 'zstd -dc -- "$1" > "$2"', 'sh', blob, out]);
        } else {
          fs.copyFileSync(blob, out);
        }
      },
      (d) => path.join(d, 'base.tar'),
    );
  }

  private layerBlob(tag: string, index: number): string {
    const oci = this.ociDir();
    const blob = (digest: string) => path.join(oci, 'blobs', ...digest.split(':'));
    const idx = JSON.parse(fs.readFileSync(path.join(oci, 'index.json'), 'utf8')) as {
      manifests: { digest: string; annotations?: Record<string, string> }[];
    };
    const m = idx.manifests.find((x) => x.annotations?.['org.opencontainers.image.ref.name'] === tag);
    if (!m) throw new Error(`tag ${tag} not found in ${oci}/index.json`);
    const manifest = JSON.parse(fs.readFileSync(blob(m.digest), 'utf8')) as { layers: { digest: string }[] };
    return blob(manifest.layers[index].digest);
  }

  /** Many small lower files of varied sizes, and a NUL-separated list of their relative paths. */
  small(): Promise<{ lowers: string[]; list: string; count: number }> {
    const n = this.sizes.smallFiles;
    return this.cached(
      `small-${n}`,
      async (d) => {
        const lower = path.join(d, 'lower');
        const names: string[] = [];
        for (let i = 0; i < n; i++) {
          const rel = `d${Math.floor(i / 100)}/f${i}`;
          if (i % 100 === 0) fs.mkdirSync(path.join(lower, path.dirname(rel)), { recursive: true });
          const size = 256 + ((i * 997) % 7937);
          fs.writeFileSync(path.join(lower, rel), Buffer.alloc(size, i % 251));
          names.push(rel);
        }
        fs.writeFileSync(path.join(d, 'files.list'), names.join('\0') + '\0');
      },
      (d) => ({ lowers: [path.join(d, 'lower')], list: path.join(d, 'files.list'), count: n }),
    );
  }

  /** Names for create+unlink, as a NUL-separated list. */
  names(): Promise<{ list: string; count: number }> {
    const n = this.sizes.createFiles;
    return this.cached(
      `names-${n}`,
      async (d) => {
        const names = Array.from({ length: n }, (_, i) => `file-${i}`);
        fs.writeFileSync(path.join(d, 'names.list'), names.join('\0') + '\0');
      },
      (d) => ({ list: path.join(d, 'names.list'), count: n }),
    );
  }

  /** A wide lower tree of empty files (1,000 per directory) for the memory walk. */
  tree(): Promise<{ lowers: string[]; entries: number }> {
    const n = this.sizes.walkEntries;
    const perDir = 1000;
    const dirs = Math.ceil(n / (perDir + 1));
    return this.cached(
      `tree-${n}`,
      async (d) => {
        let made = 0;
        for (let k = 0; k < dirs; k++) {
          const dir = path.join(d, `dir${k}`);
          fs.mkdirSync(dir);
          made++;
          for (let j = 0; j < perDir && made < n; j++, made++) fs.writeFileSync(path.join(dir, `entry${j}`), '');
        }
      },
      (d) => ({ lowers: [d], entries: n }),
    );
  }

  /** A writable copy of the OCI fixture layout: importers may want to lock or write in it. */
  ociCopy(): Promise<string> {
    return this.cached(
      'oci',
      async (d) => {
        await must(['cp', '-a', '--', `${this.ociDir()}/.`, d]);
        await must(['chmod', '-R', 'u+w', d]);
      },
      (d) => d,
    );
  }
}
