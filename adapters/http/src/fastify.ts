/**
 * Fastify: a route handler that runs the work on daemons.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isMiraiError, type ModuleFunction, type TaskFunction } from '@mirai-ts/core';
import { offload, type ArgsOf } from './offload.js';
import { checkHandler, checkOptions, type OffloadOptions } from './options.js';

/** The parts of Fastify's `request` this helper uses. */
export interface FastifyRequestLike {
  readonly raw: IncomingMessage;
}

/** The parts of Fastify's `reply` this helper uses. */
export interface FastifyReplyLike {
  readonly raw: ServerResponse;
  code(status: number): this;
  headers(values: Record<string, string>): this;
  send(payload?: unknown): this;
  hijack(): this;
}

/**
 * A Fastify route handler: runs `fn(argsOf(request))` on a daemon and replies with its value
 * (serialized by Fastify; `undefined` → 204). Client disconnect cancels the task (the reply
 * is then hijacked: there is no one to answer); a full queue answers 503 with `Retry-After`;
 * other mirai-ts errors get their status (504 timeout, 502 daemon lost, 500). An error thrown
 * by `argsOf` that is not a MiraiError is rethrown to Fastify's error handler.
 *
 * ```js
 * fastify.get('/fib/:n', fastifyHandler(({ n }) => fib(n), (request) => ({ n: Number(request.params.n) })));
 * ```
 */
export function fastifyHandler<Req extends FastifyRequestLike, A, R>(
  fn: TaskFunction<A, R> | ModuleFunction,
  argsOf: ArgsOf<Req, A>,
  options?: OffloadOptions,
): (request: Req, reply: FastifyReplyLike) => Promise<FastifyReplyLike> {
  const checked = checkOptions(options);
  checkHandler(fn, argsOf);
  return async (request, reply) => {
    const outcome = await offload(request, reply.raw, fn, argsOf, checked);
    if (outcome.kind === 'gone') return reply.hijack();
    if (outcome.kind === 'value') return outcome.value === undefined ? reply.code(204).send() : reply.send(outcome.value);
    if (!isMiraiError(outcome.error) && outcome.response.status === 500) throw outcome.error;
    return reply.code(outcome.response.status).headers(outcome.response.headers).send(outcome.response.body);
  };
}
