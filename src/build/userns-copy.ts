// COPY and ADD for a store kept without root: the build container's mount shows the image's
// files as owned by the user's subordinate IDs, which the user alone may neither write into
// (a 0700 directory of the image's) nor give as owners (--chown, a tar's entries). So a
// child that is root of the user's namespace (src/userns.ts) does the step's work: there the
// mount shows the image's own IDs (0..N), its root may write anywhere in it, and copy.ts
// runs as it does for root. The context belongs to the user, root of the namespace, who
// reads it as before. The child answers one JSON line on stdout.
import { BuildContext } from './context';
import { copyStep, CopyStep } from './copy';
import { hostId, inUserNamespace, namespaceAnswer, runInNamespace } from '../userns';

interface Job {
  ctx: { dir: string; rootfs: boolean; names: Array<[string, string]> };
  /** the step's work, or (digest) only the digest of its sources, for the build cache */
  step?: CopyStep;
  digest?: string[];
}

interface Answer {
  ok?: boolean;
  digest?: string;
  error?: string;
}

export function copyStepInUserNamespace(srcCtx: BuildContext, step: CopyStep): Promise<void> {
  const o = step.opts.owner;
  if (o && (hostId(o.uid, 'uid') === null || hostId(o.gid, 'gid') === null)) {
    return Promise.reject(new Error(`the owner ${o.uid}:${o.gid} is outside your subordinate ID ranges (/etc/subuid, /etc/subgid): give an owner inside them, add a larger range, or run as root`));
  }
  return inChild({ ctx: { dir: srcCtx.dir, rootfs: srcCtx.rootfs, names: [...srcCtx.names] }, step }).then(() => undefined);
}

/** The digest of sources in srcCtx (another stage's or image's mounted tree, which may hold
 *  0700 directories of subordinate IDs), read in the user's namespace. */
export async function digestInUserNamespace(srcCtx: BuildContext, sources: string[]): Promise<string> {
  const a = await inChild({ ctx: { dir: srcCtx.dir, rootfs: srcCtx.rootfs, names: [...srcCtx.names] }, digest: sources });
  return a.digest!;
}

async function inChild(job: Job): Promise<Answer> {
  const r = await runInNamespace(inUserNamespace([process.execPath, __filename]), 'the copy', JSON.stringify(job));
  return namespaceAnswer<Answer>(r, 'the copy', (a) => a.ok === true);
}

async function childMain(): Promise<void> {
  let job: Job | null = null;
  try {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    job = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Job;
    const ctx = new BuildContext(job.ctx.dir, () => undefined, job.ctx.rootfs);
    for (const [k, v] of job.ctx.names) ctx.names.set(k, v);
    if (job.digest) return void process.stdout.write(JSON.stringify({ ok: true, digest: ctx.digest(job.digest) }) + '\n');
    await copyStep(ctx, job.step!);
    process.stdout.write(JSON.stringify({ ok: true }) + '\n');
  } catch (e) {
    const x = e as NodeJS.ErrnoException;
    // the kernel's answer to an owner the namespace does not map (an ADDed archive's entry)
    const msg = x.code === 'EINVAL' && x.syscall === 'lchown' ? `${x.path ? `${x.path.slice(job?.step?.root.length ?? 0) || '/'}: ` : ''}its owner in the archive is outside your subordinate ID ranges (/etc/subuid, /etc/subgid): add a larger range, or run as root` : x.message;
    process.stdout.write(JSON.stringify({ error: msg }) + '\n');
    process.exitCode = 1;
  }
}

if (require.main === module) void childMain();
