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
