/**
 * Errors: one base class, {@link MiraiError}, and one subclass per failure mode.
 *
 * A mirai never loses its outcome: it settles with a value or with one of these errors.
 * Lifecycle outcomes carry mirai's numeric `errorValue` (5 timeout, 19 connection reset,
 * 20 cancelled) so code ported from R keeps its meaning.
 */

const BRAND = Symbol.for('mirai-ts.MiraiError');

/** mirai's numeric error values (NNG error codes), as `err.errorValue`. */
export const ErrorValue = {
  /** The task's `timeout` expired; the task was cancelled as well. */
  Timeout: 5,
  /** The daemon running the task died or disconnected, or the profile was reset. */
  ConnectionReset: 19,
  /** The task was cancelled: `stopMirai()` or an aborted `signal`. */
  Cancelled: 20,
} as const;
export type ErrorValue = (typeof ErrorValue)[keyof typeof ErrorValue];

/** What went wrong, as a string union: `err.kind`. */
export type MiraiErrorKind =
  | 'task' // the function threw on the daemon
  | 'timeout'
  | 'connection-reset'
  | 'cancelled'
  | 'serialize' // a value could not be encoded (nothing was sent)
  | 'deserialize' // bytes could not be decoded
  | 'no-daemons'
  | 'launch'
  | 'protocol'
  | 'auth'
  | 'config'
  | 'plugin'
  | 'queue-full'
  | 'result-too-large'; // the result was over the profile's `maxResultBytes` (neither sent nor kept)

/**
 * Base class of every error mirai-ts produces or delivers.
 *
 * `instanceof MiraiError` works across duplicate copies of the package (brand check).
 * `kind` says what failed; `errorValue` holds mirai's number where mirai has one.
 */
export class MiraiError extends Error {
  /** What failed. */
  readonly kind: MiraiErrorKind;
  /** mirai's numeric error value: 5 timeout, 19 connection reset, 20 cancelled. */
  readonly errorValue: ErrorValue | undefined;
  /** Whether running the same task again may succeed (daemon death, timeouts). */
  readonly retryable: boolean;

  constructor(
    kind: MiraiErrorKind,
    message: string,
    options: { cause?: unknown; errorValue?: ErrorValue; retryable?: boolean } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.kind = kind;
    this.errorValue = options.errorValue;
    this.retryable = options.retryable ?? false;
    Object.defineProperty(this, BRAND, { value: true });
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    if (this === MiraiError) return isMiraiError(value);
    return Function.prototype[Symbol.hasInstance].call(this, value);
  }
}
Object.defineProperty(MiraiError.prototype, 'name', { value: 'MiraiError', configurable: true, writable: true });

function named<T extends abstract new (...args: never[]) => MiraiError>(ctor: T, name: string): T {
  Object.defineProperty(ctor.prototype, 'name', { value: name, configurable: true, writable: true });
  return ctor;
}

/** The task did not finish within its `timeout` (errorValue 5). */
export class TimeoutError extends MiraiError {
  constructor(readonly timeoutMs: number) {
    super('timeout', `5 | Timed out: the task did not finish within ${timeoutMs} ms`, {
      errorValue: ErrorValue.Timeout,
      retryable: true,
    });
  }
}
named(TimeoutError, 'TimeoutError');

/** The task was cancelled before it finished (errorValue 20). */
export class CancelledError extends MiraiError {
  constructor(reason?: unknown) {
    const detail = reason === undefined ? '' : `: ${describeReason(reason)}`;
    super('cancelled', `20 | Operation canceled${detail}`, {
      errorValue: ErrorValue.Cancelled,
      cause: reason,
    });
  }
}
named(CancelledError, 'CancelledError');

/** The daemon died or disconnected mid-task, or the profile was reset (errorValue 19). */
export class ConnectionResetError extends MiraiError {
  constructor(detail: string) {
    super('connection-reset', `19 | Connection reset: ${detail}`, {
      errorValue: ErrorValue.ConnectionReset,
      retryable: true,
    });
  }
}
named(ConnectionResetError, 'ConnectionResetError');

/** One daemon crash under a task: which daemon, its process, and when (ms since the epoch). */
export interface CrashRecord {
  readonly profile: string;
  readonly daemon: number;
  readonly pid: number | undefined;
  readonly at: number;
}

/**
 * A task used up its crash budget (`crashesMax`): the daemons running it died that many times
 * (out of memory, a segfault). `crashes` holds the history, oldest first (errorValue 19).
 */
export class CrashLimitError extends ConnectionResetError {
  constructor(
    taskId: number,
    readonly crashes: readonly CrashRecord[],
  ) {
    super(
      `task ${taskId} crashed its daemon ${crashes.length} time(s): ` +
        crashes.map((c) => `daemon ${c.daemon}${c.pid === undefined ? '' : ` (pid ${c.pid})`} of profile '${c.profile}' at ${new Date(c.at).toISOString()}`).join('; '),
    );
  }
}
named(CrashLimitError, 'CrashLimitError');

/** A value could not be serialized; `path` says where it sits (`args.db.handle`). */
export class SerializationError extends MiraiError {
  constructor(
    message: string,
    readonly path: string,
    cause?: unknown,
  ) {
    super('serialize', message, { cause });
  }
}
named(SerializationError, 'SerializationError');

/** Bytes could not be turned back into a value. */
export class DeserializationError extends MiraiError {
  constructor(message: string, cause?: unknown) {
    super('deserialize', message, { cause });
  }
}
named(DeserializationError, 'DeserializationError');

/** No daemons are set for a profile that needs them. */
export class NoDaemonsError extends MiraiError {
  constructor(readonly profile: string) {
    super(
      'no-daemons',
      `No daemons set for profile '${profile}'. Start some first, e.g. await daemons(4${
        profile === 'default' ? '' : `, { profile: '${profile}' }`
      }).`,
    );
  }
}
named(NoDaemonsError, 'NoDaemonsError');

/** Daemons could not be started or did not connect. */
export class LaunchError extends MiraiError {
  constructor(message: string, cause?: unknown) {
    super('launch', message, { cause });
  }
}
named(LaunchError, 'LaunchError');

/** A peer broke the wire protocol (garbage, wrong version, oversized frame). */
export class ProtocolError extends MiraiError {
  constructor(message: string) {
    super('protocol', message);
  }
}
named(ProtocolError, 'ProtocolError');

/** A peer failed to prove the profile's secret (or the host failed to prove it to a daemon). */
export class AuthError extends MiraiError {
  constructor(message: string) {
    super('auth', message);
  }
}
named(AuthError, 'AuthError');

/** The profile's queue is at its limit (`maxQueued`, `maxQueuedBytes`): nothing was queued. */
export class QueueFullError extends MiraiError {
  constructor(message: string) {
    super('queue-full', message, { retryable: true });
  }
}
named(QueueFullError, 'QueueFullError');

/**
 * A task's result was larger than its profile's `maxResultBytes`. The daemon sent this error
 * instead of the result (its message ends "it was not sent"), or, from a daemon that sent the
 * result anyway, the host read past its bytes without keeping them ("it was not read"). Either
 * way the daemon stays connected and runs the next task.
 */
export class ResultTooLargeError extends MiraiError {
  constructor(
    message: string,
    /** Bytes of the encoded result (its frame's segments). */
    readonly bytes: number,
    /** The profile's `maxResultBytes`. */
    readonly limit: number,
  ) {
    super('result-too-large', message);
  }
}
named(ResultTooLargeError, 'ResultTooLargeError');

/** Invalid options or arguments given to the API. */
export class ConfigError extends MiraiError {
  constructor(message: string, cause?: unknown) {
    super('config', message, { cause });
  }
}
named(ConfigError, 'ConfigError');

/**
 * The task's function threw on the daemon. The remote error's `name`, `message`, `stack`,
 * `cause` and own properties (such as `code`) are restored on this object.
 */
export class TaskError extends MiraiError {
  /** Constructor names along the remote error's prototype chain, e.g. `['RangeError', 'Error']`. */
  readonly remoteClass: string[];
  constructor(message: string, remoteClass: string[], cause?: unknown) {
    super('task', message, { cause });
    this.remoteClass = remoteClass;
  }
}
named(TaskError, 'TaskError');

/** True for any error produced or delivered by mirai-ts, including across package copies. */
export function isMiraiError(value: unknown): value is MiraiError {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
}

/**
 * True if `value` is an error outcome of a mirai: a task error, a timeout, a cancellation,
 * a connection reset, ... The one check to make before trusting `m.data`.
 */
export function isErrorValue(value: unknown): value is MiraiError {
  return isMiraiError(value);
}

function describeReason(reason: unknown): string {
  if (reason instanceof Error) return reason.message;
  if (typeof reason === 'string') return reason;
  try {
    return String(reason);
  } catch {
    return 'cancelled';
  }
}
