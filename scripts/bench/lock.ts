import * as fs from 'node:fs';
import * as path from 'node:path';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * One bench per work dir: a second one would rebuild the fixtures under the
 * first, and its start-up cleanup would unmount the first one's mounts.
 * Returns the release function.
 */
export function lockWorkdir(workdir: string): () => void {
  const file = path.join(workdir, 'bench.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, `${process.pid}\n`, { flag: 'wx' });
      return () => fs.rmSync(file, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number(fs.readFileSync(file, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0 && alive(pid)) {
        throw new Error(`another bench (pid ${pid}) is using ${workdir}; wait for it or use --workdir`);
      }
      fs.rmSync(file, { force: true }); // left by a bench that was killed
    }
  }
  throw new Error(`cannot lock ${file}`);
}
