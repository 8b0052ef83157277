import * as fs from 'node:fs';
import * as path from 'node:path';
import { forceUnmount } from '../cleanup';
import { must, run } from '../exec';
import { binPath, which } from '../paths';
import { Tool, ToolWorkload, TIME } from './types';
import { LocalRegistry, startRegistry } from '../registry';

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

/** Fresh registries per run (push) or one filled in prepare (pull). */
const registryReason = (): string | null => (which('docker-registry') ? (which('skopeo') ? null : 'skopeo not installed (apt-get install skopeo)') : 'docker-registry not installed (apt-get install docker-registry)');

async function filledRegistry(dir: string, oci: string): Promise<LocalRegistry> {
  const reg = await startRegistry(dir);
  try {
    await must(['skopeo', 'copy', '--quiet', '--dest-tls-verify=false', `oci:${oci}:grandchild`, `docker://${reg.host}/grandchild:latest`], { timeoutMs: 300_000 });
  } catch (e) {
    await reg.stop();
    throw e;
  }
  return reg;
}

const strataPull: Tool = {
  name: 'strata',
  async prepare({ fx, scratchRoot }) {
    const strata = strataArgv();
    if (!strata) return `${binPath('strata')} not found`;
    const why = registryReason();
    if (why) return why;
    const reg = await filledRegistry(path.join(scratchRoot, 'registry'), await fx.ociCopy());
    return {
      run: async (c) => {
        const r = await must([...strata, 'pull', '-q', `${reg.host}/grandchild`], { env: storeEnv(path.join(c.scratch, 'store')), stdout: 'pipe', timeoutMs: c.timeoutMs, precise: true });
        return { [TIME]: r.seconds };
      },
      dispose: () => reg.stop(),
    };
  },
};

const skopeoUmociPull: Tool = {
  name: 'skopeo+umoci',
  async prepare({ fx, scratchRoot }) {
    if (!which('umoci')) return 'umoci not installed (apt-get install umoci)';
    const why = registryReason();
    if (why) return why;
    const reg = await filledRegistry(path.join(scratchRoot, 'registry'), await fx.ociCopy());
    return {
      run: async (c) => {
        const layout = path.join(c.scratch, 'oci');
        const copy = await must(['skopeo', 'copy', '--quiet', '--src-tls-verify=false', `docker://${reg.host}/grandchild:latest`, `oci:${layout}:grandchild`], { timeoutMs: c.timeoutMs, precise: true });
        const unpack = await must(['umoci', 'unpack', '--image', `${layout}:grandchild`, path.join(c.scratch, 'bundle')], { timeoutMs: c.timeoutMs, precise: true });
        return { [TIME]: copy.seconds + unpack.seconds, copy: copy.seconds, unpack: unpack.seconds };
      },
      dispose: () => reg.stop(),
    };
  },
};

export const pullImage: ToolWorkload = {
  kind: 'tool',
  id: 'pull',
  describe:
    'pull the grandchild fixture from a local docker-registry, cold: `strata pull` into a fresh store vs `skopeo copy` to an OCI layout + `umoci unpack` into a fresh bundle',
  metrics: () => [
    { id: TIME, label: 'pull grandchild from a local registry, cold', unit: 's' },
    { id: 'copy', label: '  skopeo copy to an OCI layout', unit: 's' },
    { id: 'unpack', label: '  umoci unpack', unit: 's' },
  ],
  cold: true,
  tools: [strataPull, skopeoUmociPull],
};

const strataPush: Tool = {
  name: 'strata',
  async prepare({ fx, scratchRoot }) {
    const strata = strataArgv();
    if (!strata) return `${binPath('strata')} not found`;
    const why = registryReason();
    if (why) return why;
    const env = storeEnv(path.join(scratchRoot, 'store'));
    await must([...strata, 'load', await fx.ociCopy()], { env, stdout: 'pipe' });
    return {
      run: async (c) => {
        const reg = await startRegistry(path.join(c.scratch, 'registry'));
        try {
          await must([...strata, 'tag', 'grandchild', `${reg.host}/grandchild:latest`], { env });
          const r = await must([...strata, 'push', '-q', `${reg.host}/grandchild:latest`], { env, stdout: 'pipe', timeoutMs: c.timeoutMs, precise: true });
          await must([...strata, 'rmi', `${reg.host}/grandchild:latest`], { env, stdout: 'pipe' });
          return { [TIME]: r.seconds };
        } finally {
          await reg.stop();
        }
      },
    };
  },
};

const skopeoPush: Tool = {
  name: 'skopeo',
  async prepare({ fx }) {
    const why = registryReason();
    if (why) return why;
    const oci = await fx.ociCopy();
    return {
      run: async (c) => {
        const reg = await startRegistry(path.join(c.scratch, 'registry'));
        try {
          const r = await must(['skopeo', 'copy', '--quiet', '--dest-tls-verify=false', `oci:${oci}:grandchild`, `docker://${reg.host}/grandchild:latest`], { timeoutMs: c.timeoutMs, precise: true });
          return { [TIME]: r.seconds };
        } finally {
          await reg.stop();
        }
      },
    };
  },
};

export const pushImage: ToolWorkload = {
  kind: 'tool',
  id: 'push',
  describe: 'push the grandchild fixture (3 gzip layers, 31 MB) to an empty local docker-registry: `strata push` from the store vs `skopeo copy` from the OCI layout',
  metrics: () => [{ id: TIME, label: 'push grandchild to an empty registry', unit: 's' }],
  cold: false,
  tools: [strataPush, skopeoPush],
};
