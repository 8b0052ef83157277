import * as fs from 'node:fs';
import * as path from 'node:path';
import { forceUnmount } from '../cleanup';
import { must, run } from '../exec';
import { binPath, which } from '../paths';
import { Tool, ToolWorkload, TIME } from './types';

/** bin/strata of this checkout, run through node when it lacks the exec bit. */
export function strataArgv(): string[] | null {
  const bin = binPath('strata');
  if (!fs.existsSync(bin)) return null;
  try {
    fs.accessSync(bin, fs.constants.X_OK);
    return [bin];
  } catch {
    return [process.execPath, bin];
  }
}

export function storeEnv(root: string): NodeJS.ProcessEnv {
  return { ...process.env, STRATA_ROOT: root };
}

const strataLoad: Tool = {
  name: 'strata',
  async prepare({ fx }) {
    const strata = strataArgv();
    if (!strata) return `${binPath('strata')} not found`;
    const oci = await fx.ociCopy();
    return {
      run: async (c) => {
        const argv = [...strata, 'load', oci];
        const r = await must(argv, { env: storeEnv(path.join(c.scratch, 'store')), stdout: 'pipe', timeoutMs: c.timeoutMs, precise: true });
        return { [TIME]: r.seconds };
      },
    };
  },
};

const umociUnpack: Tool = {
  name: 'umoci',
  async prepare({ fx }) {
    if (!which('umoci')) return 'umoci not installed (apt-get install umoci)';
    const oci = await fx.ociCopy();
    return {
      run: async (c) => {
        const r = await must(['umoci', 'unpack', '--image', `${oci}:grandchild`, path.join(c.scratch, 'bundle')], {
          timeoutMs: c.timeoutMs,
          precise: true,
        });
        return { [TIME]: r.seconds };
      },
    };
  },
};

export const importImage: ToolWorkload = {
  kind: 'tool',
  id: 'import',
  describe:
    'import the grandchild fixture (3 gzip layers), cold: `strata load` of the OCI layout into a fresh store vs `umoci unpack` into a fresh bundle',
  metrics: () => [{ id: TIME, label: 'import grandchild fixture, cold', unit: 's' }],
  cold: true,
  tools: [strataLoad, umociUnpack],
};

/** `Loaded image: NAME` lines, as docker prints them; the grandchild's if present. */
export function loadedImage(stdout: string): string | null {
  const names = [...stdout.matchAll(/^Loaded image(?: ID)?: (.+)$/gm)].map((m) => m[1].trim());
  return names.find((n) => n.includes('grandchild')) ?? names.pop() ?? null;
}

const strataCreateMount: Tool = {
  name: 'strata',
  async prepare({ fx, scratchRoot }) {
    const strata = strataArgv();
    if (!strata) return `${binPath('strata')} not found`;
    const oci = await fx.ociCopy();
    const env = storeEnv(path.join(scratchRoot, 'store'));
    const loaded = await must([...strata, 'load', oci], { env, stdout: 'pipe' });
    const image = loadedImage(loaded.stdout);
    if (!image) throw new Error('strata load printed no "Loaded image:" line');
    return {
      async run(c) {
        const created = await must([...strata, 'create', image], { env, stdout: 'pipe', timeoutMs: c.timeoutMs, precise: true });
        const id = created.stdout.trim().split('\n').pop()?.trim();
        if (!id) throw new Error('strata create printed no container id');
        const mnt = path.join(c.scratch, 'mnt');
        fs.mkdirSync(mnt);
        try {
          const mounted = await must([...strata, 'mount', id, mnt], { env, stdout: 'pipe', timeoutMs: c.timeoutMs, precise: true });
          return { create: created.seconds, mount: mounted.seconds, [TIME]: created.seconds + mounted.seconds };
        } finally {
          await run([...strata, 'umount', id], { env, cleanup: true, timeoutMs: 30_000 });
          await forceUnmount(mnt, null);
          await run([...strata, 'rm', '-f', id], { env, cleanup: true, timeoutMs: 30_000 });
        }
      },
    };
  },
};

export const createMount: ToolWorkload = {
  kind: 'tool',
  id: 'create-mount',
  describe: '`strata create` + `strata mount` of a container of the (already loaded) grandchild image',
  metrics: () => [
    { id: TIME, label: 'create+mount a container', unit: 's' },
    { id: 'create', label: '  strata create', unit: 's' },
    { id: 'mount', label: '  strata mount', unit: 's' },
  ],
  cold: false,
  tools: [strataCreateMount],
};
