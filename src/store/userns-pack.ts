// Packing a container's upper into a layer tar for a store kept without root (commit): the
// upper's files are owned by the user's subordinate IDs, which the user alone may not
// read, and the tar must carry the owners the image knows (0..N, not the host's IDs). So a
// child that is root of the user's namespace (src/userns.ts) packs it: it reads everything,
// and sees the owners as the image has them. It writes the blob to the file it is given and
// answers one JSON line on stdout.
import { spawn } from 'node:child_process';
import { packLayer, PackedLayer } from '../image/pack';
import { USER_XATTRS } from '../union/format';
import { inUserNamespace, LAUNCH_FAILED } from '../userns';

interface Job {
  dir: string;
  out: string;
}

export function packInUserNamespace(dir: string, out: string): Promise<PackedLayer> {
  const job: Job = { dir, out };
  const argv = inUserNamespace([process.execPath, __filename, JSON.stringify(job)]);
  return new Promise<PackedLayer>((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let said = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (said += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', (e) => reject(new Error(`cannot start packing the layer in a user namespace: ${e.message}`)));
    child.on('close', (code, sig) => {
      let a: (PackedLayer & { error?: string }) | null = null;
      try {
        a = JSON.parse(said.trim().split('\n').pop() ?? '') as PackedLayer & { error?: string };
      } catch {
        a = null;
      }
      if (a?.error !== undefined) return reject(new Error(a.error));
      if (code === 0 && a && a.digest) return resolve(a);
      const why = err.trim().split('\n').filter(Boolean).pop();
      if (code === LAUNCH_FAILED && why) return reject(new Error(why.replace(/^strata: /, '')));
      reject(new Error(`packing the layer in a user namespace failed (${sig ?? `exit ${code}`})${why ? `: ${why}` : ''}`));
    });
  });
}

async function childMain(): Promise<void> {
  const job = JSON.parse(process.argv[2]!) as Job;
  try {
    const packed = await packLayer(job.dir, job.out, USER_XATTRS);
    process.stdout.write(JSON.stringify(packed) + '\n');
  } catch (e) {
    process.stdout.write(JSON.stringify({ error: (e as Error).message }) + '\n');
    process.exitCode = 1;
  }
}

if (require.main === module) void childMain();
