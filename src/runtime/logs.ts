// A container's output, as docker's json-file driver keeps it: one JSON object a line,
// {"log": chunk, "stream": "stdout"|"stderr", "time": ISO}, appended as it comes.
import * as fs from 'node:fs';

export interface LogRecord {
  log: string;
  stream: 'stdout' | 'stderr';
  time: string;
}

export class LogWriter {
  private fd: number | null;
  constructor(file: string) {
    this.fd = fs.openSync(file, 'a', 0o640);
  }
  write(stream: 'stdout' | 'stderr', chunk: Buffer): void {
    if (this.fd === null) return;
    // bytes that are not UTF-8 survive as latin1-escaped text would not; docker also stores text
    fs.writeSync(this.fd, JSON.stringify({ log: chunk.toString('utf8'), stream, time: new Date().toISOString() }) + '\n');
  }
  close(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }
}

/** Reads records from byte offset `from`; returns them and the offset after the last whole line. */
export function readLog(file: string, from = 0): { records: LogRecord[]; next: number } {
  let buf: Buffer;
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      buf = Buffer.alloc(Math.max(0, size - from));
      if (buf.length) fs.readSync(fd, buf, 0, buf.length, from);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return { records: [], next: from };
  }
  const end = buf.lastIndexOf(0x0a);
  if (end < 0) return { records: [], next: from };
  const records: LogRecord[] = [];
  for (const l of buf.subarray(0, end).toString('utf8').split('\n')) {
    if (!l) continue;
    try {
      records.push(JSON.parse(l) as LogRecord);
    } catch {
      /* a torn line from a crash: skip it */
    }
  }
  return { records, next: from + end + 1 };
}
