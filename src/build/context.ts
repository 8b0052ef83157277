// The build context: a directory, a tar on stdin, or a git repository cloned into a
// temporary directory; .dockerignore applied with docker's matching rules. Sources are
// resolved inside it and never outside: `COPY ../x` and a symlink leading out are refused.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import type { Readable } from 'node:stream';
import ignore from '@balena/dockerignore';
import { extractLayer } from '../image/extract';
import { resolveInRoot } from '../runtime/rootfs';

export class BuildContext {
  private readonly ig: ReturnType<typeof ignore>;
  private readonly hasNegations: boolean;
  /** rootfs: a stage's or image's tree for COPY --from: symlinks resolve inside it, no .dockerignore */
  constructor(readonly dir: string, readonly cleanup: () => void, readonly rootfs = false) {
    let lines: string[] = [];
    try {
      if (!rootfs) lines = fs.readFileSync(path.join(dir, '.dockerignore'), 'utf8').split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    } catch {
      /* none */
    }
    this.ig = ignore().add(lines);
    this.hasNegations = lines.some((l) => l.startsWith('!'));
  }

  ignored(rel: string): boolean {
    return rel !== '' && rel !== '.' && this.ig.ignores(rel);
  }

  /** An instruction's source path, resolved in the context (symlinks followed, never out of it). */
  resolve(src: string): string {
    if (this.rootfs) return resolveInRoot(this.dir, src);
    const norm = path.posix.normalize('/' + src.replace(/\\/g, '/'));
    if (src.split('/').includes('..') && path.posix.normalize(src).startsWith('..')) throw new Error(`forbidden path outside the build context: ${src}`);
    let cur = this.dir;
    let links = 0;
    const parts = norm.split('/').filter(Boolean);
    for (let i = 0; i < parts.length; i++) {
      const next = path.join(cur, parts[i]);
      let st: fs.Stats;
      try {
        st = fs.lstatSync(next);
      } catch {
        return path.join(next, ...parts.slice(i + 1));
      }
      if (st.isSymbolicLink()) {
        if (++links > 40) throw new Error(`too many symlinks resolving ${src}`);
        const t = fs.readlinkSync(next);
        const target = path.resolve(path.dirname(next), t);
        if (target !== this.dir && !target.startsWith(this.dir + '/')) throw new Error(`forbidden path outside the build context: ${src} (a symlink to ${t})`);
        const rest = parts.slice(i + 1);
        return this.resolve(path.relative(this.dir, target) + (rest.length ? '/' + rest.join('/') : ''));
      }
      cur = next;
    }
    return cur;
  }

  rel(abs: string): string {
    return path.relative(this.dir, abs).split(path.sep).join('/');
  }

  /** Context paths matching a COPY/ADD source (wildcards as Go's filepath.Match), ignored ones left out. */
  /** The name a source was given by (COPY link /d/ makes /d/link, whatever link leads to) */
  readonly names = new Map<string, string>();

  expand(src: string): string[] {
    if (!/[*?[]/.test(src)) {
      const abs = this.resolve(src);
      if (!fs.existsSync(abs) || this.ignored(this.rel(abs))) throw new Error(`file not found in build context or excluded by .dockerignore: ${src}`);
      this.names.set(abs, path.posix.basename(path.posix.normalize('/' + src)));
      return [abs];
    }
    const parts = path.posix.normalize(src).split('/').filter((p) => p && p !== '.');
    let cands = [this.dir];
    for (const p of parts) {
      const re = globRe(p);
      const next: string[] = [];
      for (const c of cands) {
        if (!/[*?[]/.test(p)) {
          const n = path.join(c, p);
          if (fs.existsSync(n)) next.push(n);
          continue;
        }
        let names: string[] = [];
        try {
          names = fs.readdirSync(c).sort();
        } catch {
          /* not a dir */
        }
        for (const n of names) if (re.test(n)) next.push(path.join(c, n));
      }
      cands = next;
    }
    const hits = cands.filter((c) => !this.ignored(this.rel(c))).map((c) => {
      const abs = this.resolve(this.rel(c));
      this.names.set(abs, path.basename(c));
      return abs;
    });
    if (hits.length === 0) throw new Error(`no source files were specified (nothing in the build context matches ${src})`);
    return hits;
  }

  /** Walks a source (a file or a directory's tree), parents first, ignored entries skipped. */
  walk(abs: string, fn: (abs: string, rel: string, st: fs.Stats) => void): void {
    const visit = (p: string, rel: string) => {
      const st = fs.lstatSync(p);
      fn(p, rel, st);
      if (!st.isDirectory()) return;
      for (const n of fs.readdirSync(p).sort()) {
        const child = path.join(p, n);
        const crel = this.rel(child);
        if (this.ignored(crel)) {
          // an ignored directory may still hold an exception (!dir/keep)
          if (!(this.hasNegations && fs.lstatSync(child).isDirectory())) continue;
        }
        visit(child, rel ? `${rel}/${n}` : n);
      }
    };
    visit(abs, '');
  }

  /** What a COPY/ADD of these sources depends on: names, types, modes, owners, times, contents. */
  digest(sources: string[]): string {
    const h = createHash('sha256');
    for (const s of sources) {
      this.walk(s, (abs, rel, st) => {
        if (st.isDirectory() && rel && this.ignored(this.rel(abs))) return;
        h.update(`${this.rel(abs)}\0${rel}\0${st.mode}\0${st.uid}:${st.gid}\0${st.mtimeMs}\0${st.size}\0`);
        if (st.isFile()) h.update(fs.readFileSync(abs));
        else if (st.isSymbolicLink()) h.update(fs.readlinkSync(abs));
        h.update('\n');
      });
    }
    return h.digest('hex');
  }
}

function globRe(p: string): RegExp {
  let re = '';
  for (let i = 0; i < p.length; i++) {
    const c = p[i];
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = p.indexOf(']', i + 1);
      if (end < 0) throw new Error(`syntax error in pattern ${p}`);
      let cls = p.slice(i + 1, end);
      if (cls.startsWith('^')) cls = '^' + cls.slice(1);
      re += '[' + cls.replace(/\\/g, '\\\\') + ']';
      i = end;
    } else if (c === '\\' && i + 1 < p.length) re += '\\' + p[++i];
    else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp('^' + re + '$');
}

/** The context named on the command line: a directory, "-" (a tar on stdin), or a git repository. */
export async function openContext(spec: string, stdin: Readable): Promise<BuildContext> {
  if (spec === '-') {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-ctx-'));
    try {
      await extractLayer(stdin, dir, { lowers: [] });
    } catch (e) {
      fs.rmSync(dir, { recursive: true, force: true });
      throw new Error(`cannot read the build context from stdin: ${(e as Error).message}`);
    }
    return new BuildContext(dir, () => fs.rmSync(dir, { recursive: true, force: true }));
  }
  if (isGit(spec)) {
    const [url, frag] = spec.split('#');
    const [ref, sub] = (frag ?? '').split(':');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-git-'));
    const args = ['clone', '--quiet', '--depth', '1', '--recurse-submodules', ...(ref ? ['--branch', ref] : []), url.startsWith('/') ? `file://${url}` : url, path.join(dir, 'repo')];
    const r = spawnSync('git', args, { encoding: 'utf8', env: { ...process.env, GIT_TERMINAL_PROMPT: '0' } });
    if (r.status !== 0) {
      fs.rmSync(dir, { recursive: true, force: true });
      throw new Error(`git clone of ${url} failed: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}`);
    }
    const root = path.join(dir, 'repo', sub ?? '');
    if (!fs.existsSync(root)) {
      fs.rmSync(dir, { recursive: true, force: true });
      throw new Error(`${sub} is not a directory of ${url}`);
    }
    return new BuildContext(fs.realpathSync(root), () => fs.rmSync(dir, { recursive: true, force: true }));
  }
  let st: fs.Stats;
  try {
    st = fs.statSync(spec);
  } catch {
    throw new Error(`unable to prepare context: path ${JSON.stringify(spec)} not found`);
  }
  if (!st.isDirectory()) throw new Error(`unable to prepare context: ${spec} is not a directory`);
  return new BuildContext(fs.realpathSync(spec), () => undefined);
}

function isGit(spec: string): boolean {
  if (/^(git@|git:\/\/)/.test(spec) || /^https?:\/\/.*\.git(#.*)?$/.test(spec) || /^(https?|ssh|file):\/\//.test(spec)) return true;
  // a local repository given as a path ending in .git, or a directory holding .git with a #ref
  const p = spec.split('#')[0];
  return spec.includes('#') && fs.existsSync(path.join(p, '.git')) || (/\.git$/.test(p) && fs.existsSync(p) && fs.existsSync(path.join(p, 'HEAD')));
}
