/**
 * How a failed offload is answered: an HTTP status, headers and a JSON body per error kind.
 */
import { isMiraiError } from '@mirai-ts/core';
import { responseOptions, type checkOptions, type OffloadOptions } from './options.js';

/** What to send for an error: status, headers and a JSON body. */
export interface ErrorResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: { readonly error: string; readonly message?: string };
}

/**
 * The response for `error`, thrown by `mirai()` or settled into a mirai.
 *
 * queue-full and no-daemons → 503 with `Retry-After` (the client may come back); timeout → 504;
 * connection-reset (the daemon died) → 502; cancelled → 503; anything else → 500. Messages of
 * mirai-ts's own lifecycle errors are sent; the message of any other 5xx error (a task's own,
 * a SerializationError, what `argsOf` threw) only with `exposeErrors`.
 * An error that is not a MiraiError but carries a 4xx/5xx `status` or `statusCode` keeps it,
 * and a 4xx one its message: it is meant for the client (a bad request).
 * `options`: {@link checkOptions}' result, or `{ retryAfter, exposeErrors }` (defaults 1 and
 * false), checked here: a wrong one throws a ConfigError naming it.
 */
export function errorResponse(error: unknown, options?: Pick<OffloadOptions, 'retryAfter' | 'exposeErrors'>): ErrorResponse {
  const { retryAfter, exposeErrors } = responseOptions(options);
  if (!isMiraiError(error)) {
    const status = ownStatus(error) ?? 500;
    const message = error instanceof Error && (status < 500 || exposeErrors) ? error.message : undefined;
    return { status, headers: {}, body: withMessage(error instanceof Error ? error.name : 'Error', message) };
  }
  const retry = { 'Retry-After': String(retryAfter) };
  switch (error.kind) {
    case 'queue-full':
    case 'no-daemons':
      return { status: 503, headers: retry, body: withMessage(error.name, error.message) };
    case 'timeout':
      return { status: 504, headers: {}, body: withMessage(error.name, error.message) };
    case 'connection-reset':
      return { status: 502, headers: {}, body: withMessage(error.name, error.message) };
    case 'cancelled':
      return { status: 503, headers: {}, body: withMessage(error.name, error.message) };
    default:
      return { status: 500, headers: {}, body: withMessage(error.name, exposeErrors ? error.message : undefined) };
  }
}

function withMessage(error: string, message: string | undefined): ErrorResponse['body'] {
  return message === undefined ? { error } : { error, message };
}

function ownStatus(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { status, statusCode } = error as { status?: unknown; statusCode?: unknown };
  const value = typeof statusCode === 'number' ? statusCode : status;
  return typeof value === 'number' && Number.isInteger(value) && value >= 400 && value <= 599 ? value : undefined;
}
