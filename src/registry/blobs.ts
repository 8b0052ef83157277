// Blobs to and from a registry. Downloads append to a file (the partial a later pull
// resumes with a Range request) and never write more than the descriptor's size;
// whatever Content-Length or Content-Range say, the digest of the bytes decides (the
// importer hashes the file as it reads it). Uploads: HEAD first, a cross-repository
// mount when the blob is known in another repository of the registry, else POST then
// one streamed PATCH (or several, of STRATA_PUSH_CHUNK_SIZE bytes) and the closing PUT.
import * as fs from 'node:fs';
import { GrowingFile } from '../image/growing';
import { RegistryClient } from './client';
import { describeNetError, RegistryError, RETRIES, sleep } from './transport';

export interface Blob {
  digest: string;
  size: number;
}

export interface DownloadOptions {
  client: RegistryClient;
  repo: string;
  scopes: string[];
  blob: Blob;
  growing: GrowingFile;
  signal: AbortSignal;
  onBytes?: (n: number) => void;
}

const short = (d: string) => d.slice(7, 19);

/** Appends the rest of the blob to growing.file (resuming after what is there). */
export async function downloadBlob(o: DownloadOptions): Promise<void> {
  const { blob, growing } = o;
  const what = `blob ${short(blob.digest)}`;
  const fh = await fs.promises.open(growing.file, 'a');
  let failures = 0;
  let noRange = false;
  try {
    while (growing.written < blob.size) {
      const have = growing.written;
      const headers: Record<string, string> = {};
      if (have > 0 && !noRange) headers.range = `bytes=${have}-`;
      let skip = 0;
      let lastErr: RegistryError | null = null;
      try {
        const res = await o.client.request(`/v2/${o.repo}/blobs/${blob.digest}`, { scopes: o.scopes, headers, signal: o.signal, what });
        if (res.status === 416 && have > 0) {
          await res.body?.cancel().catch(() => undefined);
          noRange = true;
          throw new RegistryError(`${what}: the registry refused the range request`, 416, 'RANGE');
        }
        if (res.status === 206) {
          const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers.get('content-range') ?? '');
          if (!m || Number(m[1]) !== have) {
            await res.body?.cancel().catch(() => undefined);
            noRange = true;
            throw new RegistryError(`${what}: the registry answered another range than asked for`, 206, 'RANGE');
          }
        } else if (res.status === 200) skip = have; // the whole blob again: drop what we have
        else await o.client.fail(res, `download of ${what}`);
        if (!res.body) throw new RegistryError(`${what}: empty answer`, res.status, 'TRUNCATED');
        const reader = res.body.getReader();
        try {
          for (;;) {
            const { done, value } = await reader.read();
            if (done) break;
            let chunk = Buffer.from(value.buffer, value.byteOffset, value.length);
            if (skip > 0) {
              const k = Math.min(skip, chunk.length);
              skip -= k;
              chunk = chunk.subarray(k);
              if (chunk.length === 0) continue;
            }
            if (growing.written + chunk.length > blob.size) {
              throw new RegistryError(`${what} is larger than the ${blob.size} bytes its descriptor says`, undefined, 'TOO_LARGE');
            }
            await fh.write(chunk);
            growing.grew(chunk.length);
            o.onBytes?.(chunk.length);
          }
        } finally {
          reader.releaseLock();
        }
        if (growing.written < blob.size) throw new RegistryError(`${what}: the download ended after ${growing.written} of ${blob.size} bytes`, undefined, 'TRUNCATED');
      } catch (e) {
        lastErr = describeNetError(e, what, o.client.timeoutMs);
        const again = ['UND_ERR_BODY_TIMEOUT', 'ECONNRESET', 'UND_ERR_SOCKET', 'TRUNCATED', 'RANGE', 'EPIPE', 'UND_ERR_CLOSED'].includes(lastErr.code ?? '');
        if (!again || o.signal.aborted) throw lastErr;
        if (++failures > RETRIES) throw new RegistryError(`${lastErr.message} (${failures} attempts, resuming each time)`, lastErr.status, lastErr.code);
        await sleep(250 * 2 ** (failures - 1));
      }
    }
    growing.finish();
  } catch (e) {
    growing.fail(e as Error);
    throw e;
  } finally {
    await fh.close();
  }
}

/** Chunk size for uploads: one streamed PATCH unless STRATA_PUSH_CHUNK_SIZE says otherwise. */
export function uploadChunkSize(): number {
  const n = Number(process.env.STRATA_PUSH_CHUNK_SIZE ?? 0);
  return Number.isSafeInteger(n) && n > 0 ? n : Infinity;
}

/** Blobs smaller than this go in the closing PUT itself (a monolithic upload). */
const MONOLITHIC_MAX = 1 << 20;

export type UploadResult = 'exists' | 'mounted' | 'pushed';

function withDigest(loc: string, digest: string): string {
  const u = new URL(loc);
  u.searchParams.set('digest', digest);
  return u.toString();
}

export interface UploadOptions {
  client: RegistryClient;
  repo: string;
  scopes: string[];
  blob: Blob;
  file: string;
  /** other repositories of this registry known to hold the blob */
  mountFrom: string[];
  onBytes?: (n: number) => void;
}

export async function blobExists(c: RegistryClient, repo: string, scopes: string[], d: string): Promise<boolean> {
  const r = await c.request(`/v2/${repo}/blobs/${d}`, { method: 'HEAD', scopes, what: `HEAD blob ${short(d)}` });
  if (r.status === 200) return true;
  if (r.status === 404) return false;
  return c.fail(r, `checking blob ${short(d)}`);
}

export async function uploadBlob(o: UploadOptions): Promise<{ result: UploadResult; from?: string }> {
  const { client: c, repo, blob } = o;
  const what = `upload of blob ${short(blob.digest)}`;
  if (await blobExists(c, repo, o.scopes, blob.digest)) return { result: 'exists' };
  let location: string | null = null;
  for (const from of o.mountFrom) {
    const scopes = [...o.scopes, `repository:${from}:pull`];
    // a failed mount opens an upload session anyway: ask first whether the blob is there
    if (!(await blobExists(c, from, scopes, blob.digest).catch(() => false))) continue;
    const r = await c.request(`/v2/${repo}/blobs/uploads/?mount=${encodeURIComponent(blob.digest)}&from=${encodeURIComponent(from)}`, { method: 'POST', scopes, what, retry: true });
    await r.body?.cancel().catch(() => undefined);
    if (r.status === 201) return { result: 'mounted', from };
    if (r.status === 202) {
      // not mountable: the registry opened a normal upload instead
      location = r.headers.get('location');
      break;
    }
  }
  for (let attempt = 0; ; attempt++) {
    try {
      if (!location) {
        const r = await c.request(`/v2/${repo}/blobs/uploads/`, { method: 'POST', scopes: o.scopes, what, retry: true });
        if (r.status !== 202) await c.fail(r, what);
        await r.body?.cancel().catch(() => undefined);
        location = r.headers.get('location');
      }
      if (!location) throw new RegistryError(`${what}: the registry gave no upload location`);
      let loc = new URL(location, c.url('/')).toString();
      if (blob.size <= MONOLITHIC_MAX) {
        const data = fs.readFileSync(o.file);
        const r = await c.request(withDigest(loc, blob.digest), { method: 'PUT', scopes: o.scopes, headers: { 'content-type': 'application/octet-stream', 'content-length': String(data.length) }, body: data, what });
        if (r.status !== 201) await c.fail(r, what);
        await r.body?.cancel().catch(() => undefined);
        o.onBytes?.(data.length);
        return { result: 'pushed' };
      }
      const chunk = uploadChunkSize();
      for (let start = 0; start < blob.size; ) {
        const end = Math.min(blob.size, start + chunk);
        const r = await c.request(loc, {
          method: 'PATCH',
          scopes: o.scopes,
          headers: { 'content-type': 'application/octet-stream', 'content-length': String(end - start), 'content-range': `${start}-${end - 1}` },
          file: { path: o.file, start, end, onBytes: o.onBytes },
          retry: false,
          what,
        });
        if (r.status !== 202) await c.fail(r, what);
        await r.body?.cancel().catch(() => undefined);
        const next = r.headers.get('location');
        if (next) loc = new URL(next, loc).toString();
        start = end;
      }
      const r = await c.request(withDigest(loc, blob.digest), { method: 'PUT', scopes: o.scopes, headers: { 'content-length': '0' }, what });
      if (r.status !== 201) await c.fail(r, what);
      await r.body?.cancel().catch(() => undefined);
      return { result: 'pushed' };
    } catch (e) {
      const err = e as RegistryError;
      const again = ['ECONNRESET', 'UND_ERR_SOCKET', 'EPIPE', 'UND_ERR_CLOSED'].includes(err.code ?? '') || (err.status !== undefined && err.status >= 500);
      if (!again || attempt >= RETRIES) throw e;
      location = null; // start a fresh upload session
      await sleep(250 * 2 ** attempt);
    }
  }
}
