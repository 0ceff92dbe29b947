/**
 * Scheduling strategies: which daemon gets the next queued task.
 *
 * - FIFO (`dispatcher: true`, mirai's dispatcher): one task per daemon at a time, the
 *   longest-idle daemon first. A slow task never holds up another.
 * - Direct (`dispatcher: false`): tasks go round-robin to connected daemons at once and queue
 *   there; less overhead per task, but a slow task delays those queued behind it.
 *
 * `everywhere()` copies (a daemon's `setup`) always go before any queued task on that daemon.
 */
import type { DaemonConnection } from './daemon-connection.js';
import type { HostTask } from './host-task.js';

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
}

/** mirai's dispatcher: one task per daemon, longest-idle daemon first. */
export class FifoScheduler implements Scheduler {
  private readonly idle: DaemonConnection[] = [];

  release(conn: DaemonConnection): void {
    this.idle.push(conn);
  }

  setupAdded(): void {
    // drain() runs set-up on idle daemons before anything else.
  }

  drain(state: SchedulingState): void {
    for (let i = 0; i < this.idle.length; ) {
      const conn = this.idle[i]!;
      if (conn.setup.length > 0 && conn.free) {
        this.idle.splice(i, 1);
        state.assign(conn, conn.setup.shift()!);
      } else i++;
    }
    while (this.idle.length > 0 && state.queued()) {
      const conn = this.idle.shift()!;
      // A daemon may have left, or taken set-up, since it was released: skip it.
      if (conn.free) state.assign(conn, state.next());
    }
  }
}

/** Direct mode: round-robin over connected daemons, which queue tasks themselves. */
export class DirectScheduler implements Scheduler {
  private turn = 0;

  release(): void {
    // Daemons queue their own work: being free changes nothing here.
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
