// strata build: a Dockerfile run as docker's classic builder runs it. Each step starts
// from the image the previous one made; RUN, COPY and ADD run in a container of that
// image (RUN through the same runtime path as `strata run`) and commit its upper as one
// new layer; every other instruction only changes the config and adds a history entry
// with empty_layer. Each step's result is an image (untagged, its parent the previous
// step's), which is also the cache: a step whose parent and key (instruction, build
// args, the content of what COPY/ADD copies) match an earlier one reuses it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { Store, ImageRecord, ContainerRecord } from '../store/store';
import { resolveImage } from '../store/resolve';
import { createContainer, isMounted, mountContainer, removeContainer, umountContainer } from '../store/containers';
import { ImageLayer, imageConfig, packUpper, saveImage } from '../store/commit';
import type { ImageConfig } from '../image/sources';
import { normalizeReference } from '../image/reference';
import { ensureInitLayer, saveRunSpec, startContainer } from '../runtime/container';
import { ContainerConfig, defaultRunSpec, resolveUser } from '../runtime/spec';
import { RuntimeError } from '../runtime/runc';
import { ParsedDockerfile, Stage, Step, parseDockerfile, KNOWN } from './dockerfile';
import { BuildContext } from './context';
import { Vars, jsonArray, keyValues, processWord, processWords, processWordsRaw } from './words';
import { copyStep, CopyStep, mkdirInRoot, Owner } from './copy';
import { copyStepInUserNamespace, digestInUserNamespace } from './userns-copy';

export interface BuildOptions {
  tags: string[];
  buildArgs: Map<string, string>;
  target: string | null;
  noCache: boolean;
  quiet: boolean;
  labels: Array<[string, string]>;
  /** where progress lines go (stdout; nothing with -q) */
  say: (s: string) => void;
}

export class BuildError extends Error {}

const DEFAULT_SHELL = ['/bin/sh', '-c'];
const short = (id: string) => id.replace(/^sha256:/, '').slice(0, 12);

interface StageState {
  image: ImageRecord | null;
  cfg: ImageConfig;
  args: Map<string, string>;
  /** WORKDIRs not yet created: made in the next layer step's container (as buildah does) */
  pendingDirs: string[];
  cmdSet: boolean;
}

function scratchConfig(): ImageConfig {
  return { architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [] }, history: [] };
}

const conf = (st: StageState) => (st.cfg.config ?? (st.cfg.config = {})) as ContainerConfig;

/** The variables an instruction's words are expanded with: build args in scope, then ENV over them. */
function vars(st: StageState): Vars {
  const m = new Map(st.args);
  for (const e of conf(st).Env ?? []) {
    const i = e.indexOf('=');
    m.set(i < 0 ? e : e.slice(0, i), i < 0 ? '' : e.slice(i + 1));
  }
  return m;
}

function setEnvVar(env: string[], k: string, v: string): string[] {
  const out = env.filter((e) => e.split('=')[0] !== k);
  out.push(`${k}=${v}`);
  return out;
}

function flag(step: Step, name: string): string | null {
  const f = step.flags.find(([n]) => n === name);
  return f ? (f[1] ?? '') : null;
}

/** Parses docker durations (30s, 1m30s, 500ms) to nanoseconds. */
function durationNs(s: string): number {
  let total = 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g;
  let m: RegExpExecArray | null;
  let seen = '';
  while ((m = re.exec(s))) {
    seen += m[0];
    const mult = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 }[m[2] as 'ns'];
    total += Number(m[1]) * mult;
  }
  if (seen !== s || !s) throw new Error(`invalid duration ${JSON.stringify(s)}`);
  return Math.round(total);
}

export class Builder {
  private readonly stageImages = new Map<string, ImageRecord | null>();
  private usedArgs = new Set<string>();
  private stepNo = 0;
  private total = 0;
  private df!: ParsedDockerfile;

  constructor(readonly store: Store, readonly ctx: BuildContext, readonly o: BuildOptions) {}

  async build(dockerfileText: string): Promise<ImageRecord> {
    const df = parseDockerfile(dockerfileText);
    this.df = df;
    // the global ARGs: usable in FROM lines
    const globals = new Map<string, string>();
    for (const s of df.globalArgs) for (const [k, v] of this.argDecls(s, new Map())) {
      const given = this.o.buildArgs.get(k);
      if (given !== undefined) this.usedArgs.add(k);
      if (given !== undefined || v !== null) globals.set(k, given ?? (v as string));
    }
    let last = df.stages.length - 1;
    if (this.o.target !== null) {
      last = df.stages.findIndex((s) => this.stageName(s, globals) === this.o.target);
      if (last < 0) throw new BuildError(`target stage ${JSON.stringify(this.o.target)} could not be found`);
    }
    const stages = df.stages.slice(0, last + 1);
    this.total = df.globalArgs.length + stages.reduce((n, s) => n + 1 + s.steps.length, 0) + (this.o.labels.length ? 1 : 0);
    for (const s of df.globalArgs) this.header(s);
    let result: ImageRecord | null = null;
    for (const stage of stages) {
      result = await this.runStage(stage, globals, stage === stages[stages.length - 1]);
      const name = this.stageName(stage, globals);
      this.stageImages.set(String(stage.index), result);
      if (name) this.stageImages.set(name, result);
    }
    if (!result) throw new BuildError('the build produced no image (FROM scratch with no instructions)');
    const unused = [...this.o.buildArgs.keys()].filter((k) => !this.usedArgs.has(k));
    if (unused.length) process.stderr.write(`[Warning] One or more build-args [${unused.join(' ')}] were not consumed\n`);
    const tags = this.o.tags.map((t) => normalizeReference(t));
    if (tags.length) await this.store.withLock(async () => this.store.commitImages([result as ImageRecord], Object.fromEntries(tags.map((t) => [t, (result as ImageRecord).id]))));
    this.o.say(`Successfully built ${short(result.id)}\n`);
    for (const t of tags) this.o.say(`Successfully tagged ${t}\n`);
    return result;
  }

  private stageName(s: Stage, globals: Map<string, string>): string | null {
    const words = processWords(s.from.args, globals, this.df.escape);
    return words.length === 3 && words[1].toLowerCase() === 'as' ? words[2].toLowerCase() : null;
  }

  private header(s: Step): void {
    this.stepNo++;
    this.o.say(`Step ${this.stepNo}/${this.total} : ${s.text}\n`);
  }

  private fail(s: Step, msg: string): never {
    throw new BuildError(`step ${s.number}/${this.df.total} (${s.text}): ${msg}`);
  }

  /** ARG name[=default] ... */
  private argDecls(s: Step, v: Vars): Array<[string, string | null]> {
    const out: Array<[string, string | null]> = [];
    for (const w of processWordsRaw(s.args.trim(), this.df.escape)) {
      const eq = w.indexOf('=');
      const k = eq < 0 ? w : w.slice(0, eq);
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new BuildError(`step ${s.number}/${this.df.total} (${s.text}): invalid ARG name ${JSON.stringify(k)}`);
      out.push([k, eq < 0 ? null : processWord(w.slice(eq + 1), v, this.df.escape)]);
    }
    if (out.length === 0) throw new BuildError(`step ${s.number}/${this.df.total} (${s.text}): ARG requires at least one argument`);
    return out;
  }

  private async runStage(stage: Stage, globals: Map<string, string>, isLast: boolean): Promise<ImageRecord | null> {
    this.header(stage.from);
    const words = processWords(stage.from.args, globals, this.df.escape);
    if (words.length !== 1 && !(words.length === 3 && words[1].toLowerCase() === 'as')) this.fail(stage.from, 'FROM requires one image (and optionally AS name)');
    if (flag(stage.from, 'platform') !== null && !/linux\/amd64/.test(flag(stage.from, 'platform') as string)) this.fail(stage.from, 'only --platform=linux/amd64 can be built here');
    const ref = words[0];
    let image: ImageRecord | null = null;
    if (ref.toLowerCase() !== 'scratch') {
      if (this.stageImages.has(ref.toLowerCase())) image = this.stageImages.get(ref.toLowerCase()) ?? null;
      else {
        try {
          image = resolveImage(this.store, ref);
        } catch (e) {
          this.fail(stage.from, `${(e as Error).message} (strata build uses images in the store; load or pull it first)`);
        }
      }
    }
    const cfg = image ? imageConfig(this.store, image) : scratchConfig();
    delete cfg.container_config;
    delete cfg.container;
    const st: StageState = { image, cfg, args: new Map(), pendingDirs: [], cmdSet: false };
    this.o.say(image ? ` ---> ${short(image.id)}\n` : ' ---> scratch\n');
    const triggers = (conf(st).OnBuild ?? []).slice();
    if (triggers.length) {
      this.o.say(`# Executing ${triggers.length} build trigger${triggers.length > 1 ? 's' : ''}\n`);
      conf(st).OnBuild = null;
      for (const t of triggers) {
        const parsed = parseDockerfile(`FROM scratch\n${t}\n`).stages[0].steps[0];
        if (!parsed || ['ONBUILD', 'FROM', 'MAINTAINER'].includes(parsed.keyword)) this.fail(stage.from, `invalid ONBUILD trigger ${JSON.stringify(t)}`);
        await this.step(st, { ...parsed, number: stage.from.number, text: parsed.text }, globals);
      }
    }
    for (const s of stage.steps) {
      this.header(s);
      await this.step(st, s, globals);
    }
    if (isLast && this.o.labels.length) {
      const text = 'LABEL ' + this.o.labels.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ');
      this.stepNo++;
      this.o.say(`Step ${this.stepNo}/${this.total} : ${text}\n`);
      await this.meta(st, text, () => {
        const c = conf(st);
        c.Labels = { ...(c.Labels ?? {}), ...Object.fromEntries(this.o.labels) };
      });
    }
    // a stage with only FROM is its base image, as docker has it
    return st.image ?? (st.cfg.rootfs.diff_ids.length || st.cfg.history?.length ? await this.meta(st, 'FROM scratch', () => undefined) : null);
  }

  private async step(st: StageState, s: Step, globals: Map<string, string>): Promise<void> {
    if (!KNOWN.has(s.keyword)) this.fail(s, `unknown instruction: ${s.keyword}`);
    const v = vars(st);
    const esc = this.df.escape;
    try {
      switch (s.keyword) {
        case 'ARG': {
          for (const [k, def] of this.argDecls(s, v)) {
            const given = this.o.buildArgs.get(k);
            if (given !== undefined) this.usedArgs.add(k);
            const val = given ?? def ?? globals.get(k);
            if (val !== undefined) st.args.set(k, val);
            else st.args.delete(k);
          }
          return void (await this.meta(st, `ARG ${s.args.trim()}`, () => undefined));
        }
        case 'ENV': {
          const kvs = keyValues(s.args, v, esc, 'ENV');
          return void (await this.meta(st, `ENV ${kvs.map(([k, x]) => `${k}=${x}`).join(' ')}`, () => {
            let env = conf(st).Env ?? [];
            for (const [k, x] of kvs) env = setEnvVar(env, k, x);
            conf(st).Env = env;
          }));
        }
        case 'LABEL': {
          const kvs = keyValues(s.args, v, esc, 'LABEL');
          return void (await this.meta(st, `LABEL ${kvs.map(([k, x]) => `${k}=${x}`).join(' ')}`, () => {
            conf(st).Labels = { ...(conf(st).Labels ?? {}), ...Object.fromEntries(kvs) };
          }));
        }
        case 'MAINTAINER': {
          const who = processWord(s.args.trim(), v, esc);
          return void (await this.meta(st, `MAINTAINER ${who}`, () => {
            st.cfg.author = who;
          }));
        }
        case 'WORKDIR': {
          const w = processWord(s.args.trim(), v, esc);
          const dir = path.posix.resolve(conf(st).WorkingDir || '/', w);
          return void (await this.meta(st, `WORKDIR ${dir}`, () => {
            conf(st).WorkingDir = dir;
            st.pendingDirs.push(dir);
          }));
        }
        case 'USER': {
          const u = processWord(s.args.trim(), v, esc);
          if (!u) this.fail(s, 'USER requires an argument');
          return void (await this.meta(st, `USER ${u}`, () => {
            conf(st).User = u;
          }));
        }
        case 'EXPOSE': {
          const ports = processWords(s.args, v, esc).map((p) => (p.includes('/') ? p.toLowerCase() : `${p}/tcp`));
          for (const p of ports) if (!/^\d+(-\d+)?\/(tcp|udp|sctp)$/.test(p)) this.fail(s, `invalid port ${JSON.stringify(p)}`);
          return void (await this.meta(st, `EXPOSE ${[...ports].sort().join(' ')}`, () => {
            conf(st).ExposedPorts = { ...(conf(st).ExposedPorts ?? {}), ...Object.fromEntries(ports.map((p) => [p, {}])) };
          }));
        }
        case 'VOLUME': {
          const vols = jsonArray(s.args) ?? processWords(s.args, v, esc);
          if (vols.length === 0 || vols.some((x) => x === '')) this.fail(s, 'VOLUME specified can not be an empty string');
          return void (await this.meta(st, `VOLUME [${vols.join(' ')}]`, () => {
            conf(st).Volumes = { ...(conf(st).Volumes ?? {}), ...Object.fromEntries(vols.map((x) => [x, {}])) };
          }));
        }
        case 'STOPSIGNAL': {
          const sig = processWord(s.args.trim(), v, esc);
          if (!/^(SIG)?[A-Z0-9+-]+$|^\d+$/.test(sig)) this.fail(s, `invalid signal ${JSON.stringify(sig)}`);
          return void (await this.meta(st, `STOPSIGNAL ${sig}`, () => {
            conf(st).StopSignal = sig;
          }));
        }
        case 'SHELL': {
          const sh = jsonArray(s.args);
          if (!sh || sh.length === 0) this.fail(s, 'SHELL requires the arguments to be in JSON form');
          return void (await this.meta(st, `SHELL [${sh.map((x) => JSON.stringify(x)).join(' ')}]`, () => {
            conf(st).Shell = sh;
          }));
        }
        case 'CMD':
        case 'ENTRYPOINT': {
          const exec = jsonArray(s.args);
          const argv = exec ?? [...(conf(st).Shell ?? DEFAULT_SHELL), s.args.trim()];
          const shown = exec ? `[${exec.map((x) => JSON.stringify(x)).join(' ')}]` : `[${argv.map((x) => JSON.stringify(x)).join(' ')}]`;
          return void (await this.meta(st, `${s.keyword} ${shown}`, () => {
            if (s.keyword === 'CMD') {
              conf(st).Cmd = argv;
              st.cmdSet = true;
            } else {
              conf(st).Entrypoint = exec && exec.length === 0 ? null : argv;
              // docker: a new ENTRYPOINT drops the base image's CMD
              if (!st.cmdSet) conf(st).Cmd = null;
            }
          }));
        }
        case 'HEALTHCHECK': {
          const rest = s.args.trim();
          let hc: Record<string, unknown>;
          if (/^NONE$/i.test(rest)) hc = { Test: ['NONE'] };
          else {
            const m = /^CMD\s+([\s\S]*)$/i.exec(rest);
            if (!m) this.fail(s, 'HEALTHCHECK must be NONE or CMD ...');
            const exec = jsonArray(m[1]);
            hc = { Test: exec ? ['CMD', ...exec] : ['CMD-SHELL', m[1].trim()] };
            for (const [n, val] of s.flags) {
              const key = { interval: 'Interval', timeout: 'Timeout', 'start-period': 'StartPeriod', 'start-interval': 'StartInterval', retries: 'Retries' }[n];
              if (!key) this.fail(s, `unknown flag: --${n}`);
              hc[key] = key === 'Retries' ? Number(val) : durationNs(val ?? '');
            }
          }
          return void (await this.meta(st, `HEALTHCHECK ${JSON.stringify(hc)}`, () => {
            conf(st).Healthcheck = hc;
          }));
        }
        case 'ONBUILD': {
          const trig = s.args.trim();
          const kw = trig.split(/\s+/)[0]?.toUpperCase();
          if (!kw || !KNOWN.has(kw) || ['ONBUILD', 'FROM', 'MAINTAINER'].includes(kw)) this.fail(s, `${kw || 'an empty'} isn't allowed as an ONBUILD trigger`);
          return void (await this.meta(st, `ONBUILD ${trig}`, () => {
            conf(st).OnBuild = [...(conf(st).OnBuild ?? []), trig];
          }));
        }
        case 'RUN':
          return await this.run(st, s);
        case 'COPY':
        case 'ADD':
          return await this.copy(st, s, v);
        default:
          this.fail(s, `${s.keyword} is not allowed here`);
      }
    } catch (e) {
      if (e instanceof BuildError) throw e;
      this.fail(s, (e as Error).message.split('\n')[0]);
    }
  }

  private findCached(parent: ImageRecord | null, key: string): ImageRecord | null {
    if (this.o.noCache) return null;
    const pid = parent?.id ?? 'scratch';
    return this.store.images().find((i) => i.parent === pid && i.buildKey === key) ?? null;
  }

  private adopt(st: StageState, img: ImageRecord): void {
    st.image = img;
    st.cfg = imageConfig(this.store, img);
    if (!st.cfg.config) st.cfg.config = {};
  }

  /** A config-only step: a new image with the change and an empty_layer history entry. */
  private async meta(st: StageState, what: string, change: () => void): Promise<ImageRecord> {
    const createdBy = `/bin/sh -c #(nop)  ${what}`;
    const key = createHash('sha256').update(createdBy + '\0' + JSON.stringify([...st.args]) + '\0' + st.pendingDirs.join('\0')).digest('hex');
    const hit = this.findCached(st.image, key);
    if (hit) {
      this.o.say(` ---> Using cache\n ---> ${short(hit.id)}\n`);
      change(); // keeps state that is not in the config (args, pending dirs, cmdSet) in step
      this.adopt(st, hit);
      return hit;
    }
    change();
    const now = new Date().toISOString();
    st.cfg.created = now;
    st.cfg.history = [...(st.cfg.history ?? []), { created: now, created_by: createdBy, empty_layer: true }];
    const layers = st.image?.layers ?? [];
    const parent = st.image?.id ?? 'scratch';
    const img = await this.store.withLock(async () => saveImage(this.store, st.cfg, layers, [], { parent, buildKey: key }));
    this.o.say(` ---> ${short(img.id)}\n`);
    this.adopt(st, img);
    return img;
  }

  /** A layer step: a container of the current image, work in it, its upper committed. */
  private async layerStep(st: StageState, createdBy: string, keyExtra: string, work: (c: ContainerRecord, root: string) => Promise<void>, needsRuntime: boolean): Promise<void> {
    const key = createHash('sha256').update(createdBy + '\0' + keyExtra + '\0' + st.pendingDirs.join('\0')).digest('hex');
    const hit = this.findCached(st.image, key);
    if (hit) {
      this.o.say(` ---> Using cache\n ---> ${short(hit.id)}\n`);
      st.pendingDirs = [];
      this.adopt(st, hit);
      return;
    }
    const store = this.store;
    const base = st.image;
    const c = await store.withLock(async () => {
      const img = base ?? (await this.scratchImage());
      const c = createContainer(store, img, short(img.id), undefined);
      ensureInitLayer(store, c);
      await mountContainer(store, c, undefined, 'strata-fs');
      return c;
    });
    if (needsRuntime) this.o.say(` ---> Running in ${short(c.id)}\n`);
    let img: ImageRecord;
    try {
      const m = isMounted(store, c);
      if (!m) throw new Error('the build container is not mounted');
      for (const d of st.pendingDirs) mkdirInRoot(m.mountpoint, d);
      await work(c, m.mountpoint);
      img = await store.withLock(async () => {
        umountContainer(store, c);
        const op = store.makeTmp('build');
        try {
          const layer: ImageLayer = await packUpper(store, c, op);
          const now = new Date().toISOString();
          const cfg: ImageConfig = { ...st.cfg, created: now, rootfs: { type: 'layers', diff_ids: [...st.cfg.rootfs.diff_ids, layer.diffId] }, history: [...(st.cfg.history ?? []), { created: now, created_by: createdBy }] };
          return saveImage(store, cfg, [...(base?.layers ?? []), layer], [], { parent: base?.id ?? 'scratch', buildKey: key });
        } finally {
          fs.rmSync(op, { recursive: true, force: true });
        }
      });
    } finally {
      await store.withLock(async () => {
        const cur = store.container(c.id);
        if (cur) removeContainer(store, cur, true);
      });
    }
    if (needsRuntime) this.o.say(`Removing intermediate container ${short(c.id)}\n`);
    this.o.say(` ---> ${short(img.id)}\n`);
    st.pendingDirs = [];
    this.adopt(st, img);
  }

  /** An empty image to start a scratch stage's first layer step from (no layers, no record kept visible). */
  private async scratchImage(): Promise<ImageRecord> {
    return { id: 'sha256:' + '0'.repeat(64), manifestDigest: '', configDigest: '', layers: [], created: null, loaded: new Date().toISOString() };
  }

  private async run(st: StageState, s: Step): Promise<void> {
    if (s.flags.length) this.fail(s, `RUN --${s.flags[0][0]} is not supported by strata build`);
    const exec = jsonArray(s.args);
    const c = conf(st);
    const argv = exec ?? [...(c.Shell ?? DEFAULT_SHELL), s.args.trim()];
    if (argv.length === 0 || (exec === null && !s.args.trim())) this.fail(s, 'RUN requires a command');
    const args = [...st.args].filter(([k]) => !(c.Env ?? []).some((e) => e.split('=')[0] === k));
    const createdBy = (args.length ? `|${args.length} ${args.map(([k, v]) => `${k}=${v}`).join(' ')} ` : '') + argv.join(' ');
    await this.layerStep(
      st,
      createdBy,
      JSON.stringify(args),
      async (ctr) => {
        const spec = { ...defaultRunSpec(), cmd: argv, entrypoint: [], env: args.map(([k, v]) => `${k}=${v}`), user: c.User || null, workdir: c.WorkingDir || null, imageVolumes: false };
        saveRunSpec(this.store, ctr, spec);
        let code: number;
        // a user's store: the container's supervisor mounts its root in its own namespace
        // (container.ts), not beside this mount of the user's, which comes back after
        const rootless = this.store.rootless;
        if (rootless) await this.store.withLock(async () => void umountContainer(this.store, ctr));
        try {
          code = await startContainer(this.store, ctr, { stdin: false, quiet: this.o.quiet });
        } catch (e) {
          if (e instanceof RuntimeError) throw new Error(`the command '${argv.join(' ')}' could not be started: ${e.message}`);
          throw e;
        } finally {
          if (rootless) await this.store.withLock(async () => void (await mountContainer(this.store, ctr, undefined, 'strata-fs')));
        }
        if (code !== 0) throw new Error(`the command '${argv.join(' ')}' returned a non-zero code: ${code}`);
      },
      true,
    );
  }

  private async copy(st: StageState, s: Step, v: Vars): Promise<void> {
    const esc = this.df.escape;
    const isAdd = s.keyword === 'ADD';
    for (const [n] of s.flags) if (!['chown', 'chmod', 'from'].includes(n)) this.fail(s, `${s.keyword} --${n} is not supported by strata build`);
    const words = jsonArray(s.args) ?? processWords(s.args, v, esc);
    if (words.length < 2) this.fail(s, `${s.keyword} requires at least two arguments: source(s) and destination`);
    const rawDest = words[words.length - 1];
    const dest = rawDest.startsWith('/') ? rawDest : path.posix.join(conf(st).WorkingDir || '/', rawDest) + (rawDest.endsWith('/') || rawDest === '.' ? '/' : '');
    const srcs = words.slice(0, -1);
    const chmodS = flag(s, 'chmod');
    const chmod = chmodS === null ? null : /^[0-7]{3,4}$/.test(chmodS) ? parseInt(chmodS, 8) : this.fail(s, `invalid --chmod ${JSON.stringify(chmodS)} (octal only)`);
    const chown = flag(s, 'chown');
    const from = flag(s, 'from');
    if (from !== null && isAdd) this.fail(s, 'ADD does not take --from (use COPY --from)');
    const urls = isAdd ? srcs.filter((x) => /^https?:\/\//.test(x)) : [];
    const locals = srcs.filter((x) => !urls.includes(x));

    // where sources come from: the context, or a stage's or image's root mounted for the step
    let srcCtx = this.ctx;
    let fromRelease: (() => Promise<void>) | null = null;
    let fromId = '';
    if (from !== null) {
      const f = processWord(from, v, esc).toLowerCase();
      let img: ImageRecord | null;
      if (this.stageImages.has(f)) img = this.stageImages.get(f) ?? null;
      else img = resolveImage(this.store, f);
      if (!img) this.fail(s, `stage ${f} has no files (FROM scratch with nothing in it)`);
      fromId = img.id;
      const mounted = await this.mountImage(img);
      srcCtx = new BuildContext(mounted.root, () => undefined, true);
      fromRelease = mounted.release;
    }
    try {
      const sources = locals.flatMap((x) => srcCtx.expand(x));
      const multi = sources.length + urls.length > 1 || srcs.some((x) => /[*?[]/.test(x));
      // a user's store: another stage's or image's tree is read in the user's namespace
      const digest = (this.store.rootless && from !== null ? await digestInUserNamespace(srcCtx, sources) : srcCtx.digest(sources)) + (from !== null ? fromId : '');
      const kind = sources.length === 1 && !fs.statSync(sources[0]).isDirectory() ? 'file' : sources.length > 1 ? 'multi' : 'dir';
      const createdBy = `/bin/sh -c #(nop) ${s.keyword} ${urls.length ? urls.join(' ') + ' ' : ''}${sources.length ? `${kind}:${digest.slice(0, 64)} ` : ''}in ${dest} `;
      const keyExtra = JSON.stringify({ chown, chmod, from: fromId, digest, urls });
      await this.layerStep(
        st,
        createdBy,
        keyExtra,
        async (_c, root) => {
          const owner = chown !== null ? this.owner(root, processWord(chown, v, esc)) : null;
          const job: CopyStep = { sources, urls, isAdd, root, dest, multi, opts: { owner, chmod } };
          // a user's store: in the user's namespace, which may write where the image's IDs own
          // and give them as owners (see userns-copy.ts)
          if (this.store.rootless) await copyStepInUserNamespace(srcCtx, job);
          else await copyStep(srcCtx, job);
        },
        false,
      );
    } finally {
      if (fromRelease) await fromRelease();
    }
  }

  /** --chown USER[:GROUP], names looked up in the container's own files (as docker does). */
  private owner(root: string, spec: string): Owner {
    const [u, g] = spec.split(':');
    const user = resolveUser(root, u);
    if (g === undefined) return { uid: user.uid, gid: /^\d+$/.test(u) ? user.uid : user.gid };
    const group = resolveUser(root, `${u}:${g}`);
    return { uid: user.uid, gid: group.gid };
  }

  /** An image's tree for COPY --from: a container of it, mounted; released after the step. */
  private async mountImage(img: ImageRecord): Promise<{ root: string; release: () => Promise<void> }> {
    const store = this.store;
    const c = await store.withLock(async () => {
      const c = createContainer(store, img, short(img.id), undefined);
      await mountContainer(store, c, undefined, 'strata-fs');
      return c;
    });
    const m = isMounted(store, c);
    return {
      root: m?.mountpoint ?? '',
      release: async () => {
        await store.withLock(async () => {
          const cur = store.container(c.id);
          if (cur) removeContainer(store, cur, true);
        });
      },
    };
  }
}
