/**
 * The one path every helper takes: arguments from the request, the task on a daemon,
 * cancelled when the client goes away, and an outcome to answer with.
 */
import type { ServerResponse } from 'node:http';
import { mirai, requireDaemons, type ModuleFunction, type TaskFunction } from '@mirai-ts/core';
import { disconnectSignal } from './disconnect-signal.js';
import { errorResponse, type ErrorResponse } from './error-response.js';
import type { CheckedOptions } from './options.js';

/** Makes a task's arguments from the framework's request object (may be async). */
export type ArgsOf<Req, A> = (request: Req) => A | Promise<A>;

/** What to answer: the task's value, an error response, or nothing (the client is gone). */
export type Outcome<R> =
  | { readonly kind: 'value'; readonly value: R }
  | { readonly kind: 'error'; readonly response: ErrorResponse; readonly error: unknown }
  | { readonly kind: 'gone' };

/**
 * Runs `fn(argsOf(request))` on a daemon of the profile. The task is cancelled (its
 * `context.signal` aborts on the daemon) when `res` closes before the response was written.
 * Never throws: every failure becomes an {@link Outcome}.
 */
export async function offload<Req, A, R>(
  request: Req,
  res: ServerResponse,
  fn: TaskFunction<A, R> | ModuleFunction,
  argsOf: ArgsOf<Req, A>,
  options: CheckedOptions,
): Promise<Outcome<Awaited<R>>> {
  const signal = disconnectSignal(res);
  try {
    const args = await argsOf(request);
    // A web server wants 503 without daemons, not a one-off process per request.
    requireDaemons(options.profile);
    // A generic A cannot be checked for sendability here: the handler's own signature was.
    const task = mirai<unknown, R>(fn as TaskFunction<unknown, R> | ModuleFunction, args, {
      signal,
      retry: options.retry,
      ...(options.profile === undefined ? {} : { profile: options.profile }),
      ...(options.timeout === undefined ? {} : { timeout: options.timeout }),
    });
    const value = await task;
    return signal.aborted ? { kind: 'gone' } : { kind: 'value', value };
  } catch (error) {
    if (signal.aborted) return { kind: 'gone' };
    const response = errorResponse(error, options);
    if (response.status >= 500) options.onError?.(error);
    return { kind: 'error', response, error };
  }
}

/** Writes an outcome as JSON on a plain node:http response (`undefined` → 204). */
export function writeOutcome(res: ServerResponse, outcome: Outcome<unknown>): void {
  if (outcome.kind === 'gone' || res.headersSent || res.writableEnded) return;
  if (outcome.kind === 'error') {
    writeJson(res, outcome.response.status, outcome.response.headers, outcome.response.body);
  } else if (outcome.value === undefined) {
    res.writeHead(204).end();
  } else writeJson(res, 200, {}, outcome.value);
}

function writeJson(res: ServerResponse, status: number, headers: Readonly<Record<string, string>>, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
