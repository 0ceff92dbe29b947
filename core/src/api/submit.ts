/**
 * `mirai()`: send a function and its explicit arguments to a daemon; get a {@link Mirai}.
 */
import { CancelledError, ConfigError, TimeoutError, type CrashRecord } from '../errors.js';
import { settledUnqueued } from '../events.js';
import { checkOptions, is, type OptionRules } from '../options-check.js';
import type { ComputePool, Submitted, TaskRequest } from '../host/compute-pool.js';
import type { CrashBudget } from '../host/host-task.js';
import { EphemeralPool } from '../host/ephemeral-pool.js';
import { pools } from '../host/registry.js';
import type { ModuleFunction, TaskContext } from '../task.js';
import type { ArgsThenOptions } from './sendable.js';
import type { TaskParam } from '../wire/task-frame.js';
import { Mirai, nextTaskId } from './mirai.js';
import { currentPool, currentProfileName, DEFAULT_PROFILE } from './profile-scope.js';
import { localUrl } from './urls.js';
import { traceContextFor } from '../trace-context.js';
import { whenAborted } from '../util/abort-fanout.js';

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
  /**
   * A crash budget: after this many daemons died running the task (out of memory, a
   * segfault) it fails with a CrashLimitError whose `crashes` give the history (daemon, pid,
   * time), or goes to `escalate`. The task is run again after each crash before that (`retry`
   * defaults to `crashesMax - 1`; a smaller `retry` ends it sooner).
   */
  readonly crashesMax?: number;
  /**
   * A profile (more memory, GPUs) the task is sent to once it has crashed `crashesMax`
   * daemons (default 1 with `escalate`), where it gets a fresh budget; it must be set when
   * the task is submitted.
   */
  readonly escalate?: string;
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
 *
 * Types: `args` is required when `fn` needs it (`mirai((n: number) => n)` does not compile),
 * and args that TypeScript can see hold a function or a symbol do not compile either.
 */
export function mirai<A, R>(fn: TaskFunction<A, R> | ModuleFunction, ...argsThenOptions: ArgsThenOptions<A, MiraiOptions>): Mirai<Awaited<R>>;
export function mirai(fn: TaskFunction<unknown, unknown> | ModuleFunction, args?: unknown, options: MiraiOptions = NO_OPTIONS): Mirai<unknown> {
  checkOptions('mirai()', options, MIRAI_OPTION_RULES);
  const name = currentProfileName(options.profile);
  // With no daemons set, a task runs in a one-off process; a profile named but not set is a mistake.
  const pool = pools.get(name) ?? (name === DEFAULT_PROFILE ? ephemeral : currentPool(name));
  return submitTask<unknown>(fn as Function | ModuleFunction, [{ value: args, name: 'args' }], options, name, pool);
}

/** The options of a call that gives none: one shared object, not a fresh `{}` per task. */
const NO_OPTIONS: MiraiOptions = Object.freeze({});

/** With no daemons set, each task runs in a one-off process. */
const ephemeral = new EphemeralPool(() => localUrl());

/** Shared by mirai() and miraiMap(): submits a task to `pool` and wires its cancellation. */
export function submitTask<T>(
  fn: Function | ModuleFunction,
  params: readonly TaskParam[],
  options: MiraiOptions,
  name: string,
  pool: Pick<ComputePool, 'submit'>,
  inMap = false,
  mapId?: number,
): Mirai<T> {
  checkEscalate(options, name);
  const id = nextTaskId();
  const mirai = new Mirai<T>(id, name);
  if (options.signal?.aborted) {
    const error = new CancelledError(options.signal.reason);
    mirai._reject(error);
    settledUnqueued(name, id, error);
    return mirai;
  }
  // Asked here, in the caller's async context, where a tracing adapter finds the active span.
  const trace = traceContextFor(name, id, mapId);
  const outcome = mirai as Mirai<unknown>;
  let submitted: Submitted;
  try {
    submitted =
      options.crashesMax === undefined && options.escalate === undefined
        ? pool.submit({ id, fn, params, outcome, inMap, trace, retry: options.retry ?? 0 })
        : submitWithBudget(pool, { id, fn, params, outcome, inMap, trace, retry: 0 }, options);
  } catch (err) {
    // Unserializable arguments, a full queue: nothing was queued, and the caller gets the error.
    settledUnqueued(name, id, err);
    throw err;
  }
  mirai._setCanceller(submitted);
  if (options.timeout !== undefined || options.signal !== undefined) watch(mirai as Mirai<unknown>, options, submitted);
  return mirai;
}

/** Submits a task with a crash budget; cancelling follows it to the profile it is escalated to. */
function submitWithBudget(pool: Pick<ComputePool, 'submit'>, request: TaskRequest, options: MiraiOptions): Submitted {
  const handle = {
    current: undefined as Submitted | undefined,
    cancel(error: Parameters<Submitted['cancel']>[0]): void {
      handle.current?.cancel(error);
    },
  };
  handle.current = pool.submit(withBudget(request, options, [], (next) => (handle.current = next)));
  return handle;
}

/**
 * The request with its `retry` and crash budget. With `escalate`, a spent budget resubmits it
 * to that profile (once), with the history so far; `handOver` learns the new submission.
 */
function withBudget(request: TaskRequest, options: MiraiOptions, history: CrashRecord[], handOver: (s: Submitted) => void): TaskRequest {
  const { crashesMax, escalate } = options;
  const budget = crashesMax ?? (escalate !== undefined ? 1 : undefined);
  if (budget === undefined) return { ...request, retry: options.retry ?? 0 };
  const to = escalate === undefined ? undefined : pools.get(escalate);
  const crashes: CrashBudget = {
    history,
    left: budget,
    ...(to === undefined
      ? {}
      : {
          escalate: (past: readonly CrashRecord[]) => {
            // The target may have been reset since: then the task fails with its history.
            if (pools.get(escalate!) !== to) return false;
            try {
              handOver(to.submit(withBudget(request, { ...options, escalate: undefined }, [...past], handOver)));
              return true;
            } catch {
              return false;
            }
          },
        }),
  };
  return { ...request, retry: options.retry ?? (escalate !== undefined ? budget : budget - 1), crashes };
}

/** Wires `timeout` and `signal` to the task's cancellation; unwired once it settles. */
function watch(mirai: Mirai<unknown>, options: MiraiOptions, submitted: Submitted): void {
  const { timeout, signal } = options;
  let timer: NodeJS.Timeout | undefined;
  if (timeout !== undefined) timer = setTimeout(() => submitted.cancel(new TimeoutError(timeout)), timeout);
  const unwatch = signal === undefined ? undefined : whenAborted(signal, () => submitted.cancel(new CancelledError(signal.reason)));
  mirai._onSettled(() => {
    if (timer !== undefined) clearTimeout(timer);
    unwatch?.();
  });
}

/** `escalate` must name another profile that is set. */
function checkEscalate(options: MiraiOptions, name: string): void {
  const { escalate } = options;
  if (escalate === undefined) return;
  if (escalate === name) throw new ConfigError(`escalate: '${escalate}' is the task's own profile; name a bigger one`);
  if (!pools.has(escalate)) {
    const known = [...pools.keys()].filter((p) => p !== name);
    throw new ConfigError(`escalate: no daemons are set for profile '${escalate}'${known.length > 0 ? ` (profiles: ${known.join(', ')})` : ''}; start them with daemons(n, { profile: '${escalate}' }) first`);
  }
}

/** What each option of `mirai()` may be (`miraiMap()` adds its own). */
export const MIRAI_OPTION_RULES: OptionRules = {
  timeout: is.ms,
  signal: is.signal,
  profile: is.string,
  retry: is.whole(0),
  crashesMax: is.whole(1),
  escalate: is.string,
};
