/**
 * node:http: a request listener that runs the work on daemons.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ModuleFunction, TaskFunction } from '@mirai-ts/core';
import { offload, writeOutcome, type ArgsOf } from './offload.js';
import { checkHandler, checkOptions, type OffloadOptions } from './options.js';

/**
 * A `(req, res)` listener for `http.createServer()` (or a route of your own router) that runs
 * `fn(argsOf(req))` on a daemon and answers with its value as JSON (`undefined` → 204).
 * Client disconnect cancels the task; a full queue answers 503 with `Retry-After`.
 *
 * ```js
 * http.createServer(miraiHandler(({ n }) => fib(n), (req) => ({ n: 30 })));
 * ```
 */
export function miraiHandler<A, R>(
  fn: TaskFunction<A, R> | ModuleFunction,
  argsOf: ArgsOf<IncomingMessage, A>,
  options?: OffloadOptions,
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const checked = checkOptions(options);
  checkHandler(fn, argsOf);
  return async (req, res) => writeOutcome(res, await offload(req, res, fn, argsOf, checked));
}

