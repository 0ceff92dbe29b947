/**
 * Express: a route handler that runs the work on daemons.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isMiraiError, type ModuleFunction, type TaskFunction } from '@mirai-ts/core';
import { offload, type ArgsOf } from './offload.js';
import { checkHandler, checkOptions, type OffloadOptions } from './options.js';

/** Express's `res`: a ServerResponse with the methods this helper uses. */
export type ExpressResponse = ServerResponse & {
  status(code: number): ExpressResponse;
  set(headers: Record<string, string>): ExpressResponse;
  json(body: unknown): ExpressResponse;
};

/**
 * An Express route handler: runs `fn(argsOf(req))` on a daemon and answers `res.json(value)`
 * (`undefined` → 204). Client disconnect cancels the task; a full queue answers 503 with
 * `Retry-After`; other mirai-ts errors get their status (504 timeout, 502 daemon lost, 500).
 * An error thrown by `argsOf` that is not a MiraiError goes to `next(err)`, Express's error path.
 *
 * ```js
 * app.get('/fib/:n', expressHandler(({ n }) => fib(n), (req) => ({ n: Number(req.params.n) })));
 * ```
 */
export function expressHandler<Req extends IncomingMessage, A, R>(
  fn: TaskFunction<A, R> | ModuleFunction,
  argsOf: ArgsOf<Req, A>,
  options?: OffloadOptions,
): (req: Req, res: ExpressResponse, next: (error?: unknown) => void) => Promise<void> {
  const checked = checkOptions(options);
  checkHandler(fn, argsOf);
  return async (req, res, next) => {
    const outcome = await offload(req, res, fn, argsOf, checked);
    if (outcome.kind === 'gone' || res.headersSent) return;
    if (outcome.kind === 'value') {
      if (outcome.value === undefined) res.status(204).end();
      else res.json(outcome.value);
    } else if (!isMiraiError(outcome.error) && outcome.response.status === 500) {
      next(outcome.error);
    } else {
      res.status(outcome.response.status).set(outcome.response.headers).json(outcome.response.body);
    }
  };
}
