/**
 * Fastify: a route handler that runs the work on daemons.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ModuleFunction, TaskFunction } from '@mirai-ts/core';
import { answerOf, JSON_CONTENT_TYPE, offload, type ArgsOf } from './offload.js';
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
 * as JSON (`undefined` → 204), the same bytes as {@link miraiHandler}: a string or a
 * Uint8Array is JSON too, not text or raw bytes. Client disconnect cancels the task (the reply
 * is then hijacked: there is no one to answer); a full queue answers 503 with `Retry-After`;
 * other errors get their status (504 timeout, 502 daemon lost, 500) and the adapter's
 * `{ error }` body, with a message as `exposeErrors` says. That holds for an error thrown by
 * `argsOf` too: it is answered here, not rethrown to Fastify's error handler. Log with `onError`.
 *
 * ```js
 * import Fastify from 'fastify';
 * import { daemons } from '@mirai-ts/core';
 * import { fastifyHandler } from '@mirai-ts/http';
 *
 * // Runs on a daemon, which sees only its arguments: the module it needs is imported inside it.
 * const sha256 = async ({ text }) => {
 *   const { createHash } = await import('node:crypto');
 *   return { sha256: createHash('sha256').update(text).digest('hex') };
 * };
 * await daemons(2);
 * const fastify = Fastify();
 * fastify.get('/sha256/:text', fastifyHandler(sha256, (request) => ({ text: request.params.text })));
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
    const answer = answerOf(outcome);
    reply.code(answer.status).headers(answer.headers);
    // A string sent with a JSON content type goes out as it is: Fastify's content negotiation
    // would send a string as text/plain and a Uint8Array as raw bytes.
    return answer.json === undefined ? reply.send() : reply.headers({ 'content-type': JSON_CONTENT_TYPE }).send(answer.json);
  };
}
