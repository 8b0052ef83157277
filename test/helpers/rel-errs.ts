// What a sequence of syscalls answers, as "ok" or the first errno name: the fault tests
// compare these across kernel overlayfs and strata-fs.
import * as fs from 'node:fs';
import * as os from 'node:os';

const NAMES = new Map(Object.entries(os.constants.errno).map(([k, v]) => [v, k]));

/** The errno name of a thrown error. libuv has no name for some errnos (EDQUOT: its code
 *  is "Unknown system error -122" or "UNKNOWN"); those are named from .errno. */
export function errName(e: unknown): string {
  const x = e as NodeJS.ErrnoException;
  if (x.code !== undefined && x.code in os.constants.errno) return x.code;
  if (typeof x.errno === 'number') return NAMES.get(Math.abs(x.errno)) ?? x.code ?? String(e);
  return x.code ?? String(e);
}

export const errOf = (f: () => unknown): string => {
  try {
    f();
    return 'ok';
  } catch (e) {
    return errName(e);
  }
};

/** Opens for append (a copy-up for a lower file), writes, fsyncs, closes. */
export function appendErr(p: string, data: Buffer): string {
  return errOf(() => {
    const fd = fs.openSync(p, 'a');
    try {
      fs.writeSync(fd, data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  });
}

/** Writes until the first error (write, fsync or close), returns its code. */
export function fillUntilError(p: string, max: number): string {
  let fd: number;
  try {
    fd = fs.openSync(p, 'w');
  } catch (e) {
    return `open:${errName(e)}`;
  }
  const chunk = Buffer.alloc(256 << 10, 0x5a);
  let err = 'ok';
  try {
    for (let n = 0; n < max && err === 'ok'; n += chunk.length) err = errOf(() => fs.writeSync(fd, chunk));
    if (err === 'ok') err = errOf(() => fs.fsyncSync(fd));
  } finally {
    const c = errOf(() => fs.closeSync(fd));
    if (err === 'ok') err = c;
  }
  return err;
}
