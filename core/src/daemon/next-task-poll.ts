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
 * A poll costs up to `spin` µs of CPU per result; polls that see nothing back off
 * (poll-backoff.ts).
 */
import { PollBackoff } from './poll-backoff.js';

/** Default `spin` (µs) of a daemon's poll for its next task. */
export const DEFAULT_DAEMON_SPIN_US = 50;
/** Most `spin` (µs) accepted: longer polls only burn CPU. */
export const MAX_DAEMON_SPIN_US = 1_000;
export class NextTaskPoll {
  private readonly spinMs: number;
  private readonly backoff = new PollBackoff();
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
      this.backoff.hit();
      this.restart();
      return;
    }
    if (!this.backoff.shouldPoll()) return;
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
      this.backoff.hit();
      return;
    }
    if (this.now() >= this.end) {
      this.polling = false;
      this.backoff.miss();
      return;
    }
    this.later(this.tick);
  };
}
