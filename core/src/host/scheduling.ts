/**
 * Scheduling strategies: which daemon gets the next queued task.
 *
 * - FIFO (`dispatcher: true`, mirai's dispatcher): tasks in submission order, one per daemon
 *   at a time, to the daemon freed last. A slow task never holds up another. Opt-in
 *   `prefetch: k` keeps up to k tasks in flight per daemon, for tiny tasks where the round
 *   trip dominates.
 * - Direct (`dispatcher: false`): tasks go round-robin to connected daemons at once and queue
 *   there; less overhead per task, but a slow task delays those queued behind it.
 *
 * `everywhere()` copies (a daemon's `setup`) always go before any queued task on that daemon.
 */
import type { DaemonConnection } from './daemon-connection.js';
import type { HostTask } from './host-task.js';
import { TaskQueue } from './task-queue.js';

/** What a strategy works with: the dispatcher's queue and connections. */
export interface SchedulingState {
  /** Connected daemons, in connection order. */
  readonly connections: Iterable<DaemonConnection>;
  /** Whether tasks are queued. */
  queued(): boolean;
  /** Takes the next queued task. */
  next(): HostTask;
  /** Sends a task to a daemon. */
  assign(conn: DaemonConnection, task: HostTask): void;
}

export interface Scheduler {
  /** A daemon became free for work: it joined, or answered its task. */
  release(conn: DaemonConnection): void;
  /** A daemon got `everywhere()` copies to run. */
  setupAdded(conn: DaemonConnection, state: SchedulingState): void;
  /** Assigns work while there is work and a daemon to take it. */
  drain(state: SchedulingState): void;
  /** A daemon left: forget it (once per departure, not per task). */
  remove(conn: DaemonConnection): void;
}

/**
 * mirai's dispatcher: tasks in submission order, one per daemon, to the daemon freed last. That
 * daemon is still polling for its next task (daemon/poll-policy.ts) and its connection is warm;
 * one idle longer sleeps, and waking it costs more than a round trip's own work (mirai takes
 * its first idle slot, which keeps a caller that awaits one task at a time on one daemon too).
 * Daemons left idle stay idle, so `idletime` and scaling down retire them. With `prefetch: k`
 * (k > 1) a daemon holds up to k tasks: it starts the next as soon as it answers one, with no
 * round trip in between. Daemons with room take turns, one task each, so the queue spreads
 * evenly and stays in submission order.
 */
export class FifoScheduler implements Scheduler {
  /**
   * Daemons with room for a task, in the order they got it, each at most once. O(1) at either
   * end: with thousands of daemons, assigning a task costs the same as with ten.
   */
  private idle = new TaskQueue<DaemonConnection>();
  /** Daemons with `everywhere()` copies still to send: checked first, and only they. */
  private readonly withSetup = new Set<DaemonConnection>();
  /**
   * Removals from `idle` since it was last rebuilt. A removal leaves an empty slot that only a
   * drain reaching it frees (with `prefetch: 1` daemons are taken from the top, so slots under
   * an idle daemon stay); rebuilding once they outnumber the daemons bounds them, at O(1) per
   * removal on average.
   */
  private removals = 0;

  constructor(private readonly depth = 1) {}

  /** Daemons it holds now (with room for a task, or set-up to send): what `remove` keeps bounded. */
  get held(): number {
    let n = this.idle.size;
    for (const conn of this.withSetup) if (!this.idle.has(conn)) n++;
    return n;
  }

  release(conn: DaemonConnection): void {
    if (!this.idle.has(conn)) this.idle.push(conn);
  }

  remove(conn: DaemonConnection): void {
    this.withSetup.delete(conn);
    if (!this.idle.remove(conn)) return;
    if (++this.removals <= REBUILD_AFTER || this.removals <= this.idle.size) return;
    // The daemons still here, in the same order, in a queue without the empty slots.
    const kept = this.idle.drainAll();
    this.idle = new TaskQueue<DaemonConnection>();
    for (const c of kept) this.idle.push(c);
    this.removals = 0;
  }

  setupAdded(conn: DaemonConnection): void {
    this.withSetup.add(conn);
  }

  private hasRoom(conn: DaemonConnection): boolean {
    return conn.state === 'ready' && conn.inflight.size < this.depth;
  }

  drain(state: SchedulingState): void {
    for (const conn of this.withSetup) {
      if (conn.state === 'gone' || conn.setup.length === 0) this.withSetup.delete(conn);
      else if (this.idle.has(conn)) {
        while (conn.setup.length > 0 && this.hasRoom(conn)) state.assign(conn, conn.setup.shift()!);
        if (conn.setup.length === 0) this.withSetup.delete(conn);
        if (!this.hasRoom(conn)) this.idle.remove(conn);
      }
    }
    while (this.idle.size > 0 && state.queued()) {
      // One task each: the daemon freed last. With prefetch: the one waiting longest, in turn.
      const conn = this.depth === 1 ? this.idle.pop()! : this.idle.shift()!;
      // A daemon may have left, or filled up, since it was released: skip it.
      if (this.hasRoom(conn)) state.assign(conn, state.next());
      if (this.hasRoom(conn)) this.idle.push(conn);
    }
  }
}

/** Empty slots the FIFO scheduler's queue of daemons may hold before it is rebuilt. */
const REBUILD_AFTER = 64;

/** Direct mode: round-robin over connected daemons, which queue tasks themselves. */
export class DirectScheduler implements Scheduler {
  private turn = 0;

  release(): void {
    // Daemons queue their own work: being free changes nothing here.
  }

  remove(): void {
    // It holds no daemon: each drain reads the connected ones.
  }

  setupAdded(conn: DaemonConnection, state: SchedulingState): void {
    // The daemon runs frames in arrival order, so set-up sent now runs before later tasks.
    while (conn.setup.length > 0) state.assign(conn, conn.setup.shift()!);
  }

  drain(state: SchedulingState): void {
    const ready: DaemonConnection[] = [];
    for (const conn of state.connections) if (conn.state === 'ready') ready.push(conn);
    if (ready.length === 0) return;
    while (state.queued()) state.assign(ready[this.turn++ % ready.length]!, state.next());
  }
}
