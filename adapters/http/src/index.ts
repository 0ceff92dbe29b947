/**
 * @mirai-ts/http: run HTTP handlers' heavy work on mirai-ts daemons, so the event loop keeps
 * serving its own routes. Client disconnect cancels the task; a full queue (`maxQueued`)
 * answers 503 with `Retry-After`.
 *
 * ```js
 * import express from 'express';
 * import { daemons } from '@mirai-ts/core';
 * import { expressHandler } from '@mirai-ts/http';
 *
 * // The task runs on a daemon, which sees only its arguments: what it calls is defined inside it.
 * const fib = ({ n }) => {
 *   const f = (k) => (k < 2 ? k : f(k - 1) + f(k - 2));
 *   return { n, fib: f(n) };
 * };
 * await daemons(4, { maxQueued: 100 });
 * const app = express();
 * app.get('/fib/:n', expressHandler(fib, (req) => ({ n: Number(req.params.n) })));
 * ```
 */
export { miraiHandler } from './node-http.js';
export { expressHandler, type ExpressResponse } from './express.js';
export { fastifyHandler, type FastifyRequestLike, type FastifyReplyLike } from './fastify.js';
export { offload, writeOutcome, type ArgsOf, type Outcome } from './offload.js';
export { errorResponse, type ErrorResponse } from './error-response.js';
export { disconnectSignal, CLIENT_GONE } from './disconnect-signal.js';
export { checkOptions, type OffloadOptions, type CheckedOptions } from './options.js';
