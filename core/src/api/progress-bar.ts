/**
 * A progress bar on stderr for collecting maps: done/total, percent and ETA. In a terminal
 * it redraws one line; elsewhere (CI logs) it prints a line every 10 % so logs stay short.
 */
export class ProgressBar {
  private done = 0;
  private readonly started = Date.now();
  private readonly tty: boolean;
  private lastDecile = -1;
  private lastDraw = 0;

  constructor(
    private readonly total: number,
    private readonly stream: NodeJS.WritableStream & { isTTY?: boolean; columns?: number } = process.stderr,
  ) {
    this.tty = stream.isTTY === true;
    this.draw();
  }

  tick(): void {
    this.done++;
    this.draw();
  }

  end(): void {
    if (this.tty) this.stream.write('\n');
  }

  /** The line as drawn, e.g. `[#####-----] 5/10 50% ETA 3s`. */
  line(): string {
    const fraction = this.total === 0 ? 1 : this.done / this.total;
    const width = 24;
    const filled = Math.round(fraction * width);
    const elapsed = (Date.now() - this.started) / 1000;
    const eta = this.done === 0 ? '?' : `${Math.ceil((elapsed / this.done) * (this.total - this.done))}s`;
    return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${this.done}/${this.total} ${Math.floor(fraction * 100)}% ETA ${eta}`;
  }

  private draw(): void {
    const complete = this.done === this.total;
    if (this.tty) {
      const now = Date.now();
      if (!complete && now - this.lastDraw < 50) return;
      this.lastDraw = now;
      this.stream.write(`\r${this.line()}`);
      return;
    }
    const decile = this.total === 0 ? 10 : Math.floor((this.done / this.total) * 10);
    if (decile !== this.lastDecile) {
      this.lastDecile = decile;
      this.stream.write(`${this.line()}\n`);
    }
  }
}
