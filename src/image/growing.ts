// A file that another part of the process is still writing (a blob being downloaded),
// read as a stream that waits for more bytes until the writer finishes or fails. This is
// what lets a layer be extracted while it downloads: the extractor follows the file,
// and the file doubles as the partial download a later pull resumes.
import * as fs from 'node:fs';
import { Readable } from 'node:stream';

export class GrowingFile {
  private size: number;
  private finished = false;
  private error: Error | null = null;
  private waiters: Array<() => void> = [];

  constructor(
    readonly file: string,
    initial = 0,
  ) {
    this.size = initial;
  }

  get written(): number {
    return this.size;
  }
  get done(): boolean {
    return this.finished;
  }
  get failed(): Error | null {
    return this.error;
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
  grew(n: number): void {
    this.size += n;
    this.wake();
  }
  finish(): void {
    this.finished = true;
    this.wake();
  }
  fail(e: Error): void {
    if (!this.error) this.error = e;
    this.wake();
  }
  /** Resolves at the next change (more bytes, the end, a failure). */
  changed(): Promise<void> {
    if (this.finished || this.error) return Promise.resolve();
    return new Promise((r) => this.waiters.push(r));
  }
  /** Resolves once n bytes are there or the file is complete; rejects if the writer failed. */
  async waitFor(n: number): Promise<void> {
    for (;;) {
      if (this.error) throw this.error;
      if (this.size >= n || this.finished) return;
      await this.changed();
    }
  }
}

/** The file's bytes from start, as they are written; ends when the writer finishes. */
export function followFile(g: GrowingFile, signal?: AbortSignal): Readable {
  let fd: number | null = null;
  let pos = 0;
  const chunk = 1 << 20;
  const r = new Readable({
    highWaterMark: chunk,
    read() {
      void (async () => {
        try {
          if (fd === null) fd = await new Promise<number>((res, rej) => fs.open(g.file, 'r', (e, f) => (e ? rej(e) : res(f))));
          for (;;) {
            if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('aborted');
            if (g.failed) throw g.failed;
            const avail = g.written - pos;
            if (avail > 0) {
              const buf = Buffer.allocUnsafe(Math.min(avail, chunk));
              const n = await new Promise<number>((res, rej) => fs.read(fd!, buf, 0, buf.length, pos, (e, b) => (e ? rej(e) : res(b))));
              if (n === 0) throw new Error(`${g.file} shrank while being read`);
              pos += n;
              r.push(n === buf.length ? buf : buf.subarray(0, n));
              return;
            }
            if (g.done) {
              r.push(null);
              return;
            }
            await g.changed();
          }
        } catch (e) {
          r.destroy(e as Error);
        }
      })();
    },
    destroy(err, cb) {
      if (fd !== null) fs.close(fd, () => cb(err));
      else cb(err);
    },
  });
  if (signal) {
    const onAbort = () => {
      // wake the reader so it sees the abort
      g.fail(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    r.once('close', () => signal.removeEventListener('abort', onAbort));
  }
  return r;
}
