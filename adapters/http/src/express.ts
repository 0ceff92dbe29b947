/**
 * Express: a route handler that runs the work on daemons.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ModuleFunction, TaskFunction } from '@mirai-ts/core';
import { answerOf, JSON_CONTENT_TYPE, offload, type ArgsOf } from './offload.js';
import { checkHandler, checkOptions, type OffloadOptions } from './options.js';

/** Express's `res`: a ServerResponse with the methods this helper uses. */
export type ExpressResponse = ServerResponse & {
  status(code: number): ExpressResponse;
  set(headers: Record<string, string>): ExpressResponse;
  send(body: string): ExpressResponse;
};

/**
 * An Express route handler: runs `fn(argsOf(req))` on a daemon and answers its value as JSON
 * (`undefined` → 204), the same bytes as {@link miraiHandler}. Client disconnect cancels the
 * task; a full queue answers 503 with `Retry-After`; other errors get their status (504
 * timeout, 502 daemon lost, 500) and the adapter's `{ error }` body, with a message as
 * `exposeErrors` says. That holds for an error thrown by `argsOf` too: `next` is never called,
 * so Express's error handler (which may send a stack trace) never sees it. Log with `onError`.
 *
 * ```js
 * import express from 'express';
 * import { daemons } from '@mirai-ts/core';
 * import { expressHandler } from '@mirai-ts/http';
 *
 * // Runs on a daemon, which sees only its arguments: nothing from the code around it.
 * const primes = ({ below }) => {
 *   let count = 0;
 *   for (let k = 2; k < below; k++) {
 *     let prime = true;
 *     for (let d = 2; d * d <= k && prime; d++) prime = k % d !== 0;
 *     if (prime) count++;
 *   }
 *   return { below, primes: count };
 * };
 * await daemons(2, { maxQueued: 100 });
 * const app = express();
 * app.get('/primes/:below', expressHandler(primes, (req) => ({ below: Number(req.params.below) }), { timeout: 10_000 }));
 * ```
 */
export function expressHandler<Req extends IncomingMessage, A, R>(
  fn: TaskFunction<A, R> | ModuleFunction,
  argsOf: ArgsOf<Req, A>,
  options?: OffloadOptions,
): (req: Req, res: ExpressResponse, next: (error?: unknown) => void) => Promise<void> {
  const checked = checkOptions(options);
  checkHandler(fn, argsOf);
  return async (req, res) => {
    const outcome = await offload(req, res, fn, argsOf, checked);
    if (outcome.kind === 'gone' || res.headersSent) return;
    const answer = answerOf(outcome);
    res.status(answer.status).set(answer.headers);
    // The JSON text as a string with its type set: Express sends it as it is (res.json would
    // encode again, with the app's 'json spaces' and 'json replacer' settings).
    if (answer.json === undefined) res.end();
    else res.set({ 'content-type': JSON_CONTENT_TYPE }).send(answer.json);
  };
}
