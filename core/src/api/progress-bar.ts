/**
 * A progress bar on stderr for collecting maps: done/total, failures, percent and ETA. In a
 * terminal it redraws one line; elsewhere (CI logs) it prints a line every 10 % so logs stay
 * short.
 */
export class ProgressBar {
  private done = 0;
  private failed = 0;
  private readonly started = Date.now();
  private readonly tty: boolean;
  private lastDecile = -1;
  private lastDraw = 0;
  /** Length of the line last drawn: a shorter one is padded over it (no `ETA 9ss`). */
  private drawnLength = 0;
  /** Whether the latest state is on screen (the throttle may have skipped it). */
  private drawn = false;

  constructor(
    private readonly total: number,
    private readonly stream: NodeJS.WritableStream & { isTTY?: boolean; columns?: number } = process.stderr,
  ) {
    this.tty = stream.isTTY === true;
    this.draw(true);
  }

  /** One more element settled; `failed` when it settled with an error. */
  tick(failed = false): void {
    this.done++;
    if (failed) this.failed++;
    this.drawn = false;
    this.draw(false);
  }

  /** Draws the final state if the throttle held it back, and ends the line. */
  end(): void {
    if (!this.drawn) this.draw(true);
    if (this.tty) this.stream.write('\n');
  }

  /** The line as drawn, e.g. `[#####-----] 5/10 50% 1 failed ETA 3s`. */
  line(): string {
    const fraction = this.total === 0 ? 1 : this.done / this.total;
    const width = 24;
    const filled = Math.round(fraction * width);
    const elapsed = (Date.now() - this.started) / 1000;
    const eta = this.done === 0 ? '?' : `${Math.ceil((elapsed / this.done) * (this.total - this.done))}s`;
    const failed = this.failed > 0 ? ` ${this.failed} failed` : '';
    return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${this.done}/${this.total} ${Math.floor(fraction * 100)}%${failed} ETA ${eta}`;
  }

  private draw(force: boolean): void {
    const complete = this.done === this.total;
    if (this.tty) {
      const now = Date.now();
      if (!force && !complete && now - this.lastDraw < 50) return;
      this.lastDraw = now;
      const line = this.line();
      this.stream.write(`\r${line.padEnd(this.drawnLength)}`);
      this.drawnLength = line.length;
      this.drawn = true;
      return;
    }
    const decile = this.total === 0 ? 10 : Math.floor((this.done / this.total) * 10);
    if (force || decile !== this.lastDecile) {
      this.lastDecile = decile;
      this.stream.write(`${this.line()}\n`);
    }
    this.drawn = true;
  }
}
