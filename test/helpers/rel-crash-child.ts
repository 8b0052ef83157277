// Runs a crash scenario's operations inside a mount, one after another, and records in a
// log outside the mount (fsync'd) how many have completed, so that the checker knows
// which effects must survive the daemon's death.
// usage: node rel-crash-child.js MOUNTPOINT OPS.json LOG
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Op } from './rel-model';

function runOp(mnt: string, op: Op): void {
  const p = path.join(mnt, op.p);
  switch (op.k) {
    case 'create': {
      const fd = fs.openSync(p, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o644);
      try {
        fs.writeSync(fd, Buffer.from(op.data, 'hex'));
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      return;
    }
    case 'append': {
      const fd = fs.openSync(p, fs.constants.O_WRONLY | fs.constants.O_APPEND);
      try {
        fs.writeSync(fd, Buffer.from(op.data, 'hex'));
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      return;
    }
    case 'rename':
      fs.renameSync(p, path.join(mnt, op.p2));
      return;
    case 'unlink':
      fs.unlinkSync(p);
      return;
    case 'mkdir':
      fs.mkdirSync(p, 0o755);
      return;
    case 'rmdir':
      fs.rmdirSync(p);
      return;
  }
}

function main(): number {
  const [mnt, opsFile, logFile] = process.argv.slice(2);
  if (!mnt || !opsFile || !logFile) {
    process.stderr.write('usage: rel-crash-child MOUNTPOINT OPS.json LOG\n');
    return 2;
  }
  const ops = JSON.parse(fs.readFileSync(opsFile, 'utf8')) as Op[];
  const log = fs.openSync(logFile, 'a');
  process.stdout.write('ready\n');
  for (let i = 0; i < ops.length; i++) {
    try {
      runOp(mnt, ops[i]!);
    } catch (e) {
      fs.writeSync(log, `E ${i} ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}\n`);
      fs.fsyncSync(log);
      return 1;
    }
    fs.writeSync(log, `${i + 1}\n`);
    fs.fsyncSync(log);
  }
  fs.writeSync(log, 'done\n');
  fs.fsyncSync(log);
  return 0;
}

process.exitCode = main();
