/**
 * A span made without the SDK's Tracer, for the spans mirai-ts makes once per task: the host's
 * `mirai` span and the daemon's `daemon eval`. There the SDK's startSpan (context lookups,
 * sampler, limits, attribute sanitizing, one id per native call) and end cost as much as a
 * small task. This is a complete `Span` for code holding it (`trace.getActiveSpan()` inside a
 * task: attributes, events, status, exceptions) and a `ReadableSpan` for the span processors
 * that export it. Its span context (ids, sampled flag) is decided by whoever makes it: the
 * daemon follows the parent's flags ({@link childSpanContext}), the host asks the SDK's sampler
 * (host-span.ts).
 */
import { randomFillSync } from 'node:crypto';
import {
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  type Attributes,
  type AttributeValue,
  type Exception,
  type HrTime,
  type Link,
  type Span,
  type SpanContext,
  type SpanStatus,
  type TimeInput,
} from '@opentelemetry/api';
import type { ReadableSpan, SpanProcessor, TimedEvent } from '@opentelemetry/sdk-trace-base';

/**
 * Random hex, cut from a pool refilled 8 KiB at a time: one native call per ~340 host spans
 * (a trace id and a span id each) instead of one per ~85, which cost ~0.5 µs a task.
 */
const POOL_BYTES = 8192;
let pool = '';
let at = 0;
export function randomHex(chars: number): string {
  if (at + chars > pool.length) {
    pool = randomFillSync(Buffer.allocUnsafe(POOL_BYTES)).toString('hex');
    at = 0;
  }
  const hex = pool.slice(at, at + chars);
  at += chars;
  return allZeros(hex) ? randomHex(chars) : hex; // all zeros is the invalid id
}

/** Whether every digit is '0' (a loop, not a regular expression: this runs twice a span). */
function allZeros(hex: string): boolean {
  for (let i = 0; i < hex.length; i++) if (hex.charCodeAt(i) !== 0x30) return false;
  return true;
}

function hrTime(epochMs: number): HrTime {
  const seconds = Math.floor(epochMs / 1000);
  return [seconds, Math.min(999_999_999, Math.round((epochMs - seconds * 1000) * 1e6))];
}

/** Like the SDK: a number not after `performance.now()` is a performance timestamp, a larger one epoch ms. */
function toHrTime(time: TimeInput | undefined): HrTime {
  if (time === undefined) return hrTime(performance.timeOrigin + performance.now());
  if (typeof time === 'number') return hrTime(time <= performance.now() ? performance.timeOrigin + time : time);
  if (time instanceof Date) return hrTime(time.getTime());
  return time;
}

/** The span context of a new span under `parent` (a new trace without one), sampled as its parent is. */
export function childSpanContext(parent: SpanContext | undefined): SpanContext {
  if (parent === undefined) return { traceId: randomHex(32), spanId: randomHex(16), traceFlags: TraceFlags.SAMPLED };
  const context: SpanContext = { traceId: parent.traceId, spanId: randomHex(16), traceFlags: parent.traceFlags & TraceFlags.SAMPLED };
  if (parent.traceState !== undefined) context.traceState = parent.traceState;
  return context;
}

/** The SDK's span limits that apply to the few attributes and events these spans carry. */
export interface LightSpanLimits {
  readonly attributeCountLimit?: number;
  readonly attributeValueLengthLimit?: number;
  readonly eventCountLimit?: number;
}

/** What every light span of one tracer shares. */
export interface LightSpanScope {
  readonly processor: SpanProcessor;
  readonly resource: ReadableSpan['resource'];
  readonly instrumentationScope: ReadableSpan['instrumentationScope'];
  /** Applied as the SDK does (without them, none). */
  readonly limits?: LightSpanLimits;
}

// Shared until a span has its own (setStatus replaces, addEvent and addLink copy on first use):
// these spans are kept until their batch is exported, so every object less per span counts.
const NO_LINKS: Link[] = [];
const NO_EVENTS: TimedEvent[] = [];
const UNSET: SpanStatus = Object.freeze({ code: SpanStatusCode.UNSET });

export class LightSpan implements Span, ReadableSpan {
  readonly startTime: HrTime;
  endTime: HrTime = [0, 0];
  duration: HrTime = [0, 0];
  ended = false;
  status: SpanStatus = UNSET;
  /** Shared and empty until a link is added: most spans have none. */
  links: Link[] = NO_LINKS;
  events: TimedEvent[] = NO_EVENTS;
  droppedAttributesCount = 0;
  droppedEventsCount = 0;
  readonly droppedLinksCount = 0;
  readonly resource: ReadableSpan['resource'];
  readonly instrumentationScope: ReadableSpan['instrumentationScope'];
  /** Called once when the span ends (the SDK's own span metrics), before the processors see it. */
  onEnded: (() => void) | undefined = undefined;
  /** Attributes held, counted when a count limit first needs it. */
  private attributeCount = -1;

  /**
   * `attributes` becomes the span's (not copied). `recording` false makes a span that only
   * carries its context (the daemon's, under a host span that was not sampled).
   */
  constructor(
    public name: string,
    readonly kind: SpanKind,
    private readonly context: SpanContext,
    readonly parentSpanContext: SpanContext | undefined,
    readonly attributes: Attributes,
    private readonly scope: LightSpanScope,
    startTime?: TimeInput,
    private readonly recording = (context.traceFlags & TraceFlags.SAMPLED) !== 0,
  ) {
    this.startTime = toHrTime(startTime);
    this.resource = scope.resource;
    this.instrumentationScope = scope.instrumentationScope;
  }

  spanContext(): SpanContext {
    return this.context;
  }

  isRecording(): boolean {
    return !this.ended && this.recording;
  }

  setAttribute(key: string, value: AttributeValue): this {
    if (!this.isRecording() || value === undefined || value === null) return this;
    const limits = this.scope.limits;
    if (limits !== undefined) {
      const max = limits.attributeCountLimit;
      if (max !== undefined && max !== Infinity && !Object.hasOwn(this.attributes, key)) {
        if (this.attributeCount < 0) this.attributeCount = Object.keys(this.attributes).length;
        if (this.attributeCount >= max) {
          this.droppedAttributesCount++;
          return this;
        }
        this.attributeCount++;
      }
      value = truncate(value, limits.attributeValueLengthLimit);
    }
    this.attributes[key] = value;
    return this;
  }

  setAttributes(attributes: Attributes): this {
    for (const key in attributes) {
      const value = attributes[key];
      if (value !== undefined && Object.hasOwn(attributes, key)) this.setAttribute(key, value);
    }
    return this;
  }

  addEvent(name: string, attributesOrTime?: Attributes | TimeInput, time?: TimeInput): this {
    if (!this.isRecording()) return this;
    const isTime = typeof attributesOrTime === 'number' || attributesOrTime instanceof Date || Array.isArray(attributesOrTime);
    let attributes = isTime ? undefined : (attributesOrTime as Attributes | undefined);
    const limits = this.scope.limits;
    if (limits !== undefined) {
      if (limits.eventCountLimit !== undefined && this.events.length >= limits.eventCountLimit) {
        this.droppedEventsCount++;
        return this;
      }
      const length = limits.attributeValueLengthLimit;
      if (attributes !== undefined && length !== undefined && length !== Infinity) {
        attributes = Object.fromEntries(Object.entries(attributes).map(([k, v]) => [k, v === undefined ? v : truncate(v, length)]));
      }
    }
    if (this.events === NO_EVENTS) this.events = [];
    this.events.push({ name, time: toHrTime(isTime ? (attributesOrTime as TimeInput) : time), ...(attributes === undefined ? {} : { attributes }) });
    return this;
  }

  addLink(link: Link): this {
    if (!this.isRecording()) return this;
    if (this.links === NO_LINKS) this.links = [];
    this.links.push(link);
    return this;
  }

  addLinks(links: Link[]): this {
    for (const link of links) this.addLink(link);
    return this;
  }

  /** As the SDK: UNSET changes nothing, and OK is final. */
  setStatus(status: SpanStatus): this {
    if (!this.isRecording() || status.code === SpanStatusCode.UNSET || this.status.code === SpanStatusCode.OK) return this;
    this.status = status.code === SpanStatusCode.ERROR && typeof status.message === 'string' ? { code: status.code, message: status.message } : { code: status.code };
    return this;
  }

  updateName(name: string): this {
    if (this.isRecording()) this.name = name;
    return this;
  }

  /** The `exception` event of the semantic conventions. */
  recordException(exception: Exception, time?: TimeInput): void {
    const attributes: Attributes = {};
    if (typeof exception === 'string') attributes['exception.message'] = exception;
    else if (exception) {
      const type = exception.code ?? exception.name;
      if (type !== undefined) attributes['exception.type'] = String(type);
      if (exception.message) attributes['exception.message'] = exception.message;
      if (exception.stack) attributes['exception.stacktrace'] = exception.stack;
    }
    this.addEvent('exception', attributes, time);
  }

  end(endTime?: TimeInput): void {
    if (this.ended) return;
    const recording = this.isRecording();
    this.endTime = toHrTime(endTime);
    let ns = (this.endTime[0] - this.startTime[0]) * 1e9 + (this.endTime[1] - this.startTime[1]);
    if (ns < 0) {
      this.endTime = this.startTime;
      ns = 0;
    }
    this.duration = [Math.floor(ns / 1e9), ns % 1e9];
    if (recording) this.scope.processor.onEnding?.(this);
    this.onEnded?.();
    this.ended = true;
    if (recording) this.scope.processor.onEnd(this);
  }
}

/** A string (or strings) cut to the SDK's attributeValueLengthLimit. */
function truncate(value: AttributeValue, length: number | undefined): AttributeValue {
  if (length === undefined || length === Infinity || length <= 0) return value;
  if (typeof value === 'string') return value.length <= length ? value : value.slice(0, length);
  if (Array.isArray(value)) return value.map((v) => (typeof v === 'string' && v.length > length ? v.slice(0, length) : v)) as AttributeValue;
  return value;
}
