/**
 * Ephemeral mode: `mirai()` with no daemons set runs each task in a one-off local process
 * (mirai's behaviour). The pool behind it opens on first use and launches one daemon per
 * task, each leaving after its task (`maxtasks: 1`).
 */
import type { MiraiError } from '../errors.js';
import { settledUnqueued } from '../events.js';
import { FrameType } from '../wire/frame.js';
import { buildTaskFrame } from '../wire/task-frame.js';
import type { ComputePool, Submitted, TaskRequest } from './compute-pool.js';
import { DaemonPool } from './pool.js';
import { resolveProfileOptions } from './profile-options.js';

/** How long a one-off daemon with no task waits for one before it leaves (ms). */
const ONE_OFF_IDLE_MS = 1_000;

/** Only tasks go here: there is no profile to launch for, inspect or reset. */
export class EphemeralPool implements Pick<ComputePool, 'submit'> {
  private readonly name = '(ephemeral)';
  private pool: Promise<DaemonPool> | undefined;

  constructor(private readonly url: () => string) {}

  submit(request: TaskRequest): Submitted {
    // Built now, so that arguments that cannot travel throw here, as with daemons.
    const built = buildTaskFrame(FrameType.Task, request.id, request.fn, request.params, [], { inMap: request.inMap, trace: request.trace });
    let submitted: Submitted | undefined;
    let cancelled = false;
    // Until it is queued, no one else reports the task settled (events.ts settledUnqueued): once.
    const refuse = (err: MiraiError): void => {
      if (cancelled) return;
      cancelled = true;
      request.outcome._reject(err);
      settledUnqueued(this.name, request.id, err);
    };
    this.open().then(
      (pool) => {
        if (cancelled) return;
        submitted = built instanceof Promise ? pool.submitLater(request, built) : pool.submitFrame(request, built);
        // Any one-off daemon takes the task first in the queue, not the one it was launched
        // for: a launch that fails fails the task first in line then (the one that would have
        // run on it), not this one, which may be running on another's daemon.
        pool.launch(1).catch((err: MiraiError) => pool.failFirstQueued(err));
      },
      (err: MiraiError) => refuse(err),
    );
    return {
      cancel: (error) => {
        if (submitted !== undefined) return submitted.cancel(error);
        refuse(error);
      },
    };
  }

  private open(): Promise<DaemonPool> {
    // No repair: a one-off daemon killed by its task is not replaced (no task waits for it).
    // A daemon whose task was cancelled or timed out before it connected finds nothing to run:
    // it leaves after ONE_OFF_IDLE_MS instead of idling for the life of the host.
    this.pool ??= DaemonPool.open(resolveProfileOptions(this.name, { maxtasks: 1, idletime: ONE_OFF_IDLE_MS, repair: false }, this.url));
    return this.pool;
  }
}
