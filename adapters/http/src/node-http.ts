/**
 * node:http: a request listener that runs the work on daemons.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ModuleFunction, TaskFunction } from '@mirai-ts/core';
import { offload, reportError, writeAnswer, writeOutcome, type ArgsOf } from './offload.js';
import { checkHandler, checkOptions, type OffloadOptions } from './options.js';

/**
 * A `(req, res)` listener for `http.createServer()` (or a route of your own router) that runs
 * `fn(argsOf(req))` on a daemon and answers with its value as JSON (`undefined` → 204).
 * Client disconnect cancels the task; a full queue answers 503 with `Retry-After`.
 * The promise it returns never rejects: whatever goes wrong is answered (500 at worst).
 *
 * ```js
 * import http from 'node:http';
 * import { daemons } from '@mirai-ts/core';
 * import { miraiHandler } from '@mirai-ts/http';
 *
 * // Runs on a daemon, which sees only its arguments: what it calls is defined inside it.
 * const fib = ({ n }) => {
 *   const f = (k) => (k < 2 ? k : f(k - 1) + f(k - 2));
 *   return { n, fib: f(n) };
 * };
 * await daemons(2);
 * const server = http.createServer(miraiHandler(fib, (req) => ({ n: Number(new URL(req.url, 'http://x').searchParams.get('n')) })));
 * ```
 */
export function miraiHandler<A, R>(
  fn: TaskFunction<A, R> | ModuleFunction,
  argsOf: ArgsOf<IncomingMessage, A>,
  options?: OffloadOptions,
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const checked = checkOptions(options);
  checkHandler(fn, argsOf);
  return async (req, res) => {
    try {
      writeOutcome(res, await offload(req, res, fn, argsOf, checked));
    } catch (error) {
      // offload never rejects, so writing the answer failed. node:http has no error path of its
      // own: a rejection here would go unhandled and end the process. So answer 500 if nothing
      // was sent yet, else cut the connection, so that the client does not wait for the rest.
      reportError(error, checked);
      try {
        if (res.headersSent) res.destroy();
        else writeAnswer(res, INTERNAL_ERROR);
      } catch {
        res.destroy();
      }
    }
  };
}

/** The last-resort answer: the adapter's error body, saying nothing of what failed. */
const INTERNAL_ERROR = { status: 500, headers: {}, json: JSON.stringify({ error: 'Error' }) };
