// Packing a container's upper into a layer tar for a store kept without root (commit): the
// upper's files are owned by the user's subordinate IDs, which the user alone may not
// read, and the tar must carry the owners the image knows (0..N, not the host's IDs). So a
// child that is root of the user's namespace (src/userns.ts) packs it: it reads everything,
// and sees the owners as the image has them. It writes the blob to the file it is given and
// answers one JSON line on stdout.
import { packLayer, PackedLayer } from '../image/pack';
import { USER_XATTRS } from '../union/format';
import { inUserNamespace, namespaceAnswer, runInNamespace } from '../userns';

interface Job {
  dir: string;
  out: string;
}

export async function packInUserNamespace(dir: string, out: string): Promise<PackedLayer> {
  const job: Job = { dir, out };
  const r = await runInNamespace(inUserNamespace([process.execPath, __filename, JSON.stringify(job)]), 'packing the layer');
  return namespaceAnswer<PackedLayer>(r, 'packing the layer', (a) => Boolean(a.digest));
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
