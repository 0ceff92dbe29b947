/** W3C `traceparent` ⇄ OpenTelemetry span context, without a propagator dependency. */
import { TraceFlags, isSpanContextValid, type SpanContext } from '@opentelemetry/api';

/** The `traceparent` (and `tracestate`) of a span context, or undefined if it is not valid. */
export function toTraceHeaders(sc: SpanContext): { traceparent: string; tracestate?: string } | undefined {
  if (!isSpanContextValid(sc)) return undefined;
  const traceparent = `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
  const tracestate = sc.traceState?.serialize();
  return tracestate ? { traceparent, tracestate } : { traceparent };
}

/** The remote span context a `traceparent` names (core already checked its shape). */
export function fromTraceparent(traceparent: string): SpanContext | undefined {
  const [version, traceId, spanId, flags] = traceparent.split('-');
  if (version === undefined || traceId === undefined || spanId === undefined || flags === undefined) return undefined;
  const sc: SpanContext = { traceId, spanId, traceFlags: parseInt(flags, 16) & TraceFlags.SAMPLED, isRemote: true };
  return isSpanContextValid(sc) ? sc : undefined;
}
