/**
 * Options shared by every HTTP helper, and their validation.
 */
import { ConfigError } from '@mirai-ts/core';

/** Options of {@link miraiHandler}, {@link expressHandler} and {@link fastifyHandler}. */
export interface OffloadOptions {
  /** The compute profile whose daemons run the work (default: the current profile). */
  readonly profile?: string;
  /** Milliseconds until the task is cancelled and the client gets 504 (default: none). */
  readonly timeout?: number;
  /** Times to run the task again when its daemon is lost (default 0; see `mirai()`'s `retry`). */
  readonly retry?: number;
  /** Seconds sent in `Retry-After` with a 503 (queue full, no daemons). Default 1. */
  readonly retryAfter?: number;
  /**
   * Send the message of task errors (500) to clients. Default false: a task's error message
   * may hold internals; the client gets `{ error: 'TaskError' }` and the server keeps the rest.
   */
  readonly exposeErrors?: boolean;
  /** Called with every error answered with a 5xx status, e.g. to log it. */
  readonly onError?: (error: unknown) => void;
}

/** Options after validation, with defaults applied. */
export interface CheckedOptions {
  readonly profile: string | undefined;
  readonly timeout: number | undefined;
  readonly retry: number;
  readonly retryAfter: number;
  readonly exposeErrors: boolean;
  readonly onError: ((error: unknown) => void) | undefined;
}

const KEYS = ['profile', 'timeout', 'retry', 'retryAfter', 'exposeErrors', 'onError'] as const;

/** Validates `options`; throws a ConfigError naming the option and what it expects. */
export function checkOptions(options: OffloadOptions | undefined): CheckedOptions {
  if (options === undefined) options = {};
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new ConfigError(`@mirai-ts/http: options must be an object, got ${describe(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!(KEYS as readonly string[]).includes(key)) {
      const near = nearest(key, KEYS);
      throw new ConfigError(
        `@mirai-ts/http: unknown option '${key}'${near ? ` (did you mean '${near}'?)` : ''}; known: ${KEYS.join(', ')}`,
      );
    }
  }
  const { profile, timeout, retry = 0, retryAfter = 1, exposeErrors = false, onError } = options;
  if (profile !== undefined && (typeof profile !== 'string' || profile === '')) {
    throw new ConfigError(`@mirai-ts/http: 'profile' must be a non-empty string, got ${describe(profile)}`);
  }
  if (timeout !== undefined && !(typeof timeout === 'number' && Number.isFinite(timeout) && timeout > 0)) {
    throw new ConfigError(`@mirai-ts/http: 'timeout' must be a positive number of milliseconds, got ${describe(timeout)}`);
  }
  if (!(Number.isInteger(retry) && retry >= 0)) {
    throw new ConfigError(`@mirai-ts/http: 'retry' must be a whole number ≥ 0, got ${describe(retry)}`);
  }
  if (!(Number.isInteger(retryAfter) && retryAfter >= 0)) {
    throw new ConfigError(`@mirai-ts/http: 'retryAfter' must be a whole number of seconds ≥ 0, got ${describe(retryAfter)}`);
  }
  if (typeof exposeErrors !== 'boolean') {
    throw new ConfigError(`@mirai-ts/http: 'exposeErrors' must be a boolean, got ${describe(exposeErrors)}`);
  }
  if (onError !== undefined && typeof onError !== 'function') {
    throw new ConfigError(`@mirai-ts/http: 'onError' must be a function, got ${describe(onError)}`);
  }
  return { profile, timeout, retry, retryAfter, exposeErrors, onError };
}

function describe(value: unknown): string {
  if (typeof value === 'string') return `'${value}' (a string)`;
  if (value === null || typeof value !== 'object') return `${String(value)} (${value === null ? 'null' : typeof value})`;
  return Array.isArray(value) ? 'an array' : 'an object';
}

/** The known key within edit distance 2 of `key`, if any: cheap "did you mean". */
function nearest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of known) {
    const d = distance(key.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best;
}

function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = row;
  }
  return previous[b.length]!;
}

/** Checks a helper's task (a function or `fromModule()`) and its argument maker. */
export function checkHandler(fn: unknown, argsOf: unknown): void {
  if (typeof fn !== 'function' && (typeof fn !== 'object' || fn === null)) {
    throw new ConfigError(`@mirai-ts/http: the task must be a function or fromModule(...), got ${describe(fn)}`);
  }
  if (typeof argsOf !== 'function') {
    throw new ConfigError(`@mirai-ts/http: argsOf must be a function (request) => args, got ${describe(argsOf)}`);
  }
}
