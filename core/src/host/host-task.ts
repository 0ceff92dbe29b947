/**
 * A task as the host holds it, from submission until it settles. It is its own task frame
 * (sent as is) and its own cancellation handle: a million queued tasks cost one object each
 * beside their `Mirai` and segments.
 */
import type { CrashRecord, MiraiError } from '../errors.js';
import { segmentBytes, type Frame, type FrameType } from '../wire/frame.js';
import type { DaemonConnection } from './daemon-connection.js';
import type { Queueable } from './task-queue.js';

/**
 * Where a task's outcome goes: the API's `Mirai` implements this. The host calls each at most
 * once, and never after the other.
 */
export interface TaskOutcome {
  readonly id: number;
  _fulfil(value: unknown): void;
  _reject(error: MiraiError): void;
  /** Told each time the task is run again because its daemon was lost (`retry`). */
  _retried?(): void;
}

/** What can stop a task: the dispatcher that holds it. */
export interface TaskCanceller {
  cancel(task: HostTask, error: MiraiError): boolean;
}

/**
 * Host-side memory of a queued task beyond its frame's bytes (this object 136, its `Mirai`
 * 112 and the promise's resolving function with its context 112, the segment list 72 and the
 * queue slot), measured on Node 20 (heap snapshot of 100 000 queued): what `maxQueuedBytes`
 * counts per task besides the frame, so the limit tracks real memory.
 */
export const TASK_OVERHEAD_BYTES = 440;

export class HostTask implements Frame, Queueable {
  readonly type: FrameType;
  readonly flags: number;
  readonly id: number;
  readonly segments: readonly Uint8Array[];
  /** Bytes counted while queued: the frame's and {@link TASK_OVERHEAD_BYTES}. */
  readonly bytes: number;
  /** Where the task runs, once assigned. */
  daemon: DaemonConnection | undefined = undefined;
  /** True once the outcome has settled (a cancelled task may still run on its daemon). */
  settled = false;
  queuePosition = -1;
  /** How many times it was sent to a daemon (more than once after a lost daemon, with `retry`). */
  runs = 0;
  /** With a crash budget (`crashesMax`): the crashes so far and the budget. */
  crashes: CrashBudget | undefined = undefined;
  /**
   * When it was queued and last assigned, and its result's bytes: only while someone listens on
   * `mirai:task:settled` (events.ts). One field either way, so every task has the same shape
   * (a task that gained fields when observed made the dispatcher's code polymorphic).
   */
  timing: TaskTiming | undefined = undefined;

  constructor(
    f: Frame,
    readonly outcome: TaskOutcome,
    /** How many more times the task may be run again if its daemon is lost while running it. */
    public retriesLeft: number,
    private readonly canceller: TaskCanceller,
  ) {
    this.type = f.type;
    this.flags = f.flags;
    this.id = f.id;
    this.segments = f.segments;
    this.bytes = segmentBytes(f.segments) + TASK_OVERHEAD_BYTES;
  }

  /** Settles the task with `error` now and stops it wherever it is. */
  cancel(error: MiraiError): void {
    this.canceller.cancel(this, error);
  }
}

/** A task's timings, for the `mirai:task:settled` event. */
export interface TaskTiming {
  /** `performance.now()` when queued. */
  readonly queuedAt: number;
  /** `performance.now()` when last assigned to a daemon (NaN before). */
  assignedAt: number;
  /** The bytes of its result frame. */
  bytesReceived: number;
}


/**
 * A task's crash budget: the daemons that died under it (on every profile it went to) and how
 * many more may die here before it fails or is escalated.
 */
export interface CrashBudget {
  readonly history: CrashRecord[];
  left: number;
  /**
   * Hands the task to another profile (`escalate`) once the budget is spent; false when it
   * cannot (none named, or already escalated): the task then fails with a CrashLimitError.
   */
  readonly escalate?: (history: readonly CrashRecord[]) => boolean;
}
