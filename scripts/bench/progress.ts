/** One status line on a TTY; silent otherwise so logs and CI output stay clean. */
export class Progress {
  private readonly enabled: boolean;
  private readonly start = Date.now();
  private done = 0;
  private total = 0;
  private line = '';

  constructor(enabled = process.stderr.isTTY === true) {
    this.enabled = enabled;
  }

  setTotal(total: number): void {
    this.total = total;
  }

  /** A new step begins (counted). */
  step(label: string): void {
    this.done++;
    this.show(label);
  }

  /** Status text without advancing the count (fixture building, cleanup). */
  status(label: string): void {
    this.show(label);
  }

  private show(label: string): void {
    if (!this.enabled) return;
    const secs = Math.round((Date.now() - this.start) / 1000);
    const count = this.total ? `[${String(Math.min(this.done, this.total)).padStart(String(this.total).length)}/${this.total}] ` : '';
    const cols = process.stderr.columns || 100;
    this.line = `${count}${secs}s ${label}`.slice(0, cols - 1);
    process.stderr.write(`\r\x1b[K${this.line}`);
  }

  clear(): void {
    if (this.enabled && this.line) process.stderr.write('\r\x1b[K');
    this.line = '';
  }
}
