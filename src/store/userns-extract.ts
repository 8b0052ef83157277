// Layer extraction for a store kept without root: the tar is unpacked by a child process
// that is root of the user's namespace (src/userns.ts), so every file gets the owner the
// layer gives it (stored on disk as the user's subordinate IDs), and the union's marks are
// user.overlay.* (trusted.* needs root of the host). The child also takes the layer's tree
// digest: the user alone may not read everything the layer holds.
//
// The parent streams the uncompressed tar into the child's stdin (it hashes what it sends,
// as for an extraction in this process); the child answers one JSON line on stdout.
import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { extractLayer, ExtractStats, LayerError } from '../image/extract';
import { USER_XATTRS } from '../union/format';
import { inUserNamespace, namespaceAnswer } from '../userns';
import { treeDigest, TreeDigest } from './treedigest';

interface Job {
  dest: string;
  lowers: string[];
}

interface Answer {
  entries?: number;
  tree?: TreeDigest;
  error?: string;
  layer?: boolean;
}

export interface NamespaceExtract extends ExtractStats {
  tree: TreeDigest;
}

export function extractInUserNamespace(input: Readable, dest: string, lowers: string[]): Promise<NamespaceExtract> {
  const job: Job = { dest, lowers };
  const argv = inUserNamespace([process.execPath, __filename, JSON.stringify(job)]);
  return new Promise<NamespaceExtract>((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let inputErr: Error | null = null;
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    // the child stops reading when it fails: its answer says why, not the broken pipe
    child.stdin.on('error', () => undefined);
    input.on('error', (e) => {
      inputErr ??= e;
      child.stdin.destroy();
    });
    input.pipe(child.stdin);
    child.on('error', (e) => reject(new Error(`cannot start the layer's extraction in a user namespace: ${e.message}`)));
    child.on('close', (code, sig) => {
      input.unpipe(child.stdin);
      if (code !== 0) input.destroy();
      if (inputErr) return reject(inputErr);
      try {
        const a = namespaceAnswer<Answer>({ code, signal: sig, stdout: out, stderr: err }, "the layer's extraction", (x) => x.entries !== undefined && x.tree !== undefined, (x) => (x.layer ? new LayerError(x.error) : new Error(x.error)));
        resolve({ entries: a.entries!, tree: a.tree! });
      } catch (e) {
        reject(e as Error);
      }
    });
  });
}

async function childMain(): Promise<void> {
  const job = JSON.parse(process.argv[2]!) as Job;
  const write = (a: Answer): void => {
    process.stdout.write(JSON.stringify(a) + '\n');
  };
  try {
    const stats = await extractLayer(process.stdin, job.dest, { lowers: job.lowers, xattrs: USER_XATTRS, userNamespace: true });
    write({ entries: stats.entries, tree: treeDigest(job.dest) });
  } catch (e) {
    write({ error: (e as Error).message, layer: e instanceof LayerError });
    process.exitCode = 1;
  }
}

if (require.main === module) void childMain();
