/**
 * After a result, a process daemon keeps its event loop turning for a moment instead of
 * sleeping in it, so the next task of a caller that answers each result with another is read
 * at once (when, and for how long: poll-policy.ts).
 *
 * While an immediate is pending, Node's event loop polls its sockets without blocking, so a
 * chain of `setImmediate` calls reads the next task through the usual path (no socket is read
 * behind Node's back) without the process going to sleep.
 */
import { PollPolicy } from './poll-policy.js';

/** Default `spin` (µs): the longest a daemon polls for its next task. */
export const DEFAULT_DAEMON_SPIN_US = 200;
/** Most `spin` (µs) accepted: longer polls only burn CPU. */
export const MAX_DAEMON_SPIN_US = 1_000;

export class NextTaskPoll {
  private readonly policy: PollPolicy;
  private polling = false;
  /** A tick is scheduled (so a poll restarted before it runs needs no second chain). */
  private tickPending = false;
  private end = 0;
  /** A task came since the poll (re)started. */
  private arrived = false;
  /** Ticks since the poll (re)started. */
  private ticks = 0;

  /**
   * @param spinUs - the longest a poll lasts (0: never poll).
   * @param cpus - how many CPUs this daemon may run on (PollPolicy's).
   */
  constructor(
    spinUs: number,
    private readonly now: () => number = () => performance.now(),
    private readonly later: (tick: () => void) => void = (tick) => void setImmediate(tick),
    cpus?: () => number,
  ) {
    this.policy = new PollPolicy(spinUs, cpus);
  }

  /** Whether a poll is under way (diagnostics and tests). */
  get active(): boolean {
    return this.polling;
  }

  /** The window the next poll would have, in µs (diagnostics and tests). */
  get windowUs(): number {
    return this.policy.windowUs;
  }

  /** A task frame came. */
  taskArrived(): void {
    this.arrived = true;
    // A socket is read in the event loop's poll phase, which follows the check phase where
    // ticks run: a task there before the first tick is read after it, with one tick run.
    this.policy.taskArrived(this.now(), this.ticks < 2);
  }

  /** A result was sent and nothing else is queued: poll for the next task, unless skipping. */
  afterResult(): void {
    const end = this.policy.pollAfterResult(this.now());
    this.arrived = false;
    this.ticks = 0;
    this.polling = !Number.isNaN(end);
    if (!this.polling) return;
    this.end = end;
    if (!this.tickPending) this.schedule();
  }

  private schedule(): void {
    this.tickPending = true;
    this.later(this.tick);
  }

  private readonly tick = (): void => {
    this.tickPending = false;
    this.ticks++;
    if (!this.polling) return;
    if (this.arrived) {
      this.polling = false;
      return;
    }
    if (this.now() >= this.end) {
      this.polling = false;
      this.policy.pollEnded();
      return;
    }
    this.schedule();
  };
}
