// A store-wide exclusive lock. Node has no flock(2), so the lock is a file created
// with O_EXCL holding "pid starttime"; a lock whose process is gone (or whose pid was
// reused, which the start time reveals) is stale and gets broken. Breaking goes
// through a second O_EXCL file so two waiters cannot both break and both win.
import * as fs from 'node:fs';

function procStart(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // field 22 (starttime) counted after the ")" that ends the command name
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return rest[19] ?? null;
  } catch {
    return null;
  }
}

function holderAlive(content: string): boolean {
  const [pidS, start] = content.trim().split(' ');
  const pid = Number(pidS);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  const now = procStart(pid);
  return now !== null && (start === undefined || start === now);
}

let seq = 0;

/** Create `file` holding `content`, or fail if it exists. The content is written first and
 *  the file linked into place, so nobody ever reads a half-made lock and breaks it as stale. */
function tryCreate(file: string, content: string): boolean {
  const tmp = `${file}.${process.pid}.${++seq}`;
  fs.writeFileSync(tmp, content, { mode: 0o600 });
  try {
    fs.linkSync(tmp, file);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

function readOrNull(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

export class StoreLock {
  private held = false;
  private readonly me = `${process.pid} ${procStart(process.pid) ?? ''}`;
  constructor(private readonly file: string) {}

  private tryBreakStale(): void {
    const breaker = this.file + '.break';
    if (!tryCreate(breaker, this.me)) {
      const b = readOrNull(breaker);
      if (b !== null && !holderAlive(b)) fs.rmSync(breaker, { force: true });
      return;
    }
    try {
      const c = readOrNull(this.file);
      if (c !== null && !holderAlive(c)) fs.rmSync(this.file, { force: true });
    } finally {
      fs.rmSync(breaker, { force: true });
    }
  }

  async acquire(timeoutMs = 120_000, onWait?: () => void): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let waited = false;
    let breaks = 0;
    for (;;) {
      if (tryCreate(this.file, this.me)) {
        this.held = true;
        return;
      }
      const c = readOrNull(this.file);
      // a lock that cannot be broken (someone else is breaking it, or rm fails) is waited for
      // like a live one: the deadline bounds every way round this loop
      if (c !== null && !holderAlive(c) && breaks++ < 100) {
        this.tryBreakStale();
        continue;
      }
      if (Date.now() > deadline) throw new Error(`store is locked by another strata command (${this.file}: pid ${(c ?? '?').split(' ')[0]})`);
      if (!waited && onWait) onWait();
      waited = true;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  isHeldByMe(): boolean {
    return this.held;
  }

  release(): void {
    if (!this.held) return;
    this.held = false;
    // only remove our own lock
    if (readOrNull(this.file) === this.me) fs.rmSync(this.file, { force: true });
  }
}
