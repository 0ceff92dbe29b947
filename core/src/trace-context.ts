/**
 * W3C trace context for tasks. Core has no tracing dependency: a tracing adapter (such as
 * `@mirai-ts/otel`) installs a provider, which is asked once per task, in the caller's async
 * context, for the `traceparent`/`tracestate` to send with it. The daemon publishes what
 * arrived on `mirai:daemon:task:start`, where a daemon-side instrumentation picks it up.
 *
 * Every task the provider is asked for is followed by exactly one `mirai:task:settled` with its
 * task id, for a provider that subscribes there before it is installed: also a task that never
 * reached the queue (a full queue, arguments that cannot be sent, an async serializer that
 * failed, a cancellation or timeout while its frame was built), with `neverQueued` and the
 * error. Whatever the provider keeps per task (an open span) is released there.
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
/** Whether the installed provider has thrown (told once per provider). */
let providerFailed = false;

/**
 * Installs (or, with undefined, removes) the process's trace context provider. One at a time:
 * the last call wins. Throws a TypeError for anything but a function or undefined.
 */
export function setTraceContextProvider(fn: TraceContextProvider | undefined): void {
  if (fn !== undefined && typeof fn !== 'function') throw new TypeError(`setTraceContextProvider(fn): fn must be a function or undefined, got ${typeof fn}`);
  provider = fn;
  providerFailed = false;
}

/**
 * The installed trace context provider, if any: an adapter that stops removes its own
 * provider only while it is still the installed one (a newer instrumentation's stays).
 */
export function traceContextProvider(): TraceContextProvider | undefined {
  return provider;
}

/**
 * The trace context for a task, when a provider is installed and gives one. Takes the task's
 * fields, not an object: without a provider, a task costs no allocation here. @internal
 */
export function traceContextFor(profile: string, taskId: number, mapId: number | undefined): TraceContext | undefined {
  if (provider === undefined) return undefined;
  let ctx: TraceContext | undefined;
  try {
    ctx = provider({ profile, taskId, mapId });
  } catch (err) {
    // A tracer's fault (a sampler that throws) must not fail the task, nor throw from mirai():
    // the task goes without a trace context, and the first such error is told.
    if (!providerFailed) {
      providerFailed = true;
      process.emitWarning(`the trace context provider threw, so tasks go without trace context: ${(err as Error)?.message ?? String(err)}`, { code: 'MIRAI_TRACE_PROVIDER' });
    }
    return undefined;
  }
  if (ctx === undefined) return undefined;
  // A malformed header must not reach the wire: the daemon would drop it anyway.
  if (!isTraceparent(ctx.traceparent)) return undefined;
  return ctx.tracestate === undefined || typeof ctx.tracestate === 'string' ? ctx : { traceparent: ctx.traceparent };
}

/**
 * Whether `value` is a `traceparent` of the shape sent on the wire: version-traceid-parentid-flags,
 * `vv-<32 hex>-<16 hex>-ff`, lowercase. A loop over the char codes, not a regular expression:
 * this runs for every traced task, and the regular expression cost about 1 µs on the header the
 * tracer had just built (a concatenated string it first had to flatten), this about 0.1.
 */
export function isTraceparent(value: unknown): value is string {
  if (typeof value !== 'string' || value.length !== TRACEPARENT_CHARS) return false;
  for (let i = 0; i < TRACEPARENT_CHARS; i++) {
    const code = value.charCodeAt(i);
    if (i === 2 || i === 35 || i === 52) {
      if (code !== DASH) return false;
    } else if (!((code >= DIGIT_0 && code <= DIGIT_9) || (code >= LOWER_A && code <= LOWER_F))) return false;
  }
  return true;
}

/** Characters of a `traceparent` (version 00): 2 + 1 + 32 + 1 + 16 + 1 + 2. */
export const TRACEPARENT_CHARS = 55;
const DASH = 0x2d;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;
const LOWER_A = 0x61;
const LOWER_F = 0x66;
