// Containers and builds: `strata run --rm IMAGE true` beside `runc run` of the same
// rootfs on a plain directory, and `strata build` of a 10-step Dockerfile (uncached, then
// fully cached) beside `buildah bud --layers` with fuse-overlayfs as its mount program;
// and that buildah build through strata-fs as the mount program beside fuse-overlayfs.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { must, run } from '../exec';
import { binPath, which } from '../paths';
import { Tool, ToolWorkload, TIME } from './types';

function strataArgv(): string[] | null {
  const bin = binPath('strata');
  return fs.existsSync(bin) ? [process.execPath, bin] : null;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Iterations per figure for the start-up latency (its p50 is the figure). */
const iterations = (quick: boolean) => (quick ? 5 : 15);

const strataRun: Tool = {
  name: 'strata',
  async prepare({ fx, opts, scratchRoot }) {
    const strata = strataArgv();
    if (!strata) return `${binPath('strata')} not found`;
    if (!which('runc')) return 'runc not installed (apt-get install runc)';
    const env = { ...process.env, STRATA_ROOT: path.join(scratchRoot, 'store') };
    await must([...strata, 'load', await fx.ociCopy()], { env, stdout: 'pipe' });
    return {
      async run(c) {
        const times: number[] = [];
        for (let i = 0; i < iterations(opts.quick); i++) times.push((await must([...strata, 'run', '--rm', 'base', 'true'], { env, timeoutMs: c.timeoutMs, precise: true })).seconds);
        return { [TIME]: median(times) };
      },
    };
  },
};

const runcRun: Tool = {
  name: 'runc',
  async prepare({ fx, opts, scratchRoot }) {
    if (!which('runc')) return 'runc not installed (apt-get install runc)';
    if (!which('umoci')) return 'umoci not installed (apt-get install umoci)';
    const bundle = path.join(scratchRoot, 'bundle');
    await must(['umoci', 'unpack', '--image', `${await fx.ociCopy()}:base`, bundle]);
    fs.rmSync(path.join(bundle, 'config.json'));
    await must(['runc', 'spec', '--bundle', bundle]);
    const cfg = JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8')) as { root: { path: string }; process: { terminal: boolean; args: string[] } };
    cfg.root.path = path.join(bundle, 'rootfs');
    cfg.process.terminal = false;
    cfg.process.args = ['true'];
    fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(cfg));
    const state = path.join(scratchRoot, 'runc-state');
    let n = 0;
    return {
      async run(c) {
        const times: number[] = [];
        for (let i = 0; i < iterations(opts.quick); i++) {
          const id = `strata-bench-${process.pid}-${n++}`;
          try {
            times.push((await must(['runc', '--root', state, 'run', '--bundle', bundle, id], { timeoutMs: c.timeoutMs, precise: true })).seconds);
          } finally {
            await run(['runc', '--root', state, 'delete', '-f', id], { cleanup: true, timeoutMs: 30_000 });
          }
        }
        return { [TIME]: median(times) };
      },
    };
  },
};

export const runTrue: ToolWorkload = {
  kind: 'tool',
  id: 'run',
  describe: '`strata run --rm base true` (create, init layer, strata-fs mount, bundle, runc create/start, wait, unmount, remove), p50 of 5 (quick) or 15, vs `runc run` of the same rootfs unpacked by umoci on a plain directory',
  metrics: () => [{ id: TIME, label: 'run --rm IMAGE true, p50', unit: 's' }],
  cold: false,
  tools: [strataRun, runcRun],
};

/** A 10-step Dockerfile (FROM + 9): metadata steps, COPYs and RUNs, as a small app's would be. */
function writeContext(dir: string): void {
  fs.mkdirSync(path.join(dir, 'src', 'lib'), { recursive: true });
  for (let i = 0; i < 50; i++) fs.writeFileSync(path.join(dir, 'src', 'lib', `mod${i}.sh`), `# module ${i}\n`.repeat(40));
  fs.writeFileSync(path.join(dir, 'src', 'main.sh'), '#!/bin/sh\necho app\n', { mode: 0o755 });
  fs.writeFileSync(path.join(dir, 'app.conf'), 'level=info\n');
  fs.writeFileSync(
    path.join(dir, 'Dockerfile'),
    [
      'FROM localhost/base',
      'ENV APP_HOME=/srv/app LANG=C.UTF-8',
      'WORKDIR /srv/app',
      'COPY app.conf /etc/app.conf',
      'RUN mkdir -p /srv/app/data /var/log/app && echo built > /srv/app/data/stamp',
      'COPY src/ ./',
      'RUN chmod -R a+rX /srv/app && ls /srv/app/lib | wc -l > /srv/app/data/count',
      'LABEL org.example.bench=yes',
      'EXPOSE 8080',
      'CMD ["/srv/app/main.sh"]',
      '',
    ].join('\n'),
  );
}

const strataBuild: Tool = {
  name: 'strata',
  async prepare({ fx, scratchRoot }) {
    const strata = strataArgv();
    if (!strata) return `${binPath('strata')} not found`;
    if (!which('runc')) return 'runc not installed (apt-get install runc)';
    const env = { ...process.env, STRATA_ROOT: path.join(scratchRoot, 'store') };
    await must([...strata, 'load', await fx.ociCopy()], { env, stdout: 'pipe' });
    await must([...strata, 'tag', 'base', 'localhost/base'], { env, stdout: 'pipe' });
    const ctx = path.join(scratchRoot, 'ctx');
    writeContext(ctx);
    return {
      async run(c) {
        const build = await must([...strata, 'build', '--no-cache', '-q', '-t', 'bench:1', ctx], { env, stdout: 'pipe', timeoutMs: c.timeoutMs, precise: true });
        const cached = await must([...strata, 'build', '-q', '-t', 'bench:1', ctx], { env, stdout: 'pipe', timeoutMs: c.timeoutMs, precise: true });
        return { [TIME]: build.seconds, cached: cached.seconds };
      },
    };
  },
};

/** buildah bud of the bench Dockerfile (uncached, then cached) in a store of its own whose
 *  overlay driver mounts through `program` (fuse-overlayfs or strata-fs). */
function buildahThrough(name: string, program: () => string | null, missing: string): Tool {
  return {
    name,
    async prepare({ fx, scratchRoot }) {
      if (!which('buildah')) return 'buildah not installed (apt-get install buildah)';
      const mp = program();
      if (!mp) return missing;
      const conf = path.join(scratchRoot, 'conf');
      fs.mkdirSync(conf);
      fs.writeFileSync(path.join(conf, 'containers.conf'), '[containers]\ndefault_ulimits = []\n[engine]\ncgroup_manager = "cgroupfs"\n');
      const graph = path.join(scratchRoot, 'graph');
      const runroot = path.join(scratchRoot, 'run');
      fs.writeFileSync(path.join(conf, 'storage.conf'), `[storage]\ndriver = "overlay"\nrunroot = "${runroot}"\ngraphroot = "${graph}"\n[storage.options.overlay]\nmount_program = "${mp}"\n`);
      const env = { ...process.env, CONTAINERS_CONF: path.join(conf, 'containers.conf'), CONTAINERS_STORAGE_CONF: path.join(conf, 'storage.conf') };
      const bh = ['buildah', '--root', graph, '--runroot', runroot];
      await must([...bh, 'pull', '-q', `oci:${await fx.ociCopy()}:base`], { env, stdout: 'pipe' });
      const id = (await must([...bh, 'images', '-q'], { env, stdout: 'pipe' })).stdout.trim().split('\n')[0];
      await must([...bh, 'tag', id, 'localhost/base'], { env });
      const ctx = path.join(scratchRoot, 'ctx');
      writeContext(ctx);
      return {
        async run(c) {
          const b = ['bud', '--isolation', 'chroot', '--layers', '-q', '-t', 'bench:1', ctx];
          const build = await must([...bh, ...b.slice(0, 1), '--no-cache', ...b.slice(1)], { env, stdout: 'pipe', timeoutMs: c.timeoutMs, precise: true });
          const cached = await must([...bh, ...b], { env, stdout: 'pipe', timeoutMs: c.timeoutMs, precise: true });
          return { [TIME]: build.seconds, cached: cached.seconds };
        },
      };
    },
  };
}

const FUSE_OVERLAYFS_MISSING = 'fuse-overlayfs not installed (apt-get install fuse-overlayfs)';
const buildahBuild = buildahThrough('buildah', () => which('fuse-overlayfs'), FUSE_OVERLAYFS_MISSING);

export const buildDockerfile: ToolWorkload = {
  kind: 'tool',
  id: 'build',
  describe: '`strata build --no-cache` of a 10-step Dockerfile (FROM, 2 COPY, 2 RUN, 5 config steps) on the base fixture, then the same build fully cached, vs `buildah bud --isolation chroot --layers` with fuse-overlayfs as its mount program',
  metrics: () => [
    { id: TIME, label: 'build a 10-step Dockerfile', unit: 's' },
    { id: 'cached', label: '  rebuild, fully cached', unit: 's' },
  ],
  cold: false,
  tools: [strataBuild, buildahBuild],
};

/** The same buildah build, its store mounting through strata-fs (column "strata") and
 *  through fuse-overlayfs: strata-fs as containers-storage's mount program. */
export const buildahMountProgram: ToolWorkload = {
  kind: 'tool',
  id: 'buildah-mp',
  describe: '`buildah bud --isolation chroot --layers` of the same 10-step Dockerfile, uncached then cached, its overlay driver mounting through strata-fs (column strata) vs through fuse-overlayfs (`mount_program` in storage.conf)',
  metrics: () => [
    { id: TIME, label: 'buildah bud through the mount program', unit: 's' },
    { id: 'cached', label: '  buildah rebuild, fully cached', unit: 's' },
  ],
  cold: false,
  tools: [
    buildahThrough('strata', () => (fs.existsSync(binPath('strata-fs')) ? binPath('strata-fs') : null), `${binPath('strata-fs')} not found`),
    buildahThrough('fuse-overlayfs', () => which('fuse-overlayfs'), FUSE_OVERLAYFS_MISSING),
  ],
};
