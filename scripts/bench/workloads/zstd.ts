// zstd against gzip and against the zstd tool: the fixture's base layer (the same tar,
// 24 MB as zstd, 30 MB as gzip) decompressed by strata's decoder and by `zstd -dc`, and
// a whole `strata load` of the zstd fixture against the gzip one.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { consumedBy, decompressor, zstdDecoder } from '../../../src/image/compression';
import { must } from '../exec';
import { binPath, sharedDir, which } from '../paths';
import { Tool, ToolWorkload, TIME } from './types';
import { storeEnv, strataArgv } from './tools';

/** The largest layer blob of a fixture layout (the base layer). */
function baseLayer(layout: string): string {
  const dir = path.join(sharedDir(), 'fixtures', layout, 'blobs', 'sha256');
  const files = fs.readdirSync(dir).map((f) => path.join(dir, f));
  return files.sort((a, b) => fs.statSync(b).size - fs.statSync(a).size)[0];
}

/** Wall and CPU seconds (user+sys, of this process) to decompress FILE through strata's decoder. */
async function decodeSeconds(file: string, kind: 'gzip' | 'zstd'): Promise<{ wall: number; cpu: number }> {
  let n = 0;
  const dec = decompressor(kind);
  // done with each chunk once counted, as the extractor is once it has written one
  const done = consumedBy(dec);
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      n += chunk.length;
      done(chunk);
      cb();
    },
  });
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await pipeline(fs.createReadStream(file, { highWaterMark: 1 << 20 }), dec, sink);
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const c = process.cpuUsage(c0);
  if (n === 0) throw new Error(`${file}: nothing decompressed`);
  return { wall, cpu: (c.user + c.system) / 1e6 };
}

const strataDecode: Tool = {
  name: 'strata',
  async prepare() {
    const z = baseLayer('oci-zstd');
    const g = baseLayer('oci');
    return {
      run: async () => {
        const zs = await decodeSeconds(z, 'zstd');
        const gz = await decodeSeconds(g, 'gzip');
        return { [TIME]: zs.wall, cpu: zs.cpu, gzip: gz.wall };
      },
    };
  },
};

const zstdTool: Tool = {
  name: 'zstd -dc',
  async prepare() {
    if (!which('zstd')) return 'zstd not installed (apt-get install zstd)';
    const z = baseLayer('oci-zstd');
    return {
      run: async (c) => {
        // bash's `times`: the child's user and system time, the CPU figure next to the wall one
        const r = await must(['bash', '-c', 'zstd -dc -- "$0" >/dev/null && times', z], { timeoutMs: c.timeoutMs, precise: true, stdout: 'pipe' });
        const m = /\n(\d+)m([\d.]+)s (\d+)m([\d.]+)s\s*$/.exec(r.stdout);
        if (!m) throw new Error(`no times output from bash: ${JSON.stringify(r.stdout)}`);
        return { [TIME]: r.seconds, cpu: Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4]) };
      },
    };
  },
};

export const zstdDecode: ToolWorkload = {
  kind: 'tool',
  id: 'zstd-decode',
  describe: `decompress the base fixture layer: strata's zstd decoder (${zstdDecoder()}) vs \`zstd -dc\`; and strata's gunzip of the same layer as gzip`,
  metrics: () => [
    { id: TIME, label: 'decompress base layer (zstd)', unit: 's' },
    { id: 'cpu', label: '  CPU time (user+sys)', unit: 's' },
    { id: 'gzip', label: '  same layer as gzip (strata)', unit: 's' },
  ],
  cold: false,
  tools: [strataDecode, zstdTool],
};

function loadTool(name: string, layout: string): Tool {
  return {
    name,
    async prepare() {
      const strata = strataArgv();
      if (!strata) return `${binPath('strata')} not found`;
      const oci = path.join(sharedDir(), 'fixtures', layout);
      return {
        run: async (c) => {
          const r = await must([...strata, 'load', oci], { env: storeEnv(path.join(c.scratch, 'store')), stdout: 'pipe', timeoutMs: c.timeoutMs, precise: true });
          return { [TIME]: r.seconds };
        },
      };
    },
  };
}

export const loadZstd: ToolWorkload = {
  kind: 'tool',
  id: 'load-zstd',
  describe: '`strata load` of the zstd fixture layout (strata) vs of the gzip one (gzip), into fresh stores: the same three images',
  metrics: () => [{ id: TIME, label: 'load fixture layout, zstd vs gzip', unit: 's' }],
  cold: true,
  tools: [loadTool('strata', 'oci-zstd'), loadTool('gzip', 'oci')],
};
