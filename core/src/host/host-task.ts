/**
 * A task as the host holds it, from submission until it settles. It is its own task frame
 * (sent as is) and its own cancellation handle: a million queued tasks cost one object each
 * beside their `Mirai` and segments.
 */
import type { CrashRecord, MiraiError } from '../errors.js';
import { keepShapeOf } from '../util/keep-shape.js';
import { FrameType, segmentBytes, type Frame } from '../wire/frame.js';
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
 * Host-side memory of a queued task beyond its frame's bytes (this object 96, its `Mirai`
 * 104 and the promise's resolving function with its context 112, the segment list about 80
 * and the queue slot), measured on Node 20 (heap snapshot of 100 000 queued): what
 * `maxQueuedBytes` counts per task besides the frame, so the limit tracks real memory.
 */
export const TASK_OVERHEAD_BYTES = 400;

/** `HostTask.#header`: the frame's type in bits 0–7, its flags in bits 8–23, then `settled`. */
const TYPE_MASK = 0xff;
const FLAGS_SHIFT = 8;
const FLAGS_MASK = 0xffff;
const SETTLED = 1 << 24;

/*
 * A million queued tasks hold a million of these, so every field costs 8 MB: what can be
 * derived is (id, bytes), small values share one field, and what few tasks have (a crash
 * budget, timings) sits in one optional object.
 */
export class HostTask implements Frame, Queueable {
  readonly segments: readonly Uint8Array[];
  /** Frame type, flags and `settled` (see the constants above). */
  #header: number;
  /** Where the task runs, once assigned. */
  daemon: DaemonConnection | undefined = undefined;
  queuePosition = -1;
  /** How many times it was sent to a daemon (more than once after a lost daemon, with `retry`). */
  runs = 0;
  #rare: RareTaskFields | undefined = undefined;

  constructor(
    f: Frame,
    readonly outcome: TaskOutcome,
    /** How many more times the task may be run again if its daemon is lost while running it. */
    public retriesLeft: number,
    private readonly canceller: TaskCanceller,
    crashes?: CrashBudget,
  ) {
    // The frame's id is its outcome's (a mirai's or a chunk's): kept once, there.
    if (f.id !== outcome.id) throw new Error(`task frame id ${f.id} is not its outcome's id ${outcome.id}`);
    this.#header = f.type | (f.flags << FLAGS_SHIFT);
    this.segments = f.segments;
    if (crashes !== undefined) (this.#rare = new RareTaskFields()).crashes = crashes;
  }

  get type(): FrameType {
    return (this.#header & TYPE_MASK) as FrameType;
  }

  get flags(): number {
    return (this.#header >>> FLAGS_SHIFT) & FLAGS_MASK;
  }

  get id(): number {
    return this.outcome.id;
  }

  /** Bytes counted while queued: the frame's and {@link TASK_OVERHEAD_BYTES}. */
  get bytes(): number {
    return segmentBytes(this.segments) + TASK_OVERHEAD_BYTES;
  }

  /** True once the outcome has settled (a cancelled task may still run on its daemon). Set once. */
  get settled(): boolean {
    return (this.#header & SETTLED) !== 0;
  }

  set settled(settled: true) {
    this.#header |= SETTLED;
  }

  /** With a crash budget (`crashesMax`): the crashes so far and the budget. */
  get crashes(): CrashBudget | undefined {
    return this.#rare?.crashes;
  }

  /**
   * When it was queued and last assigned, and its result's bytes: only while someone listens on
   * `mirai:task:settled` (events.ts).
   */
  get timing(): TaskTiming | undefined {
    return this.#rare?.timing;
  }

  set timing(timing: TaskTiming) {
    (this.#rare ??= new RareTaskFields()).timing = timing;
  }

  /** Settles the task with `error` now and stops it wherever it is. */
  cancel(error: MiraiError): void {
    this.canceller.cancel(this, error);
  }
}

// A task that never runs: tasks whose arguments or results are large are not kept after they
// settle (the dispatcher keeps only its last small one), so without it a full GC between two
// such tasks would free HostTask's shapes (keep-shape.ts).
keepShapeOf(new HostTask({ type: FrameType.Task, flags: 0, id: 0, segments: [] }, { id: 0, _fulfil() {}, _reject() {} }, 0, { cancel: () => false }));

/** What few tasks have: one field of every {@link HostTask}, and one shape for all of these. */
class RareTaskFields {
  crashes: CrashBudget | undefined = undefined;
  timing: TaskTiming | undefined = undefined;
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
