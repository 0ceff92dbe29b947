/**
 * What the adapter does when the SDK it hands spans to throws (a span processor's onStart or
 * onEnd, a sampler, a tracer of the user's). That work runs in timers, microtasks and channel
 * subscribers, where a throw is an uncaught exception: it would end the host (or the daemon)
 * for a tracing failure. As the SDK does with its exporters' failures, the error goes to
 * OpenTelemetry's `diag` logger, and the span it concerned is dropped.
 */
import { diag } from '@opentelemetry/api';

/** Reports that `what` threw; tracing goes on with the next span. */
export function reportTracingError(what: string, error: unknown): void {
  diag.error(`@mirai-ts/otel: ${what} threw; that span is dropped`, error);
}

/** Runs `fn`, reporting what it throws instead of throwing it. */
export function attempt(what: string, fn: () => void): void {
  try {
    fn();
  } catch (error) {
    reportTracingError(what, error);
  }
}

/** `fn` made safe to run where a throw would end the process: what it throws is reported. */
export function reporting<A extends unknown[]>(what: string, fn: (...args: A) => void): (...args: A) => void {
  return (...args) => attempt(what, () => fn(...args));
}
