/**
 * W3C trace context for tasks. Core has no tracing dependency: a tracing adapter (such as
 * `@mirai-ts/otel`) installs a provider, which is asked once per task, in the caller's async
 * context, for the `traceparent`/`tracestate` to send with it. The daemon publishes what
 * arrived on `mirai:daemon:task:start`, where a daemon-side instrumentation picks it up.
 */

/** W3C trace context headers (https://www.w3.org/TR/trace-context/). */
export interface TraceContext {
  readonly traceparent: string;
  readonly tracestate?: string;
}

/** What the provider is told about the task it is asked for. */
export interface TraceTaskInfo {
  readonly profile: string;
  readonly taskId: number;
  /** The map the task belongs to (see `mirai:map:start`), if any. */
  readonly mapId: number | undefined;
}

/** Returns the context to send with a task, or undefined to send none. */
export type TraceContextProvider = (task: TraceTaskInfo) => TraceContext | undefined;

let provider: TraceContextProvider | undefined;

/**
 * Installs (or, with undefined, removes) the process's trace context provider. One at a time:
 * the last call wins. Throws a TypeError for anything but a function or undefined.
 */
export function setTraceContextProvider(fn: TraceContextProvider | undefined): void {
  if (fn !== undefined && typeof fn !== 'function') throw new TypeError(`setTraceContextProvider(fn): fn must be a function or undefined, got ${typeof fn}`);
  provider = fn;
}

/**
 * The trace context for a task, when a provider is installed and gives one. Takes the task's
 * fields, not an object: without a provider, a task costs no allocation here. @internal
 */
export function traceContextFor(profile: string, taskId: number, mapId: number | undefined): TraceContext | undefined {
  if (provider === undefined) return undefined;
  const ctx = provider({ profile, taskId, mapId });
  if (ctx === undefined) return undefined;
  // A malformed header must not reach the wire: the daemon would drop it anyway.
  if (typeof ctx.traceparent !== 'string' || !TRACEPARENT.test(ctx.traceparent)) return undefined;
  return ctx.tracestate === undefined || typeof ctx.tracestate === 'string' ? ctx : { traceparent: ctx.traceparent };
}

/** version-traceid-parentid-flags, lowercase hex. */
export const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;
