/**
 * Sync mode, `daemons({ sync: true })`: tasks run in the calling process, so breakpoints in
 * task functions work. Arguments and results still go through serialization, so what
 * cannot travel fails here as it would on a daemon. Unlike a daemon, the original function
 * object runs: a variable it captured from its scope works here and fails on a daemon.
 */
import { loadModuleFunction } from '../daemon/compiler.js';
import { CancelledError, ConfigError, isMiraiError, type MiraiError } from '../errors.js';
import type { LaunchHandle, LaunchSpec } from '../launcher.js';
import type { Serializer } from '../serializer.js';
import { isModuleFunction, type ModuleFunction, type TaskContext } from '../task.js';
import { fromErrorRecord, toErrorRecord } from '../wire/error-record.js';
import { decodePayload, encodePayload } from '../wire/payload.js';
import { firstStream, RandomStream, StreamSequence } from '../wire/random-stream.js';
import type { TaskParam } from '../wire/task-frame.js';
import type { ComputePool, PoolStatus, Submitted, TaskRequest } from './compute-pool.js';
import type { TaskOutcome } from './host-task.js';
import type { LogFunction } from './profile-options.js';

export class SyncPool implements ComputePool {
  private completed = 0;
  /** With a seed, one stream per task in submission order, as on daemons. */
  private readonly taskStreams: StreamSequence | undefined;
  /** Without, the process's own stream. */
  private readonly stream = new RandomStream(firstStream());

  constructor(
    readonly name: string,
    readonly serializers: readonly Serializer[],
    readonly log: LogFunction,
    seed?: number,
  ) {
    this.taskStreams = seed === undefined ? undefined : new StreamSequence(firstStream(seed));
  }

  /** Runs the task now; its outcome settles when it finishes. */
  submit(request: TaskRequest): Submitted {
    const controller = new AbortController();
    let settled = false;
    const settle = (error: MiraiError | undefined, value?: unknown): void => {
      if (settled) return;
      settled = true;
      this.completed++;
      if (error === undefined) request.outcome._fulfil(value);
      else request.outcome._reject(error);
    };
    const own = request.everywhere === true ? undefined : this.taskStreams?.next();
    const stream = own === undefined ? this.stream : new RandomStream(own);
    const ctx: TaskContext = {
      signal: controller.signal,
      taskId: request.id,
      daemonId: 0,
      random: () => stream.random(),
      randomInt: (min, max) => stream.randomInt(min, max),
      randomNormal: (mean, sd) => stream.randomNormal(mean, sd),
    };
    // Arguments are copied through serialization now, so what cannot travel throws here,
    // synchronously, as it would with daemons.
    const parts = request.params.map((p) =>
      'encoded' in p ? decodePayload(p.encoded, 0, this.serializers) : roundTrip(p.value, this.serializers, p.name),
    );
    const copied = parts.some((p) => p instanceof Promise) ? Promise.all(parts) : parts;
    const fn = request.fn;
    const call = async (p: unknown): Promise<unknown> => {
      const target = isModuleFunction(fn) ? await loadModuleFunction(fn) : (fn as (...a: unknown[]) => unknown);
      if (own === undefined) return target(...(p as unknown[]), ctx);
      // This process runs other code too: Math.random draws from the task's stream only
      // while the task runs synchronously (until its first await).
      const native = Math.random;
      Math.random = ctx.random;
      try {
        return target(...(p as unknown[]), ctx);
      } finally {
        Math.random = native;
      }
    };
    const outcome = copied instanceof Promise ? copied.then(call) : call(copied);
    outcome.then(
      (value) => {
        try {
          const out = roundTrip(value, this.serializers, 'result');
          if (out instanceof Promise) out.then((v) => settle(undefined, v), (e: unknown) => settle(asMiraiError(e)));
          else settle(undefined, out);
        } catch (err) {
          settle(asMiraiError(err));
        }
      },
      // What the task threw travels as a daemon's error would (a cancellation stays as it is).
      (err: unknown) => settle(err instanceof CancelledError ? err : fromErrorRecord(toErrorRecord(err, () => true))),
    );
    return {
      cancel: (error) => {
        controller.abort(error);
        settle(error);
      },
    };
  }

  /** One process: run it here, once. */
  async everywhere<T extends TaskOutcome>(fn: Function | ModuleFunction, params: readonly TaskParam[], makeOutcome: () => T, min = 0): Promise<T[]> {
    if (min > 1) throw new ConfigError(`profile '${this.name}' is in sync mode, one process: everywhere() min must be at most 1, got ${min}`);
    const outcome = makeOutcome();
    this.submit({ id: outcome.id, fn, params, outcome, retry: 0, everywhere: true });
    return [outcome];
  }

  async room(): Promise<void> {}

  launch(): Promise<LaunchHandle[]> {
    return Promise.reject(this.noDaemons());
  }

  launchSpec(): LaunchSpec {
    throw this.noDaemons();
  }

  status(): PoolStatus {
    return { url: 'sync://', dispatcher: false, launches: { pending: 0, failures: 0, lastError: undefined, retryAt: undefined }, connections: 0, cumulative: 0, awaiting: 0, executing: 0, completed: this.completed, rejected: 0, queuedBytes: 0, peakQueuedBytes: 0, maxQueued: Infinity, maxQueuedBytes: Infinity, daemons: [] };
  }

  async close(): Promise<void> {}

  private noDaemons(): ConfigError {
    return new ConfigError(`profile '${this.name}' is in sync mode: it has no daemons to launch`);
  }
}

function roundTrip(value: unknown, serializers: readonly Serializer[], root: string): unknown {
  const segments = encodePayload(value, serializers, root);
  if (segments instanceof Promise) return segments.then((s) => decodePayload(s, 0, serializers));
  return decodePayload(segments, 0, serializers);
}

function asMiraiError(err: unknown): MiraiError {
  return isMiraiError(err) ? err : fromErrorRecord(toErrorRecord(err, () => true));
}
