// strata push: the manifest bytes an image was stored with (so a pulled image keeps its
// digest), after every blob it names is in the repository: already there (HEAD),
// mounted from another repository of the same registry that is known to hold it, or
// uploaded. Then the repository digest is recorded in the image.
import { Store, ImageRecord } from '../store/store';
import { parseImageManifest } from '../image/sources';
import { localRepo, parseRemoteReference, RemoteReference } from '../image/reference';
import { sha256 } from '../image/digest';
import { ClientOptions, pushScope, RegistryClient } from './client';
import { uploadBlob } from './blobs';
import { RegistryError } from './transport';

export interface PushOptions extends ClientOptions {
  allTags?: boolean;
  maxConcurrentUploads?: number;
}

export type PushStatus = 'Preparing' | 'Waiting' | 'Pushing' | 'Pushed' | 'Layer already exists' | 'Mounted from';

export interface PushEvents {
  line(s: string): void;
  layer(id: string, status: PushStatus, detail?: { current?: number; total?: number; from?: string }): void;
}

export const quietPush: PushEvents = { line() {}, layer() {} };

export interface PushResult {
  /** host/repo:tag as pushed */
  name: string;
  tag: string;
  digest: string;
  size: number;
  pushed: number;
  existed: number;
  mounted: number;
}

const short = (d: string): string => d.slice(7, 19);

/** Repositories of the same registry where this store knows a blob to be (from RepoDigests). */
function knownElsewhere(store: Store, ref: RemoteReference, digest: string): string[] {
  const out = new Set<string>();
  for (const img of store.images()) {
    if (img.configDigest !== digest && !img.layers.some((l) => l.digest === digest)) continue;
    for (const rd of img.repoDigests ?? []) {
      try {
        const r = parseRemoteReference(rd);
        if (r.domain === ref.domain && r.path !== ref.path) out.add(r.path);
      } catch {
        /* not ours to judge */
      }
    }
  }
  return [...out];
}

export async function push(store: Store, name: string, o: PushOptions, ev: PushEvents = quietPush): Promise<PushResult[]> {
  const ref = parseRemoteReference(name);
  if (ref.digest !== null) throw new Error('push by digest is not supported: push a tag (strata tag IMAGE NAME:TAG)');
  const repo = localRepo(ref);
  const tags = store.tags();
  const mine = Object.keys(tags).filter((k) => k.startsWith(repo + ':')).map((k) => k.slice(repo.length + 1)).sort();
  let todo: string[];
  if (o.allTags) {
    if (ref.tag !== null) throw new Error('tag can\'t be used with --all-tags/-a');
    if (mine.length === 0) throw new Error(`An image does not exist locally with the tag: ${repo}`);
    todo = mine;
  } else {
    const tag = ref.tag ?? 'latest';
    if (!(`${repo}:${tag}` in tags)) {
      const hint = ref.tag === null && mine.length ? ` (it has the tags ${mine.join(', ')}: name one, or push all with -a)` : '';
      throw new Error(`An image does not exist locally with the tag: ${repo}:${tag}${hint}`);
    }
    todo = [tag];
  }
  ev.line(`The push refers to repository [${ref.domain}/${ref.path}]`);
  const client = new RegistryClient(ref.domain, o);
  const scopes = [pushScope(ref.path)];
  const out: PushResult[] = [];
  for (const tag of todo) {
    const img = store.image(tags[`${repo}:${tag}`]);
    if (!img) throw new Error(`image ${tags[`${repo}:${tag}`]} of ${repo}:${tag} is not in the store`);
    out.push(await pushImage(store, client, ref, repo, tag, img, scopes, o, ev));
  }
  return out;
}

async function pushImage(store: Store, client: RegistryClient, ref: RemoteReference, repo: string, tag: string, img: ImageRecord, scopes: string[], o: PushOptions, ev: PushEvents): Promise<PushResult> {
  const manifest = store.readBlob(img.manifestDigest);
  const parsed = parseImageManifest(manifest, `the stored manifest of ${repo}:${tag}`);
  const blobs = [...parsed.layers.map((l) => ({ digest: l.digest, size: l.size, layer: true })), { digest: parsed.config.digest, size: parsed.config.size, layer: false }];
  for (const b of blobs) if (!store.hasBlob(b.digest)) throw new Error(`blob ${b.digest} of ${repo}:${tag} is missing from the store (run strata check)`);
  for (const b of blobs) if (b.layer) ev.layer(short(b.digest), 'Preparing');
  const counts = { pushed: 0, existed: 0, mounted: 0 };
  // docker pushes 5 layers at once; the bottom layer first
  const limit = Math.max(1, o.maxConcurrentUploads ?? 3);
  const queue = [...blobs];
  const seen = new Set<string>();
  const worker = async () => {
    for (let b = queue.shift(); b; b = queue.shift()) {
      if (seen.has(b.digest)) continue;
      seen.add(b.digest);
      const id = short(b.digest);
      let sent = 0;
      const r = await uploadBlob({
        client,
        repo: ref.path,
        scopes,
        blob: b,
        file: store.blobPath(b.digest),
        mountFrom: knownElsewhere(store, ref, b.digest),
        onBytes: (n) => {
          sent += n;
          if (b.layer) ev.layer(id, 'Pushing', { current: sent, total: b.size });
        },
      });
      if (r.result === 'exists') counts.existed++;
      else if (r.result === 'mounted') counts.mounted++;
      else counts.pushed++;
      if (!b.layer) continue;
      if (r.result === 'exists') ev.layer(id, 'Layer already exists');
      else if (r.result === 'mounted') ev.layer(id, 'Mounted from', { from: r.from });
      else ev.layer(id, 'Pushed');
    }
  };
  const workers = Array.from({ length: limit }, worker);
  const settled = await Promise.allSettled(workers);
  const bad = settled.find((s) => s.status === 'rejected');
  if (bad) throw (bad as PromiseRejectedResult).reason;

  const what = `push of the manifest of ${repo}:${tag}`;
  const res = await client.request(`/v2/${ref.path}/manifests/${tag}`, { method: 'PUT', scopes, headers: { 'content-type': parsed.mediaType }, body: manifest, what });
  if (res.status !== 201 && res.status !== 200) await client.fail(res, what);
  await res.body?.cancel().catch(() => undefined);
  const digest = sha256(manifest);
  const claimed = res.headers.get('docker-content-digest');
  if (claimed && claimed !== digest) throw new RegistryError(`${what}: the registry stored it as ${claimed}, not ${digest}`);
  const rd = `${repo}@${digest}`;
  const now = store.image(img.id);
  if (now && !(now.repoDigests ?? []).includes(rd)) store.putImage({ ...now, repoDigests: [...(now.repoDigests ?? []), rd] });
  ev.line(`${tag}: digest: ${digest} size: ${manifest.length}`);
  return { name: `${ref.domain}/${ref.path}:${tag}`, tag, digest, size: manifest.length, ...counts };
}
