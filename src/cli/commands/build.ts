// strata build: an image from a Dockerfile, as docker's classic builder makes it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { Common, common, openStore, out } from '../context';

const collect = (v: string, prev: string[]) => [...prev, v];

export function register(program: Command): void {
  common(program.command('build').description('build an image from a Dockerfile').argument('<context>', 'a directory, - (a tar on stdin) or a git repository'))
    .option('-t, --tag <name[:tag]>', 'tag the image (repeatable)', collect, [])
    .option('-f, --file <path>', 'the Dockerfile (default: CONTEXT/Dockerfile)')
    .option('--build-arg <K=V>', 'set a build-time variable (repeatable)', collect, [])
    .option('--target <stage>', 'build up to this stage')
    .option('--no-cache', 'do not reuse earlier steps')
    .option('-q, --quiet', 'print only the image id')
    .option('--label <K=V>', 'add a label to the image (repeatable)', collect, [])
    .action(async (spec: string, o: Common & { tag: string[]; file?: string; buildArg: string[]; target?: string; cache: boolean; quiet?: boolean; label: string[] }) => {
      const { Builder } = await import('../../build/builder');
      const { openContext } = await import('../../build/context');
      const { normalizeReference } = await import('../../image/reference');
      for (const t of o.tag) normalizeReference(t); // a bad name fails before any work
      const buildArgs = new Map<string, string>();
      for (const a of o.buildArg) {
        const i = a.indexOf('=');
        if (i === 0) throw new Error(`invalid --build-arg ${JSON.stringify(a)}`);
        if (i > 0) buildArgs.set(a.slice(0, i), a.slice(i + 1));
        else if (process.env[a] !== undefined) buildArgs.set(a, process.env[a] as string);
      }
      const labels = o.label.map((l): [string, string] => {
        const i = l.indexOf('=');
        return i < 0 ? [l, ''] : [l.slice(0, i), l.slice(i + 1)];
      });
      // -f names a file from here, not from the context (which may be a tar or a clone)
      const fileArg = o.file !== undefined && o.file !== '-' ? path.resolve(o.file) : null;
      const store = openStore(o);
      const ctx = await openContext(spec, process.stdin);
      try {
        const dfPath = fileArg ?? path.join(ctx.dir, 'Dockerfile');
        let text: string;
        try {
          text = fs.readFileSync(dfPath, 'utf8');
        } catch {
          throw new Error(`cannot locate the Dockerfile: ${o.file ?? 'Dockerfile'}`);
        }
        const say = o.quiet ? () => undefined : (s: string) => void process.stdout.write(s);
        const b = new Builder(store, ctx, { tags: o.tag, buildArgs, target: o.target?.toLowerCase() ?? null, noCache: !o.cache, quiet: !!o.quiet, labels, say });
        const img = await b.build(text);
        if (o.quiet) out(img.id + '\n');
      } finally {
        ctx.cleanup();
      }
    });
}
