// Shared by the load test and the soak: the image every container mounts, and the
// writer processes that work in it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { writerLowerFiles, WriterResult } from './rel-writer';

export const seedFor = (base: number, writer: number): number => (base + writer * 7919) >>> 0;

/** One lower layer with a directory w<i> per writer, holding the files that writer starts with. */
export function buildLoadLower(dir: string, writers: number, seed: number): void {
  for (let w = 0; w < writers; w++) {
    const d = path.join(dir, `w${w}`);
    fs.mkdirSync(d, { recursive: true, mode: 0o755 });
    for (const [name, data] of writerLowerFiles(seedFor(seed, w))) fs.writeFileSync(path.join(d, name), data, { mode: 0o644 });
  }
}

const WRITER = path.join(__dirname, 'rel-writer.js');

export interface WriterRun { dir: string; result: WriterResult | null; code: number | null; stderr: string }

/** Starts a writer in `dir`; `onProgress` gets its op count about once a second (soak mode). */
export function startWriter(dir: string, seed: number, nops: number, seconds = 0, onProgress?: (ops: number) => void): Promise<WriterRun> {
  const child = spawn(process.execPath, [WRITER, dir, String(seed), String(nops), String(seconds)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    let nl: number;
    while ((nl = out.indexOf('\n')) >= 0) {
      const line = out.slice(0, nl);
      out = out.slice(nl + 1);
      if (line.startsWith('P ')) onProgress?.(Number(line.slice(2)));
      else if (line.startsWith('{')) last = line;
    }
  });
  let last = '';
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  return new Promise((resolve) => {
    // 'close', not 'exit': the last stdout line may still be unread when the process exits
    child.on('close', (code) => {
      let result: WriterResult | null = null;
      try {
        result = last ? (JSON.parse(last) as WriterResult) : null;
      } catch {
        result = null;
      }
      resolve({ dir, result, code, stderr: err.trim().slice(0, 2000) });
    });
  });
}
