/**
 * `mirai()`: send a function and its explicit arguments to a daemon; get a {@link Mirai}.
 */
import { CancelledError, ConfigError, TimeoutError } from '../errors.js';
import type { ComputePool, Submitted } from '../host/compute-pool.js';
import { EphemeralPool } from '../host/ephemeral-pool.js';
import { SyncPool } from '../host/sync-pool.js';
import { pools } from '../host/registry.js';
import type { ModuleFunction, TaskContext } from '../task.js';
import type { TaskParam } from '../wire/task-frame.js';
import { Mirai, nextTaskId } from './mirai.js';
import { currentPool, currentProfileName, DEFAULT_PROFILE } from './profile-scope.js';
import { localUrl } from './urls.js';
import { traceContextFor } from '../trace-context.js';

/** Options of {@link mirai}. */
export interface MiraiOptions {
  /** Milliseconds until the task is cancelled and the mirai settles with a TimeoutError (5). */
  readonly timeout?: number;
  /** Cancels the task when aborted; the mirai settles with a CancelledError (20). */
  readonly signal?: AbortSignal;
  /** The compute profile (default: the current one, normally `'default'`). */
  readonly profile?: string;
  /**
   * Run the task again, up to this many times, when the daemon running it is lost (it died,
   * was killed, or its machine went away) instead of settling with a connection reset (19).
   * Default 0: a task may have side effects, so running it twice is the caller's choice.
   */
  readonly retry?: number;
}

/** A task function: its arguments object, then a {@link TaskContext}. */
export type TaskFunction<A, R> = (args: A, context: TaskContext) => R;

/**
 * Runs `fn(args)` on a daemon of the profile and returns at once with a {@link Mirai}.
 *
 * `fn` travels as source text: it sees only `args`, globals and what it imports itself
 * (`await import('node:fs')`, or packages resolvable from this process's working directory).
 * Pass `fromModule(path, name)` instead for code that lives in files.
 *
 * Throws a SerializationError, naming the path, when `args` holds something that cannot be
 * sent (a function, a symbol, a socket): nothing is sent then.
 * With no daemons set, the task runs in a one-off process.
 */
export function mirai<A, R>(
  fn: TaskFunction<A, R> | ModuleFunction,
  args?: A,
  options: MiraiOptions = {},
): Mirai<Awaited<R>> {
  const name = currentProfileName(options.profile);
  // With no daemons set, a task runs in a one-off process; a profile named but not set is a mistake.
  const pool = pools.get(name) ?? (name === DEFAULT_PROFILE ? ephemeral : currentPool(name));
  return submitTask<Awaited<R>>(fn as Function | ModuleFunction, [{ value: args, name: 'args' }], options, name, pool);
}

/** With no daemons set, each task runs in a one-off process. */
const ephemeral = new EphemeralPool(() => localUrl());

/** Shared by mirai() and miraiMap(): submits a task to `pool` and wires its cancellation. */
export function submitTask<T>(
  fn: Function | ModuleFunction,
  params: readonly TaskParam[],
  options: MiraiOptions,
  name: string,
  pool: Pick<ComputePool, 'submit'>,
  mapId?: number,
): Mirai<T> {
  checkOptions(options);
  const id = nextTaskId();
  const mirai = new Mirai<T>(id, name);
  if (options.signal?.aborted) {
    mirai._reject(new CancelledError(options.signal.reason));
    return mirai;
  }
  // May throw (unserializable arguments, a full queue): nothing is queued then.
  // Asked here, in the caller's async context, where a tracing adapter finds the active span.
  // A sync profile runs tasks in this process and publishes no task events: no context to send.
  const trace = pool instanceof SyncPool ? undefined : traceContextFor({ profile: name, taskId: id, mapId });
  const request = { id, fn, params, outcome: mirai as Mirai<unknown>, retry: options.retry ?? 0 };
  const submitted = pool.submit(trace === undefined ? request : { ...request, trace });
  mirai._setCanceller(submitted);
  if (options.timeout !== undefined || options.signal !== undefined) watch(mirai as Mirai<unknown>, options, submitted);
  return mirai;
}

/** Wires `timeout` and `signal` to the task's cancellation; unwired once it settles. */
function watch(mirai: Mirai<unknown>, options: MiraiOptions, submitted: Submitted): void {
  const { timeout, signal } = options;
  let timer: NodeJS.Timeout | undefined;
  if (timeout !== undefined) timer = setTimeout(() => submitted.cancel(new TimeoutError(timeout)), timeout);
  const onAbort = (): void => submitted.cancel(new CancelledError(signal?.reason));
  signal?.addEventListener('abort', onAbort, { once: true });
  mirai._onSettled(() => {
    if (timer !== undefined) clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  });
}

function checkOptions(options: MiraiOptions): void {
  const { timeout, signal } = options;
  if (timeout !== undefined && !(typeof timeout === 'number' && timeout >= 0 && Number.isFinite(timeout))) {
    throw new ConfigError(`timeout must be a number of milliseconds ≥ 0, got ${String(timeout)}`);
  }
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new ConfigError('signal must be an AbortSignal');
  const { retry } = options;
  if (retry !== undefined && !(Number.isInteger(retry) && retry >= 0)) {
    throw new ConfigError(`retry must be a whole number ≥ 0, got ${String(retry)}`);
  }
}
