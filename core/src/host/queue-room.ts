/**
 * Backpressure for a profile's queue (`maxQueued`, `maxQueuedBytes`) that holds under
 * contention: producers that `await queueRoom()` are served first come, first served, and
 * each is woken with room **reserved** for the one task it submits next. The reservation
 * lasts until the event loop's next turn (`setImmediate`), so the documented loop
 * `await queueRoom(); mirai(...)` never meets a full queue, with any number of producers that
 * all wait this way. A reservation is not tied to its producer (nothing names the caller of
 * `mirai()`): a submission that did not wait, made before the woken producer resumes, takes
 * the oldest reservation, and that producer then meets the full queue (docs/daemons.md).
 */
export class QueueRoom {
  private readonly waiters: { readonly wake: () => void; readonly fail: (error: Error) => void }[] = [];
  /** Reservations handed out and not yet used or expired, oldest first. */
  private readonly reservations: { used: boolean }[] = [];
  /** Bytes of the last task submitted: the room a waiter's next task is expected to need. */
  private typicalBytes = 0;
  /** No limits (the default): nothing to count, on the hot path. */
  private readonly unbounded: boolean;

  constructor(
    private readonly maxTasks: number,
    private readonly maxBytes: number,
    /** The queue now: tasks and bytes. */
    private readonly queued: () => { readonly tasks: number; readonly bytes: number },
  ) {
    this.unbounded = maxTasks === Infinity && maxBytes === Infinity;
  }

  /** Resolves once there is room for one more task, reserved for the caller's next submission. */
  wait(): Promise<void> {
    if (this.unbounded) return Promise.resolve();
    if (this.waiters.length === 0 && this.hasRoom()) {
      this.reserve();
      return Promise.resolve();
    }
    return new Promise((wake, fail) => this.waiters.push({ wake, fail }));
  }

  /**
   * Whether a task of `bytes` may be queued now; if so, it takes the oldest reservation, if
   * any. A task always fits an empty queue, so a single large task never waits forever.
   */
  admit(bytes: number): boolean {
    if (this.unbounded) return true;
    const reservation = this.reservations.find((r) => !r.used);
    const fits = reservation !== undefined || this.hasRoom(bytes);
    if (!fits) return false;
    if (reservation !== undefined) reservation.used = true;
    this.typicalBytes = bytes;
    return true;
  }

  /** The queue shrank: wake waiters, in order, while there is room for them. */
  shrank(): void {
    if (this.waiters.length === 0) return;
    while (this.waiters.length > 0 && this.hasRoom()) {
      this.reserve();
      this.waiters.shift()!.wake();
    }
  }

  /**
   * The profile is closing: every waiter fails with `error`. Woken, a producer's next
   * submission would go wherever the profile's name leads now: on the default profile, to a
   * one-off process per task, unthrottled.
   */
  release(error: Error): void {
    for (const { fail } of this.waiters.splice(0)) fail(error);
  }

  private reserve(): void {
    const reservation = { used: false };
    this.reservations.push(reservation);
    // Used or not, a reservation ends on the next turn of the event loop; unused room then
    // goes to the next waiter.
    setImmediate(() => {
      this.reservations.splice(this.reservations.indexOf(reservation), 1);
      if (!reservation.used) this.shrank();
    });
  }

  /** Room for one more task of `bytes` (default: a typical one) beside what is reserved. */
  private hasRoom(bytes = this.typicalBytes): boolean {
    const { tasks, bytes: queuedBytes } = this.queued();
    let held = 0;
    for (const r of this.reservations) if (!r.used) held++;
    if (tasks + held >= this.maxTasks) return false;
    if (tasks + held === 0) return true;
    return queuedBytes + (held + 1) * Math.max(bytes, 1) <= this.maxBytes;
  }
}
