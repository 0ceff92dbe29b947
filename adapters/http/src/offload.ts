/**
 * The one path every helper takes: arguments from the request, the task on a daemon,
 * cancelled when the client goes away, and an outcome to answer with.
 */
import type { ServerResponse } from 'node:http';
import { mirai, requireDaemons, SerializationError, type ModuleFunction, type TaskFunction } from '@mirai-ts/core';
import { disconnectSignal } from './disconnect-signal.js';
import { errorResponse, type ErrorResponse } from './error-response.js';
import { asChecked, checkHandler, type CheckedOptions, type OffloadOptions } from './options.js';

/** Makes a task's arguments from the framework's request object (may be async). */
export type ArgsOf<Req, A> = (request: Req) => A | Promise<A>;

/**
 * What to answer: the task's value with its JSON text (`json` is undefined only for an
 * undefined value, answered 204), an error response, or nothing (the client is gone).
 */
export type Outcome<R> =
  | { readonly kind: 'value'; readonly value: R; readonly json: string | undefined }
  | { readonly kind: 'error'; readonly response: ErrorResponse; readonly error: unknown }
  | { readonly kind: 'gone' };

/** The content type of every answer the helpers write. */
export const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

/**
 * Runs `fn(argsOf(request))` on a daemon of the profile. The task is cancelled (its
 * `context.signal` aborts on the daemon) when the client disconnects before the response was
 * written. The value is encoded as JSON here, so a value JSON cannot hold (a BigInt, a cycle)
 * becomes a 500 `SerializationError` outcome like any other failure.
 * Never throws for a request: every failure becomes an {@link Outcome}; `onError` throwing does
 * not change it. `options` are {@link checkOptions}' result (taken as they are), or options
 * checked here first: wrong ones reject with a ConfigError before anything runs.
 */
export async function offload<Req, A, R>(
  request: Req,
  res: ServerResponse,
  fn: TaskFunction<A, R> | ModuleFunction,
  argsOf: ArgsOf<Req, A>,
  options?: OffloadOptions | CheckedOptions,
): Promise<Outcome<Awaited<R>>> {
  const checked = asChecked(options);
  checkHandler(fn, argsOf);
  const signal = disconnectSignal(res);
  let value: Awaited<R>;
  try {
    const args = await argsOf(request);
    // A web server wants 503 without daemons, not a one-off process per request.
    requireDaemons(checked.profile);
    // A generic A cannot be checked for sendability here: the handler's own signature was.
    const task = mirai<unknown, R>(fn as TaskFunction<unknown, R> | ModuleFunction, args, {
      signal,
      retry: checked.retry,
      ...(checked.profile === undefined ? {} : { profile: checked.profile }),
      ...(checked.timeout === undefined ? {} : { timeout: checked.timeout }),
    });
    value = await task;
  } catch (error) {
    if (signal.aborted) return { kind: 'gone' };
    return failure(error, checked);
  }
  if (signal.aborted) return { kind: 'gone' };
  let json: string | undefined;
  try {
    json = toJson(value);
  } catch (error) {
    return failure(error, checked);
  }
  return { kind: 'value', value, json };
}

/** The error outcome for `error`; one answered with a 5xx status goes to `onError` too. */
function failure(error: unknown, options: CheckedOptions): Outcome<never> {
  const response = errorResponse(error, options);
  if (response.status >= 500) reportError(error, options);
  return { kind: 'error', response, error };
}

/**
 * Hands `error` to the user's `onError`. A throwing `onError` (a logger that is down) must not
 * cost the client its answer, nor reject the handler (an unhandled rejection ends a Node 20
 * process), so what it threw becomes a process warning and the answer goes out as it was.
 */
export function reportError(error: unknown, options: Pick<CheckedOptions, 'onError'>): void {
  if (options.onError === undefined) return;
  try {
    options.onError(error);
  } catch (thrown) {
    const why = thrown instanceof Error ? `${thrown.name}: ${thrown.message}` : String(thrown);
    process.emitWarning(`@mirai-ts/http: options.onError threw (${why}); the client was answered all the same`);
  }
}

/** The value as JSON text; undefined for undefined. Throws a SerializationError when JSON cannot hold it. */
function toJson(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (cause) {
    // A BigInt, a cycle, a toJSON that throws: the daemon could send it, JSON cannot hold it.
    const why = cause instanceof Error ? cause.message : String(cause);
    throw new SerializationError(`The task's value cannot be written as JSON: ${why}`, 'result', cause);
  }
  // JSON.stringify gives undefined, not an error, for a value with nothing to write (a toJSON returning undefined).
  if (text === undefined) throw new SerializationError("The task's value cannot be written as JSON: it has no JSON form", 'result');
  return text;
}

/** An outcome someone waits for, as HTTP: a status, headers, and JSON text (undefined: no body). */
export interface Answer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly json: string | undefined;
}

/** What every helper writes for `outcome`: the value (200, or 204 without a body) or the error response. */
export function answerOf(outcome: Exclude<Outcome<unknown>, { kind: 'gone' }>): Answer {
  if (outcome.kind === 'error') {
    return { status: outcome.response.status, headers: outcome.response.headers, json: JSON.stringify(outcome.response.body) };
  }
  return { status: outcome.json === undefined ? 204 : 200, headers: {}, json: outcome.json };
}

/** Writes an outcome as JSON on a plain node:http response (`undefined` → 204). */
export function writeOutcome(res: ServerResponse, outcome: Outcome<unknown>): void {
  if (outcome.kind === 'gone' || res.headersSent || res.writableEnded) return;
  writeAnswer(res, answerOf(outcome));
}

/** Writes an answer on a plain node:http response. */
export function writeAnswer(res: ServerResponse, answer: Answer): void {
  if (answer.json === undefined) {
    res.writeHead(answer.status, answer.headers).end();
    return;
  }
  res.writeHead(answer.status, {
    ...answer.headers,
    'content-type': JSON_CONTENT_TYPE,
    'content-length': Buffer.byteLength(answer.json),
  });
  res.end(answer.json);
}
