/**
 * The host's `mirai` span, made in two steps so that the submit path pays only for what must
 * happen there. At submit, where the span's context goes into the task frame: the registered
 * SDK's sampler decides and its id generator makes the ids (both as the SDK's own startSpan
 * would call them). After the task settled, in the batch that runs off the round trip: the span
 * object is made, with the start time taken at submit, and handed to the SDK's span processors
 * (onStart, then onEnding and onEnd), so every processor sees it with its parent, attributes,
 * status and times. The SDK's startSpan at submit cost about as much as a small task.
 *
 * The SDK's sampler, id generator, processors, resource and limits are read off its Tracer:
 * they are not public API, so they are checked by shape, and a tracer that does not have them
 * (another SDK, a wrapper, an SDK version that moved them) gets the SDK's ordinary startSpan.
 */
import {
  isSpanContextValid,
  SamplingDecision,
  SpanKind,
  trace,
  TraceFlags,
  type Attributes,
  type Context,
  type Sampler,
  type SpanContext,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import type { IdGenerator, ReadableSpan, Span as SdkSpan, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { LightSpan, randomHex, type LightSpanLimits, type LightSpanScope } from './light-span.js';

/** The SDK's `isTracingSuppressed` key (`createContextKey` is `Symbol.for` of its description). */
const SUPPRESS_TRACING = Symbol.for('OpenTelemetry SDK Context Key SUPPRESS_TRACING');
const NO_LINKS: never[] = [];

/** What a fast `mirai` span needs of the SDK's Tracer. */
export interface SdkParts extends LightSpanScope {
  readonly sampler: Sampler;
  readonly ids: IdGenerator;
  /** The SDK's own span metrics (2.1+): told of every span started; the function it returns, of its end. */
  readonly spanMetrics: { startSpan(parent: SpanContext | undefined, decision: SamplingDecision): (() => void) | undefined } | undefined;
}

/**
 * Random ids as the SDK's default RandomIdGenerator makes them, cut from a pool (one native
 * call per 256 span ids instead of two per id).
 */
const POOLED_IDS: IdGenerator = { generateTraceId: () => randomHex(32), generateSpanId: () => randomHex(16) };

const isFn = (o: unknown, name: string): boolean => typeof o === 'object' && o !== null && typeof (o as Record<string, unknown>)[name] === 'function';

/** The parts of an SDK Tracer (`@opentelemetry/sdk-trace-base` 2.x), or undefined if `tracer` does not have them all. */
export function sdkParts(tracer: Tracer): SdkParts | undefined {
  const t = tracer as unknown as Record<string, unknown>;
  const { _sampler: sampler, _idGenerator: ids, _spanProcessor: processor, _resource: resource, _spanLimits: limits, _tracerMetrics: spanMetrics } = t;
  if (!isFn(sampler, 'shouldSample') || !isFn(ids, 'generateSpanId') || !isFn(ids, 'generateTraceId')) return undefined;
  if (!isFn(processor, 'onStart') || !isFn(processor, 'onEnd') || typeof resource !== 'object' || resource === null) return undefined;
  if (typeof t.instrumentationScope !== 'object' || t.instrumentationScope === null) return undefined;
  return {
    sampler: sampler as Sampler,
    // The default generator is swapped for the same kind of ids; a custom one is kept.
    ids: (ids as object).constructor?.name === 'RandomIdGenerator' ? POOLED_IDS : (ids as IdGenerator),
    processor: processor as SpanProcessor,
    resource: resource as ReadableSpan['resource'],
    instrumentationScope: t.instrumentationScope as ReadableSpan['instrumentationScope'],
    ...(typeof limits === 'object' && limits !== null ? { limits: limits as LightSpanLimits } : {}),
    spanMetrics: isFn(spanMetrics, 'startSpan') ? (spanMetrics as SdkParts['spanMetrics']) : undefined,
  };
}

/**
 * Finds the SDK behind a tracer provider when asked, following the global provider's delegate
 * as it changes (an SDK registered after `instrumentMirai()` is found at the next task).
 */
export class SdkTracerFinder {
  #delegate: TracerProvider | undefined;
  #parts: SdkParts | undefined;

  constructor(
    private readonly provider: TracerProvider,
    private readonly scope: string,
  ) {}

  /** The SDK parts of the provider's tracer now, or undefined if it is not a recognised SDK. */
  parts(): SdkParts | undefined {
    const p = this.provider as TracerProvider & { getDelegate?: () => TracerProvider };
    const delegate = typeof p.getDelegate === 'function' ? p.getDelegate() : p;
    if (delegate !== this.#delegate) {
      this.#delegate = delegate;
      this.#parts = sdkParts(delegate.getTracer(this.scope));
    }
    return this.#parts;
  }
}

/** A recorded `mirai` span whose object is not made yet: what was decided at submit. */
export class PendingHostSpan {
  constructor(
    private readonly parts: SdkParts,
    private readonly context: SpanContext,
    private readonly parent: SpanContext | undefined,
    private readonly parentContext: Context,
    private readonly attributes: Attributes,
    private readonly startedAt: number,
    private readonly decision: SamplingDecision,
  ) {}

  /** Makes the span (started when the task was submitted) and tells the processors it started. */
  start(): LightSpan {
    const span = new LightSpan('mirai', SpanKind.CLIENT, this.context, this.parent, this.attributes, this.parts, this.startedAt, true);
    // The SDK's own span metrics (started, live) count it from here, in the same run.
    span.onEnded = this.parts.spanMetrics?.startSpan(this.parent, this.decision);
    this.parts.processor.onStart(span as unknown as SdkSpan, this.parentContext);
    return span;
  }
}

/**
 * Decides a `mirai` span at submit, as the SDK's startSpan would: nothing under a context
 * that suppresses tracing; the parent's trace or a new one; the sampler's decision, trace state
 * and attributes. Returns the span context to send and, when the span records, the pending span.
 */
export function decideHostSpan(parts: SdkParts, parentContext: Context, attributes: Attributes): { context: SpanContext; pending: PendingHostSpan | undefined } | undefined {
  if (parentContext.getValue(SUPPRESS_TRACING) === true) return undefined;
  const startedAt = performance.now();
  const found = trace.getSpanContext(parentContext);
  const parent = found !== undefined && isSpanContextValid(found) ? found : undefined;
  const spanId = parts.ids.generateSpanId();
  const traceId = parent === undefined ? parts.ids.generateTraceId() : parent.traceId;
  const result = parts.sampler.shouldSample(parentContext, traceId, 'mirai', SpanKind.CLIENT, attributes, NO_LINKS);
  const traceState = result.traceState ?? parent?.traceState;
  const context: SpanContext = {
    traceId,
    spanId,
    traceFlags: result.decision === SamplingDecision.RECORD_AND_SAMPLED ? TraceFlags.SAMPLED : TraceFlags.NONE,
    ...(traceState === undefined ? {} : { traceState }),
  };
  if (result.decision === SamplingDecision.NOT_RECORD) {
    parts.spanMetrics?.startSpan(parent, result.decision);
    return { context, pending: undefined };
  }
  if (result.attributes !== undefined) Object.assign(attributes, result.attributes);
  return { context, pending: new PendingHostSpan(parts, context, parent, parentContext, attributes, startedAt, result.decision) };
}
