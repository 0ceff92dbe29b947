/**
 * `mirai()`: send a function and its explicit arguments to a daemon; get a {@link Mirai}.
 */
import type { HostTask } from '../host/dispatcher.js';
import { CancelledError, ConfigError, TimeoutError, type MiraiError } from '../errors.js';
import { FrameType, type Frame } from '../wire/frame.js';
import { localLauncher } from '../launchers/local.js';
import { Mirai, nextTaskId } from './mirai.js';
import { defaultLog, Profile } from '../host/pool.js';
import { currentProfileName, profiles } from './profile-scope.js';
import { SyncProfile } from '../host/sync-pool.js';
import type { ModuleFunction, TaskContext } from '../wire/function-source.js';
import { buildTaskFrame, type TaskParam } from '../wire/task-frame.js';
import { localUrl } from './urls.js';

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
  const profile = profiles.get(name);
  return submitTask<Awaited<R>>(fn as Function | ModuleFunction, [{ value: args, name: 'args' }], options, name, profile);
}

/** @internal Shared by mirai() and miraiMap(). */
export function submitTask<T>(
  fn: Function | ModuleFunction,
  params: readonly TaskParam[],
  options: MiraiOptions,
  name: string,
  profile: Profile | SyncProfile | undefined,
): Mirai<T> {
  checkOptions(options);
  const id = nextTaskId();
  const mirai = new Mirai<T>(id, name);
  if (options.signal?.aborted) {
    mirai._reject(new CancelledError(options.signal.reason));
    return mirai;
  }
  if (profile instanceof SyncProfile) {
    const controller = new AbortController();
    profile.run(mirai as Mirai<unknown>, fn, params, controller.signal);
    watch(mirai, options, (error) => {
      controller.abort(error);
      mirai._reject(error);
      return true;
    });
    return mirai;
  }
  const target = profile ?? ephemeralProfile();
  const serializers = profile?.config.serializers ?? [];
  const built = buildTaskFrame(FrameType.Task, id, fn, params, serializers);
  const submit = (taskFrame: Frame): void => {
    const task: HostTask = {
      id,
      frame: taskFrame,
      mirai: mirai as Mirai<unknown>,
      bytes: frameBytes(taskFrame),
      daemon: undefined,
      settled: false,
      retriesLeft: options.retry ?? 0,
    };
    if (target instanceof Promise) {
      target.then(
        (p) => {
          if (mirai.unresolved) {
            p.submit(task);
            p.launch(1).catch((err: MiraiError) => p.dispatcher.cancel(task, err));
          }
        },
        (err: MiraiError) => mirai._reject(err),
      );
    } else target.submit(task); // may throw QueueFullError: nothing is queued then
    watch(mirai, options, (error) =>
      target instanceof Promise ? target.then((p) => p.dispatcher.cancel(task, error)) : target.dispatcher.cancel(task, error),
    );
  };
  if (built instanceof Promise) {
    // An async plugin serializer: the mirai settles with its error, if any.
    built.then(submit).catch((err: MiraiError) => mirai._reject(err));
  } else submit(built);
  return mirai;
}

function frameBytes(f: Frame): number {
  let n = 0;
  for (const s of f.segments) n += s.byteLength;
  return n;
}

/** Wires `timeout` and `signal` (and `m.cancel()`) to `cancel`; unwired once settled. */
function watch(mirai: Mirai<unknown>, options: MiraiOptions, cancel: (error: MiraiError) => boolean | Promise<boolean>): void {
  const { timeout, signal } = options;
  mirai._setCanceller((reason) => {
    void cancel(new CancelledError(reason));
    return true;
  });
  let timer: NodeJS.Timeout | undefined;
  if (timeout !== undefined) timer = setTimeout(() => void cancel(new TimeoutError(timeout)), timeout);
  const onAbort = (): void => void cancel(new CancelledError(signal?.reason));
  signal?.addEventListener('abort', onAbort, { once: true });
  if (timer !== undefined || signal !== undefined) {
    mirai._onSettled(() => {
      if (timer !== undefined) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    });
  }
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

// ---------------------------------------------------------------------------
// Ephemeral mode: no daemons set, each task runs in a one-off process.

let ephemeral: Promise<Profile> | undefined;

function ephemeralProfile(): Promise<Profile> {
  ephemeral ??= Profile.open({
    name: '(ephemeral)',
    url: localUrl(),
    dispatcher: true,
    daemonOptions: { maxtasks: 1 },
    serializers: [],
    transports: [],
    launcher: localLauncher(),
    log: defaultLog,
    launchTimeoutMs: 30_000,
    handshakeTimeoutMs: 10_000,
    cancelGraceMs: 200,
    repair: false,
    maxQueued: Infinity,
    maxQueuedBytes: Infinity,
  });
  return ephemeral;
}
