/**
 * What the API asks of a profile's pool, whichever kind it is: daemons (`DaemonPool`), the
 * calling process in sync mode (`SyncPool`), or one-off processes when no daemons are set
 * (`EphemeralPool`). Callers never test which.
 */
import type { TraceContext } from '../trace-context.js';
import type { MiraiError } from '../errors.js';
import type { LaunchHandle, Launcher, LaunchSpec } from '../launcher.js';
import type { Serializer } from '../serializer.js';
import type { ModuleFunction } from '../task.js';
import type { DaemonOptions } from '../wire/daemon-args.js';
import type { TaskParam } from '../wire/task-frame.js';
import type { DaemonStatus } from './daemon-connection.js';
import type { DispatcherCounters } from './dispatcher.js';
import type { CrashBudget, TaskOutcome } from './host-task.js';
import type { LogFunction } from './log.js';
import type { LaunchFigures } from './replacements.js';
import type { AutoscaleStatus } from './autoscaler.js';

/** A task for a pool to run. */
export interface TaskRequest {
  readonly id: number;
  readonly fn: Function | ModuleFunction;
  readonly params: readonly TaskParam[];
  /** Where the result goes. */
  readonly outcome: TaskOutcome;
  /** Runs left if the daemon running it is lost. */
  readonly retry: number;
  /** A crash budget (`crashesMax`, `escalate`): daemon pools count crashes against it. */
  readonly crashes?: CrashBudget;
  /** An element of a `miraiMap()`. */
  readonly inMap?: boolean;
  /** An `everywhere()` copy (sync mode): takes no random stream. */
  readonly everywhere?: boolean;
  /** W3C trace context to send with the task (from a tracing adapter's provider). */
  readonly trace?: TraceContext | undefined;
  /**
   * A chunk of a map (`miraiMap(..., { chunk })`) of this many items: params are (items, args)
   * and the outcome is fulfilled with one ResultOutcome per item. Only pools with `batches` take it.
   */
  readonly batch?: number;
}

/** A submitted task, as far as its submitter can act on it. */
export interface Submitted {
  /** Settles the task with `error` now and stops it wherever it is. */
  cancel(error: MiraiError): void;
}

/** A pool's figures for `status()`. */
export interface PoolStatus extends DispatcherCounters {
  readonly url: string;
  readonly dispatcher: boolean;
  /** The queue's limits as configured (`Infinity`: none). */
  readonly maxQueued: number;
  readonly maxQueuedBytes: number;
  /** Launching and replacing daemons: what is pending, and failures in a row. */
  readonly launches: LaunchFigures;
  /** Autoscaling (with `autoscale` or after `scale(n)`): target, launches and failures. */
  readonly autoscale?: AutoscaleStatus;
  readonly daemons: readonly DaemonStatus[];
}

export interface ComputePool {
  readonly name: string;
  readonly serializers: readonly Serializer[];
  readonly log: LogFunction;
  /** True if `submit()` takes chunks of a map (`TaskRequest.batch`); other pools get one task per item. */
  readonly batches?: boolean;
  /**
   * Queues a task. Throws (nothing queued) when it cannot be sent (a SerializationError) or
   * the queue is full (a QueueFullError).
   */
  submit(request: TaskRequest): Submitted;
  /**
   * Runs a task once on every daemon, now and on every daemon that connects later; resolves
   * with the outcomes for the daemons connected now, or once `min` daemons have a copy.
   */
  everywhere<T extends TaskOutcome>(fn: Function | ModuleFunction, params: readonly TaskParam[], makeOutcome: () => T, min?: number): Promise<T[]>;
  /** Resolves once the queue is below its limits. */
  room(): Promise<void>;
  /** Starts `n` more daemons (default launcher and options: the profile's); resolves once they connected. */
  launch(n: number, launcher?: Launcher, options?: DaemonOptions): Promise<LaunchHandle[]>;
  /** What a launcher needs to start daemons for this pool (`options` override the profile's). */
  launchSpec(options?: DaemonOptions): LaunchSpec;
  status(): PoolStatus;
  /** Sets the number of daemons by hand (`'auto'`: back to autoscaling); daemon pools only. */
  scale?(target: number | 'auto'): void;
  /** Resets: pending tasks settle with a connection reset, daemons leave. */
  close(reason?: string, terminate?: boolean): Promise<void>;
}
