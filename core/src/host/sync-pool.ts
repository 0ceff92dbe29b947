/**
 * Sync mode, `daemons({ sync: true })`: tasks run in the calling process, so breakpoints in
 * task functions work. Arguments and results still go through serialization, so what
 * cannot travel fails here as it would on a daemon. Unlike a daemon, the original function
 * object runs: a variable it captured from its scope works here and fails on a daemon.
 */
import { loadModuleFunction } from '../daemon/compiler.js';
import { CancelledError, ConfigError, ConnectionResetError, isMiraiError, type MiraiError } from '../errors.js';
import { active, channels, publish } from '../events.js';
import type { LaunchHandle, LaunchSpec } from '../launcher.js';
import type { Serializer } from '../serializer.js';
import { isModuleFunction, type ModuleFunction, type TaskContext } from '../task.js';
import { fromErrorRecord, toErrorRecord } from '../wire/error-record.js';
import { decodePayload, encodePayload } from '../wire/payload.js';
import { firstStream, RandomStream, StreamSequence } from '../wire/random-stream.js';
import type { TaskParam } from '../wire/task-frame.js';
import type { ComputePool, PoolStatus, Submitted, TaskRequest } from './compute-pool.js';
import type { TaskOutcome } from './host-task.js';
import type { LogFunction } from './log.js';

export class SyncPool implements ComputePool {
  /** Reset: told once (a second reset has nothing to tell). */
  private closed = false;
  private completed = 0;
  /** Tasks running now, by their cancel: a reset settles them as it settles a daemon's. */
  private readonly running = new Set<(error: MiraiError) => void>();
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

  /**
   * Runs the task now; its outcome settles when it finishes. It publishes the task events a
   * daemon pool does (queued, assigned to daemon 0, the calling process, settled, cancelled),
   * with the bytes its arguments and result encode to; nothing is measured when nobody listens.
   */
  submit(request: TaskRequest): Submitted {
    // As a daemon pool's frame building does: the call is refused, nothing runs.
    if (typeof request.fn !== 'function' && !isModuleFunction(request.fn)) {
      throw new ConfigError(`fn must be a function or fromModule(...), got ${request.fn === null ? 'null' : typeof request.fn}`);
    }
    const controller = new AbortController();
    let settled = false;
    const cancel = (error: MiraiError): void => {
      if (!settled && active(channels.taskCancelled)) publish(channels.taskCancelled, { profile: this.name, taskId: request.id, running: true, error });
      controller.abort(error);
      settle(error);
    };
    // Whether anyone follows this task, decided once: the bytes and timings cost nothing otherwise.
    const observed = active(channels.taskQueued) || active(channels.taskAssigned) || active(channels.taskSettled) || active(channels.taskCancelled);
    const sizes = observed ? { sent: 0, received: 0, startedAt: performance.now() } : undefined;
    const settle = (error: MiraiError | undefined, value?: unknown): void => {
      if (settled) return;
      settled = true;
      this.running.delete(cancel);
      this.completed++;
      if (error === undefined) request.outcome._fulfil(value);
      else request.outcome._reject(error);
      if (sizes !== undefined && active(channels.taskSettled)) {
        const runMs = performance.now() - sizes.startedAt;
        publish(channels.taskSettled, {
          profile: this.name,
          taskId: request.id,
          daemonId: 0,
          outcome: error === undefined ? 'ok' : error.kind,
          error,
          queuedMs: 0,
          runMs,
          totalMs: runMs,
          bytesSent: sizes.sent,
          bytesReceived: sizes.received,
        });
      }
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
    const countSent = sizes === undefined ? undefined : (n: number): void => void (sizes.sent += n);
    const parts = request.params.map((p) => {
      if (!('encoded' in p)) return roundTrip(p.value, this.serializers, p.name, countSent);
      countSent?.(byteLength(p.encoded));
      return decodePayload(p.encoded, 0, this.serializers);
    });
    const copied = parts.some((p) => p instanceof Promise) ? Promise.all(parts) : parts;
    // Running from here (arguments that cannot travel threw above: nothing to settle at a reset).
    this.running.add(cancel);
    if (sizes !== undefined) {
      // Queued and taken at once: the calling process is its only "daemon", number 0.
      if (active(channels.taskQueued)) publish(channels.taskQueued, { profile: this.name, taskId: request.id, bytes: sizes.sent, queueDepth: 0 });
      if (active(channels.taskAssigned)) publish(channels.taskAssigned, { profile: this.name, taskId: request.id, daemonId: 0, queueDepth: 0 });
    }
    const countReceived = sizes === undefined ? undefined : (n: number): void => void (sizes.received += n);
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
          const out = roundTrip(value, this.serializers, 'result', countReceived);
          if (out instanceof Promise) out.then((v) => settle(undefined, v), (e: unknown) => settle(asMiraiError(e)));
          else settle(undefined, out);
        } catch (err) {
          settle(asMiraiError(err));
        }
      },
      // What the task threw travels as a daemon's error would (a cancellation stays as it is).
      (err: unknown) => settle(err instanceof CancelledError ? err : fromErrorRecord(toErrorRecord(err, () => true))),
    );
    return { cancel };
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

  /** Settles every task still running with a ConnectionResetError and aborts its `ctx.signal`, as a reset does on daemons. */
  async close(reason = `profile '${this.name}' was reset`): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Published before the running tasks settle, as a daemon pool's reset is: subscribers
    // (the dashboard, tracing) let the profile go on hearing it.
    if (active(channels.profileReset)) publish(channels.profileReset, { profile: this.name, reason });
    const error = new ConnectionResetError(reason);
    for (const cancel of [...this.running]) cancel(error);
  }

  private noDaemons(): ConfigError {
    return new ConfigError(`profile '${this.name}' is in sync mode: it has no daemons to launch`);
  }
}

/** Encodes and decodes `value`, as travelling to a daemon would; `count` learns the encoded size. */
function roundTrip(value: unknown, serializers: readonly Serializer[], root: string, count?: (bytes: number) => void): unknown {
  const segments = encodePayload(value, serializers, root);
  if (segments instanceof Promise) {
    return segments.then((s) => {
      count?.(byteLength(s));
      return decodePayload(s, 0, serializers);
    });
  }
  count?.(byteLength(segments));
  return decodePayload(segments, 0, serializers);
}

function byteLength(segments: readonly Uint8Array[]): number {
  let n = 0;
  for (const s of segments) n += s.byteLength;
  return n;
}

function asMiraiError(err: unknown): MiraiError {
  return isMiraiError(err) ? err : fromErrorRecord(toErrorRecord(err, () => true));
}
