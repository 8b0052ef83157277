// strata pull: resolve a reference to an image manifest (through an index, for this
// machine's platform or --platform), then bring its layers into the store the way
// strata load does (store/importer.ts), with the downloads (3 at a time) feeding the
// extraction of each layer, in the order of the chain, as the bytes arrive.
import * as fs from 'node:fs';
import { Store, ImageRecord } from '../store/store';
import { mkdirs } from '../store/root';
import { ImageImport, ImageLayer } from '../store/importer';
import { chainIds, sha256 } from '../image/digest';
import { availableBytes, LayerError } from '../image/extract';
import { GrowingFile } from '../image/growing';
import { MAX_JSON } from '../image/bag';
import { choosePlatform, Descriptor, formatPlatform, hostPlatform, ImageManifest, parseConfig, parseImageManifest, parseIndex, parsePlatform, Platform } from '../image/sources';
import { DOCKER_HUB, localRepo, parseRemoteReference, remoteString, RemoteReference } from '../image/reference';
import { ClientOptions, listAll, pullScope, RegistryClient } from './client';
import { Fetched, getManifest, isIndex } from './manifest';
import { downloadBlob } from './blobs';
import { readBytes } from './auth';
import { RegistryError } from './transport';

export interface PullOptions extends ClientOptions {
  platform?: string;
  allTags?: boolean;
  maxConcurrentDownloads?: number;
  /** Docker Hub mirrors (the store's registry-mirrors), tried before Docker Hub */
  mirrors?: readonly string[];
}

export type LayerStatus = 'Pulling fs layer' | 'Waiting' | 'Downloading' | 'Download complete' | 'Extracting' | 'Pull complete' | 'Already exists' | 'Retrying';

export interface PullEvents {
  /** a line of docker's output: "latest: Pulling from library/ubuntu", "Digest: ...", "Status: ..." */
  line(s: string): void;
  layer(id: string, status: LayerStatus, current?: number, total?: number): void;
}

export const quietPull: PullEvents = { line() {}, layer() {} };

export interface PullResult {
  /** the name the image has in the store, or repo@digest when pulled by digest */
  name: string;
  /** docker's canonical form: docker.io/library/ubuntu:latest */
  canonical: string;
  id: string;
  /** what the reference resolved to: an index's digest when the image came through one */
  digest: string;
  upToDate: boolean;
}

const short = (d: string): string => d.slice(7, 19);
const MAX_INDEX_DEPTH = 4;

interface Endpoint {
  client: RegistryClient;
  repo: string;
}

/** Where to ask: the registry itself, or for Docker Hub its mirrors first. */
function endpoints(ref: RemoteReference, o: PullOptions): Endpoint[] {
  const out: Endpoint[] = [];
  if (ref.domain === DOCKER_HUB) {
    for (const m of o.mirrors ?? []) {
      const u = new URL(m);
      const insecure = u.protocol === 'http:' ? [u.host] : [];
      out.push({ client: new RegistryClient(u.host, { ...o, insecureRegistries: [...(o.insecureRegistries ?? []), ...insecure] }), repo: ref.path });
    }
  }
  out.push({ client: new RegistryClient(ref.domain, o), repo: ref.path });
  return out;
}

interface Resolved {
  ep: Endpoint;
  top: Fetched;
  manifest: Fetched;
  parsed: ImageManifest;
  viaIndex: boolean;
}

async function resolve(eps: Endpoint[], ref: RemoteReference, want: Platform, explicit: boolean): Promise<Resolved> {
  let firstErr: unknown = null;
  for (const ep of eps) {
    try {
      return await resolveAt(ep, ref, want, explicit);
    } catch (e) {
      // a mirror that fails is skipped; the registry's own answer is the one reported
      if (ep === eps[eps.length - 1]) throw firstErr && eps.length > 1 && (e as RegistryError).code === 'ECONNREFUSED' ? firstErr : e;
      firstErr ??= e;
    }
  }
  throw firstErr;
}

async function resolveAt(ep: Endpoint, ref: RemoteReference, want: Platform, explicit: boolean): Promise<Resolved> {
  const scopes = [pullScope(ep.repo)];
  const label = remoteString(ref);
  const top = await getManifest(ep.client, ep.repo, ref.digest ?? ref.tag!, scopes, `manifest for ${label}`);
  let cur = top;
  const seen = new Set([top.digest]);
  for (let depth = 0; isIndex(cur.mediaType); depth++) {
    if (depth >= MAX_INDEX_DEPTH) throw new RegistryError(`${label}: image indexes nested more than ${MAX_INDEX_DEPTH} deep`);
    const ms = parseIndex(cur.bytes, `image index ${short(cur.digest)}`);
    const d: Descriptor = choosePlatform(ms, want, `the image index of ${label}`, explicit);
    if (seen.has(d.digest)) throw new RegistryError(`${label}: image index ${cur.digest} points at itself`);
    let next: Fetched;
    try {
      next = await getManifest(ep.client, ep.repo, d.digest, scopes, `manifest ${short(d.digest)} (${formatPlatform(d.platform ?? {})}) of ${label}`);
    } catch (e) {
      const m = /hashes to (sha256:[0-9a-f]{64})/.exec((e as Error).message);
      if (m && seen.has(m[1])) throw new RegistryError(`${label}: image index ${cur.digest} points at itself (asked for ${short(d.digest)}, the registry answered with the index again)`);
      throw e;
    }
    if (typeof d.size === 'number' && d.size !== next.bytes.length) throw new RegistryError(`${label}: manifest ${short(d.digest)} is ${next.bytes.length} bytes, its index entry says ${d.size}`);
    seen.add(next.digest);
    cur = next;
  }
  const parsed = parseImageManifest(cur.bytes, `manifest ${cur.digest}`, cur.mediaType);
  return { ep, top, manifest: cur, parsed, viaIndex: cur !== top };
}

async function fetchConfig(ep: Endpoint, d: Descriptor): Promise<Buffer> {
  const what = `config ${short(d.digest)}`;
  const res = await ep.client.request(`/v2/${ep.repo}/blobs/${d.digest}`, { scopes: [pullScope(ep.repo)], what });
  if (res.status !== 200) await ep.client.fail(res, `download of ${what}`);
  const b = await readBytes(res, MAX_JSON, what);
  if (sha256(b) !== d.digest) throw new LayerError(`${what}: blob digest mismatch: expected ${d.digest}, got ${sha256(b)}`);
  if (typeof d.size === 'number' && d.size !== b.length) throw new LayerError(`${what} size mismatch: descriptor says ${d.size}, blob has ${b.length}`);
  return b;
}

/** A tiny semaphore: at most n tasks at once, started in the order asked. */
function limiter(n: number): <T>(f: () => Promise<T>) => Promise<T> {
  let running = 0;
  const queue: Array<() => void> = [];
  return async <T>(f: () => Promise<T>): Promise<T> => {
    if (running >= n) await new Promise<void>((r) => queue.push(r));
    running++;
    try {
      return await f();
    } finally {
      running--;
      queue.shift()?.();
    }
  };
}

interface Download {
  blob: { digest: string; size: number };
  growing: GrowingFile;
  resumedFrom: number;
  done: Promise<void>;
}

export async function pull(store: Store, name: string, o: PullOptions, ev: PullEvents = quietPull): Promise<PullResult[]> {
  const ref = parseRemoteReference(name);
  if (o.allTags) {
    if (ref.tag !== null || ref.digest !== null) throw new Error('tag can\'t be used with --all-tags/-a');
    const eps = endpoints(ref, o);
    const ep = eps[eps.length - 1];
    const tags = await listAll(ep.client, `/v2/${ep.repo}/tags/list?n=1000`, 'tags', [pullScope(ep.repo)], `tags of ${remoteString(ref)}`);
    if (tags.length === 0) throw new Error(`${remoteString(ref)} has no tags`);
    const out: PullResult[] = [];
    for (const t of tags.sort()) out.push(await pullOne(store, { ...ref, tag: t }, o, ev));
    return out;
  }
  if (ref.tag === null && ref.digest === null) {
    ref.tag = 'latest';
    ev.line('Using default tag: latest');
  }
  return [await pullOne(store, ref, o, ev)];
}

async function pullOne(store: Store, ref: RemoteReference, o: PullOptions, ev: PullEvents): Promise<PullResult> {
  const explicit = o.platform !== undefined;
  const want = explicit ? parsePlatform(o.platform!) : hostPlatform();
  const r = await resolve(endpoints(ref, o), ref, want, explicit);
  const { ep, parsed } = r;
  const repo = localRepo(ref);
  const tagName = ref.tag !== null && ref.digest === null ? `${repo}:${ref.tag}` : null;
  const shown = tagName ?? `${repo}@${r.top.digest}`;
  ev.line(`${ref.digest ?? ref.tag}: Pulling from ${ref.path}`);

  const id = parsed.config.digest;
  const config = store.hasBlob(id) ? store.readBlob(id) : await fetchConfig(ep, parsed.config);
  const cfg = parseConfig(config, `config ${short(id)}`);
  if (cfg.rootfs.diff_ids.length !== parsed.layers.length) throw new Error(`manifest has ${parsed.layers.length} layers but config has ${cfg.rootfs.diff_ids.length} diff_ids`);
  if (explicit && !r.viaIndex && (cfg.os !== want.os || cfg.architecture !== want.architecture)) {
    throw new Error(`${remoteString(ref)} is a ${formatPlatform({ os: cfg.os, architecture: cfg.architecture, variant: cfg.variant as string | undefined })} image, not ${formatPlatform(want)}`);
  }
  const chains = chainIds(cfg.rootfs.diff_ids);
  const before = tagName ? store.tags()[tagName] : undefined;
  const existed = store.image(id) !== null;

  const imp = new ImageImport(store, 'pull');
  const abort = new AbortController();
  let firstError: Error | null = null;
  const failed = (e: Error) => {
    if (!firstError) firstError = e;
    abort.abort(e);
  };
  const downloads = new Map<string, Download>();
  try {
    const layers: ImageLayer[] = new Array<ImageLayer>(parsed.layers.length);
    const todo: number[] = [];
    parsed.layers.forEach((l, i) => {
      if (imp.need(chains[i], l.digest) === 'nothing') {
        layers[i] = imp.existing(chains[i], { digest: l.digest, diffId: cfg.rootfs.diff_ids[i], mediaType: l.mediaType!, size: l.size });
        ev.layer(short(l.digest), 'Already exists');
      } else todo.push(i);
    });
    const need = new Map<string, number>();
    for (const i of todo) need.set(parsed.layers[i].digest, parsed.layers[i].size);
    if (need.size) {
      mkdirs(store.downloadsDir, 0o700);
      const total = [...need.values()].reduce((a, b) => a + b, 0);
      const room = availableBytes(store.downloadsDir);
      if (total > room) throw new Error(`${shown} needs ${total} bytes of downloads; ${room} bytes are free for the store`);
    }
    const slot = limiter(Math.max(1, o.maxConcurrentDownloads ?? 3));
    const start = (digest: string, size: number, fresh: boolean): Download => {
      const file = store.downloadFile(digest);
      let have = 0;
      try {
        have = fs.statSync(file).size;
      } catch {
        /* nothing yet */
      }
      if (fresh || have > size) {
        fs.rmSync(file, { force: true });
        have = 0;
      }
      fs.closeSync(fs.openSync(file, 'a'));
      const growing = new GrowingFile(file, have);
      const id12 = short(digest);
      const blob = { digest, size };
      const done = slot(async () => {
        if (abort.signal.aborted) throw abort.signal.reason;
        ev.layer(id12, 'Downloading', have, size);
        await downloadBlob({ client: ep.client, repo: ep.repo, scopes: [pullScope(ep.repo)], blob, growing, signal: abort.signal, onBytes: () => ev.layer(id12, 'Downloading', growing.written, size) });
        ev.layer(id12, 'Download complete');
      }).catch((e: Error) => {
        // whoever follows the file must hear of it, however the download ended
        growing.fail(e);
        throw e;
      });
      const dl: Download = { blob, growing, resumedFrom: have, done };
      dl.done.catch((e: Error) => failed(e));
      return dl;
    };
    for (const i of todo) {
      const l = parsed.layers[i];
      if (downloads.has(l.digest)) continue;
      ev.layer(short(l.digest), 'Pulling fs layer');
      downloads.set(l.digest, start(l.digest, l.size, false));
    }
    for (const i of todo) {
      const l = parsed.layers[i];
      const id12 = short(l.digest);
      let dl = downloads.get(l.digest)!;
      for (let retried = false; ; retried = true) {
        let extracted = 0;
        try {
          layers[i] = await imp.layer({
            index: i,
            chains,
            src: { file: dl.growing.file, size: l.size, growing: dl.growing, signal: abort.signal },
            digest: l.digest,
            mediaType: l.mediaType!,
            diffId: cfg.rootfs.diff_ids[i],
            adoptSource: true,
            onBytes: (n) => {
              extracted += n;
              if (dl.growing.done) ev.layer(id12, 'Extracting', extracted, l.size);
            },
          });
          break;
        } catch (e) {
          if (firstError) throw firstError;
          // a resumed partial may be what is wrong: once, start that blob over
          if (e instanceof LayerError && /digest mismatch/.test(e.message) && dl.resumedFrom > 0 && !retried) {
            await dl.done.catch(() => undefined);
            ev.layer(id12, 'Retrying');
            dl = start(l.digest, l.size, true);
            downloads.set(l.digest, dl);
            continue;
          }
          // content that failed verification is no partial download worth keeping
          if (e instanceof LayerError || !(e instanceof RegistryError)) fs.rmSync(dl.growing.file, { force: true });
          failed(e as Error);
          throw e;
        }
      }
      ev.layer(id12, 'Pull complete');
    }
    for (const dl of downloads.values()) await dl.done;

    const manifestDigest = r.manifest.digest;
    const rec: ImageRecord = {
      id,
      manifestDigest,
      configDigest: id,
      layers,
      created: typeof cfg.created === 'string' ? cfg.created : null,
      loaded: new Date().toISOString(),
      repoDigests: [`${repo}@${r.top.digest}`],
    };
    imp.addImage(rec, config, r.manifest.bytes, tagName ? [tagName] : []);
    imp.commit();
    const upToDate = existed && todo.length === 0 && (tagName === null || before === id);
    ev.line(`Digest: ${r.top.digest}`);
    ev.line(upToDate ? `Status: Image is up to date for ${shown}` : `Status: Downloaded newer image for ${shown}`);
    return { name: shown, canonical: tagName ? remoteString({ ...ref, digest: null }) : remoteString({ ...ref, tag: null, digest: r.top.digest }), id, digest: r.top.digest, upToDate };
  } catch (e) {
    abort.abort(e);
    // let the downloads stop writing before their files are judged
    await Promise.allSettled([...downloads.values()].map((d) => d.done));
    throw firstError ?? e;
  } finally {
    imp.dispose();
  }
}
