/**
 * Options shared by every HTTP helper, and their validation.
 */
import { ConfigError } from '@mirai-ts/core';
import { checkOptions as checkRules, is, isModuleFunction, show, type OptionRules } from '@mirai-ts/core/plugin';

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

/** What each option may be: checked by core's `checkOptions`, so messages read like core's own. */
const RULES: OptionRules = {
  profile: is.string,
  timeout: is.timeout,
  retry: is.whole(0),
  retryAfter: (v) => (is.whole(0)(v) === undefined ? undefined : 'a whole number of seconds ≥ 0'),
  exposeErrors: is.boolean,
  onError: is.function,
};

/** What {@link checkOptions} returned: taken as they are by `offload()` and `errorResponse()`. */
const CHECKED = new WeakSet<object>();

/**
 * Validates `options`; throws a ConfigError naming the option and what it expects. The result
 * is frozen, and `offload()` and `errorResponse()` take it without checking it again.
 */
export function checkOptions(options: OffloadOptions | undefined): CheckedOptions {
  checkRules('@mirai-ts/http', options, RULES);
  const { profile, timeout, retry = 0, retryAfter = 1, exposeErrors = false, onError } = options ?? {};
  const checked = Object.freeze({ profile, timeout, retry, retryAfter, exposeErrors, onError });
  CHECKED.add(checked);
  return checked;
}

/** The options an error response reads: `options` if {@link checkOptions} made them, else checked now. */
export function responseOptions(options: Pick<OffloadOptions, 'retryAfter' | 'exposeErrors'> | undefined): Pick<CheckedOptions, 'retryAfter' | 'exposeErrors'> {
  if (options !== undefined && options !== null && CHECKED.has(options)) return options as CheckedOptions;
  checkRules('@mirai-ts/http errorResponse', options, { retryAfter: RULES['retryAfter']!, exposeErrors: RULES['exposeErrors']! });
  const { retryAfter = 1, exposeErrors = false } = options ?? {};
  return { retryAfter, exposeErrors };
}

/** `options` if {@link checkOptions} made them, else checked now (a ConfigError if wrong). */
export function asChecked(options: OffloadOptions | CheckedOptions | undefined): CheckedOptions {
  return options !== undefined && options !== null && CHECKED.has(options) ? (options as CheckedOptions) : checkOptions(options);
}

/**
 * Checks a helper's task (a function or `fromModule()`) and its argument maker when the
 * handler is made, so that a wrong one fails at start-up rather than on every request.
 */
export function checkHandler(fn: unknown, argsOf: unknown): void {
  if (typeof fn !== 'function' && !isModuleFunction(fn)) {
    throw new ConfigError(
      `@mirai-ts/http: the task (fn) must be a function or fromModule(path, name) (an object with string 'module' and 'export'), got ${showTask(fn)}`,
    );
  }
  if (typeof argsOf !== 'function') {
    throw new ConfigError(`@mirai-ts/http: argsOf must be a function (request) => args, got ${show(argsOf)}`);
  }
}

/** `show(fn)`, naming a module namespace (`import * as tasks`), which shows as a bare `{}`. */
function showTask(fn: unknown): string {
  if (Object.prototype.toString.call(fn) === '[object Module]') return 'a module namespace (name one of its exports with fromModule(path, name))';
  return show(fn);
}
