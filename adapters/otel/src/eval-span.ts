/**
 * The daemon's `daemon eval` span, made without the SDK's Tracer. The daemon makes one per task
 * on its hot path, where the SDK's startSpan (context lookups, sampler, limits, attribute
 * sanitizing, one id per native call) and end cost as much as a small task. This is a complete
 * `Span` for the task's code (`trace.getActiveSpan()` inside a task: attributes, events,
 * status, exceptions) and a `ReadableSpan` for the span processor that exports it.
 * Sampling follows the parent (W3C flags): a task whose host span was not sampled records nothing.
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

/** Random hex, cut from a pool refilled 2 KiB at a time: one native call per 256 span ids. */
let pool = '';
let at = 0;
function randomHex(chars: number): string {
  if (at + chars > pool.length) {
    pool = randomFillSync(Buffer.allocUnsafe(2048)).toString('hex');
    at = 0;
  }
  const hex = pool.slice(at, at + chars);
  at += chars;
  return /^0+$/.test(hex) ? randomHex(chars) : hex; // all zeros is the invalid id
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

/** What every `daemon eval` span of a daemon shares. */
export interface EvalSpanScope {
  readonly processor: SpanProcessor;
  readonly resource: ReadableSpan['resource'];
  readonly instrumentationScope: ReadableSpan['instrumentationScope'];
}

export class EvalSpan implements Span, ReadableSpan {
  readonly kind = SpanKind.SERVER;
  readonly startTime: HrTime;
  endTime: HrTime = [0, 0];
  duration: HrTime = [0, 0];
  ended = false;
  status: SpanStatus = { code: SpanStatusCode.UNSET };
  readonly links: Link[] = [];
  readonly events: TimedEvent[] = [];
  readonly droppedAttributesCount = 0;
  readonly droppedEventsCount = 0;
  readonly droppedLinksCount = 0;
  readonly resource: ReadableSpan['resource'];
  readonly instrumentationScope: ReadableSpan['instrumentationScope'];
  private readonly context: SpanContext;

  constructor(
    public name: string,
    readonly parentSpanContext: SpanContext | undefined,
    readonly attributes: Attributes,
    private readonly scope: EvalSpanScope,
    startTime?: TimeInput,
  ) {
    this.startTime = toHrTime(startTime);
    this.resource = scope.resource;
    this.instrumentationScope = scope.instrumentationScope;
    const parent = parentSpanContext;
    this.context = {
      traceId: parent?.traceId ?? randomHex(32),
      spanId: randomHex(16),
      traceFlags: parent === undefined ? TraceFlags.SAMPLED : parent.traceFlags & TraceFlags.SAMPLED,
      ...(parent?.traceState === undefined ? {} : { traceState: parent.traceState }),
    };
  }

  spanContext(): SpanContext {
    return this.context;
  }

  isRecording(): boolean {
    return !this.ended && (this.context.traceFlags & TraceFlags.SAMPLED) !== 0;
  }

  setAttribute(key: string, value: AttributeValue): this {
    if (this.isRecording() && value !== undefined && value !== null) this.attributes[key] = value;
    return this;
  }

  setAttributes(attributes: Attributes): this {
    for (const [key, value] of Object.entries(attributes)) if (value !== undefined) this.setAttribute(key, value);
    return this;
  }

  addEvent(name: string, attributesOrTime?: Attributes | TimeInput, time?: TimeInput): this {
    if (!this.isRecording()) return this;
    const isTime = typeof attributesOrTime === 'number' || attributesOrTime instanceof Date || Array.isArray(attributesOrTime);
    const attributes = isTime ? undefined : (attributesOrTime as Attributes | undefined);
    this.events.push({ name, time: toHrTime(isTime ? (attributesOrTime as TimeInput) : time), ...(attributes === undefined ? {} : { attributes }) });
    return this;
  }

  addLink(link: Link): this {
    if (this.isRecording()) this.links.push(link);
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
    const sampled = this.isRecording();
    this.endTime = toHrTime(endTime);
    let ns = (this.endTime[0] - this.startTime[0]) * 1e9 + (this.endTime[1] - this.startTime[1]);
    if (ns < 0) {
      this.endTime = this.startTime;
      ns = 0;
    }
    this.duration = [Math.floor(ns / 1e9), ns % 1e9];
    this.ended = true;
    if (sampled) this.scope.processor.onEnd(this);
  }
}
