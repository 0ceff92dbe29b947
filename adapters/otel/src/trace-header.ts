/** W3C `traceparent` ⇄ OpenTelemetry span context, without a propagator dependency. */
import { INVALID_SPANID, INVALID_TRACEID, TraceFlags, type SpanContext } from '@opentelemetry/api';
import { TRACEPARENT_CHARS } from '@mirai-ts/core/plugin';

/** Two lowercase hex digits per byte value, made once: flags are formatted without padStart. */
const HEX2 = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/**
 * The `traceparent` (and `tracestate`) of a span context, or undefined if it names no span.
 * The ids are not checked here beyond the all-zero invalid ones: core checks the header's
 * shape before it reaches the wire.
 */
export function toTraceHeaders(sc: SpanContext): { traceparent: string; tracestate?: string } | undefined {
  if (sc.traceId === INVALID_TRACEID || sc.spanId === INVALID_SPANID) return undefined;
  const traceparent = `00-${sc.traceId}-${sc.spanId}-${HEX2[sc.traceFlags & 0xff]}`;
  const tracestate = sc.traceState?.serialize();
  return tracestate ? { traceparent, tracestate } : { traceparent };
}

/** The remote span context a `traceparent` names (core already checked its shape: `vv-<32 hex>-<16 hex>-ff`). */
export function fromTraceparent(traceparent: string): SpanContext | undefined {
  if (traceparent.length !== TRACEPARENT_CHARS) return undefined;
  const traceId = traceparent.slice(3, 35);
  const spanId = traceparent.slice(36, 52);
  if (traceId === INVALID_TRACEID || spanId === INVALID_SPANID) return undefined;
  return { traceId, spanId, traceFlags: parseInt(traceparent.slice(53), 16) & TraceFlags.SAMPLED, isRemote: true };
}

/**
 * True if `traceparent` names a valid parent span that was not sampled: a span that follows its
 * parent's decision under it records nothing. Reads the flags in place (no slices).
 */
export function notSampled(traceparent: string): boolean {
  if (traceparent.length !== TRACEPARENT_CHARS) return false;
  if (traceparent.startsWith(INVALID_TRACEID, 3) || traceparent.startsWith(INVALID_SPANID, 36)) return false;
  // The sampled bit is the lowest of the flags byte: in its second hex digit.
  const c = traceparent.charCodeAt(54);
  const low = c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x57;
  return (low & TraceFlags.SAMPLED) === 0;
}
