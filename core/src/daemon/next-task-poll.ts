/**
 * After a result, a daemon keeps its event loop turning for a moment instead of sleeping in
 * it, so the next task of a caller that answers each result with another is read at once.
 *
 * A sleeping process takes long to wake: on the virtual machines these figures come from, a
 * wake across CPUs costs about 30 µs (the idle CPU halts), more than a round trip's own work.
 * While an immediate is pending, Node's event loop polls its sockets without blocking, so a
 * chain of `setImmediate` calls for `spin` µs reads the next task through the usual path (no
 * socket is read behind Node's back) without the process going to sleep.
 *
 * A poll costs up to `spin` µs of CPU per result. One that sees no task makes the next ones
 * skip polling for 1, 2, 4 … {@link MAX_SKIPPED_POLLS} results, so a daemon whose tasks come
 * slowly, or whose host shares its CPU, soon stops polling; one that sees a task resets that.
 */

/** Default `spin` (µs) of a daemon's poll for its next task. */
export const DEFAULT_DAEMON_SPIN_US = 50;
/** Most `spin` (µs) accepted: longer polls only burn CPU. */
export const MAX_DAEMON_SPIN_US = 1_000;
/** Most results in a row a daemon skips polling after it polled in vain. */
export const MAX_SKIPPED_POLLS = 256;

export class NextTaskPoll {
  private readonly spinMs: number;
  /** Results left whose poll is skipped, and how many the last miss skipped. */
  private skip = 0;
  private backoff = 0;
  private polling = false;
  private end = 0;
  /** The task count when the poll (re)started: a different count is a task that came. */
  private countAtStart = 0;

  /**
   * @param spinUs - how long a poll lasts (0: never poll).
   * @param tasksReceived - the count of tasks the daemon has received so far.
   */
  constructor(
    spinUs: number,
    private readonly tasksReceived: () => number,
    private readonly now: () => number = () => performance.now(),
    private readonly later: (tick: () => void) => void = (tick) => void setImmediate(tick),
  ) {
    this.spinMs = spinUs / 1000;
  }

  /** Whether a poll is under way (diagnostics and tests). */
  get active(): boolean {
    return this.polling;
  }

  /** A result was sent and nothing else is queued: poll for the next task, unless backing off. */
  afterResult(): void {
    if (this.spinMs <= 0) return;
    if (this.polling) {
      // A task came during the poll (its result is this one): a hit; poll again from here.
      this.backoff = 0;
      this.restart();
      return;
    }
    if (this.skip > 0) {
      this.skip--;
      return;
    }
    this.polling = true;
    this.restart();
    this.later(this.tick);
  }

  private restart(): void {
    this.countAtStart = this.tasksReceived();
    this.end = this.now() + this.spinMs;
  }

  private readonly tick = (): void => {
    if (this.tasksReceived() !== this.countAtStart) {
      this.polling = false;
      this.backoff = 0;
      return;
    }
    if (this.now() >= this.end) {
      this.polling = false;
      this.backoff = Math.min(this.backoff * 2 || 1, MAX_SKIPPED_POLLS);
      this.skip = this.backoff;
      return;
    }
    this.later(this.tick);
  };
}
