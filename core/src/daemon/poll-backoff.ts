/**
 * When a daemon polls for its next task after a result (a process daemon's event loop, a
 * thread daemon's ring): a poll that saw nothing makes the next ones skip polling for 1, 2,
 * 4 … {@link MAX_SKIPPED_POLLS} results, so a daemon whose tasks come slowly, or whose host
 * shares its CPU, soon stops polling; a poll that saw a task starts over.
 */

/** Most results in a row a daemon skips polling after it polled in vain. */
export const MAX_SKIPPED_POLLS = 256;

export class PollBackoff {
  /** Results left whose poll is skipped, and how many the last miss skipped. */
  private skip = 0;
  private backoff = 0;

  /** Whether to poll after this result; false uses up one skipped result. */
  shouldPoll(): boolean {
    if (this.skip === 0) return true;
    this.skip--;
    return false;
  }

  /** The poll saw a task. */
  hit(): void {
    this.backoff = 0;
  }

  /** The poll saw nothing. */
  miss(): void {
    this.backoff = Math.min(this.backoff * 2 || 1, MAX_SKIPPED_POLLS);
    this.skip = this.backoff;
  }
}
