// A one-line progress bar on stderr, only when stderr is a terminal.
import { Progress, quietProgress } from '../store/importer';
import { humanSize } from './format';

export function ttyProgress(): Progress {
  const err = process.stderr;
  if (!err.isTTY) return quietProgress;
  let label = '';
  let total = 0;
  let cur = 0;
  let last = 0;
  const draw = (force = false) => {
    const now = Date.now();
    if (!force && now - last < 100) return;
    last = now;
    const width = 30;
    const frac = total > 0 ? Math.min(1, cur / total) : 0;
    const bar = '='.repeat(Math.floor(frac * width)).padEnd(width);
    const line = `${label} [${bar}] ${humanSize(cur)}${total ? '/' + humanSize(total) : ''}`;
    err.write('\r\x1b[K' + line.slice(0, (err.columns || 80) - 1));
  };
  return {
    start(l, t) {
      label = l;
      total = t;
      cur = 0;
      draw(true);
    },
    advance(n) {
      cur += n;
      draw();
    },
    done() {
      draw(true);
      err.write('\r\x1b[K');
    },
  };
}

/** docker's progress bar: [=====>      ] 12.3MB/45.6MB */
export function progressBar(cur: number, total: number, width = 50): string {
  if (!(total > 0)) return humanSize(cur);
  const frac = Math.min(1, cur / total);
  const full = Math.floor(frac * width);
  const bar = '='.repeat(full) + (full < width ? '>' : '') + ' '.repeat(Math.max(0, width - full - 1));
  return `[${bar}] ${humanSize(cur).padStart(7)}/${humanSize(total)}`;
}

/**
 * docker's pull/push display: one line per layer, redrawn in place on a terminal. Off a
 * terminal only the lines passed as final are printed, once each (quiet otherwise).
 */
export class LayerBoard {
  private readonly ids: string[] = [];
  private readonly text = new Map<string, string>();
  private drawn = 0;
  private last = 0;
  private timer: NodeJS.Timeout | null = null;
  readonly live: boolean;

  constructor(private readonly stream: NodeJS.WriteStream = process.stdout) {
    this.live = !!stream.isTTY;
  }

  /** A line above the layers (headers, Digest:, Status:). */
  line(s: string): void {
    if (this.live) this.flush();
    this.ids.length = 0;
    this.text.clear();
    this.drawn = 0;
    this.stream.write(s + '\n');
  }

  set(id: string, s: string, final = false): void {
    if (!this.text.has(id)) this.ids.push(id);
    this.text.set(id, s);
    if (!this.live) {
      if (final) this.stream.write(`${id}: ${s}\n`);
      return;
    }
    const now = Date.now();
    if (final || now - this.last >= 100) this.draw();
    else if (!this.timer) this.timer = setTimeout(() => this.draw(), 100);
  }

  private draw(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.last = Date.now();
    const cols = (this.stream.columns || 120) - 1;
    let s = this.drawn ? `\x1b[${this.drawn}A` : '';
    for (const id of this.ids) s += `\r\x1b[K${`${id}: ${this.text.get(id)}`.slice(0, cols)}\n`;
    this.drawn = this.ids.length;
    this.stream.write(s);
  }

  /** Draws the last state (the timer may hold one back). */
  flush(): void {
    if (this.live && this.ids.length) this.draw();
    else if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
