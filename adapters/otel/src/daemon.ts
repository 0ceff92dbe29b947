/**
 * The daemon half, imported by each daemon by reference (see {@link otelDaemon}): a tracer
 * provider exporting OTLP/HTTP, and a `daemon eval` server span per task, child of the host's
 * `mirai` span through the trace context the task frame carries, and the active span while
 * the task runs (spans the task starts are its children).
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { hostname } from 'node:os';
import { context, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Span, type SpanContext, type Tracer } from '@opentelemetry/api';
import { ConfigError, MiraiChannel, type DaemonTaskEndEvent, type DaemonTaskStartEvent } from '@mirai-ts/core';
import { show } from '@mirai-ts/core/daemon';
import { childSpanContext, LightSpan } from './light-span.js';
import { attempt, reportTracingError } from './report-error.js';
import { LazySpan, TaskContext } from './task-context.js';
import { fromTraceparent, notSampled } from './trace-header.js';

const SCOPE = { name: '@mirai-ts/otel' };

/** Options of the daemon half; they travel to daemons as JSON. */
export interface DaemonTracingOptions {
  /**
   * The OTLP/HTTP traces endpoint, e.g. `http://collector:4318/v1/traces`. Default: the
   * exporter's own (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `OTEL_EXPORTER_OTLP_ENDPOINT`, or
   * `http://localhost:4318/v1/traces`) as seen on the daemon's machine.
   */
  readonly url?: string;
  /** Extra HTTP headers for the exporter (an API key). */
  readonly headers?: Record<string, string>;
  /** `service.name` of the daemons' spans (default `mirai-daemon`). */
  readonly serviceName?: string;
  /** Export each span as it ends instead of in batches (tests, short-lived daemons). */
  readonly simple?: boolean;
}

/** What the daemon keeps of its tracing: the `run` hook and the flush before exit. */
export interface DaemonTracing {
  /** Runs a task with its `daemon eval` span active. */
  run<T>(taskId: number, task: () => T): T;
  shutdown(): Promise<void>;
}

/**
 * Called in the daemon with the options given to `otelDaemon()`: starts the exporter,
 * registers the provider (and a context manager) globally unless the daemon already has
 * them, so `trace.getTracer()` inside tasks exports too, and subscribes to the daemon's task
 * channels.
 */
export async function startDaemonTracing(options: DaemonTracingOptions = {}): Promise<DaemonTracing> {
  const [{ BasicTracerProvider, BatchSpanProcessor, SimpleSpanProcessor }, { OTLPTraceExporter }, { resourceFromAttributes }, { AsyncLocalStorageContextManager }] = await Promise.all([
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/context-async-hooks'),
  ]);
  const exporter = new OTLPTraceExporter({ ...(options.url ? { url: options.url } : {}), ...(options.headers ? { headers: options.headers } : {}) });
  // Batched by default: one export per 512 spans or 5 s, never one HTTP request per task.
  const processor = options.simple ? new SimpleSpanProcessor(exporter) : new BatchSpanProcessor(exporter);
  const resource = resourceFromAttributes({ 'service.name': options.serviceName ?? 'mirai-daemon', 'process.pid': process.pid, 'host.name': hostname() });
  const provider = new BasicTracerProvider({ resource, spanProcessors: [processor] });
  // Both fail (return false) when the daemon registered its own SDK (`--import`): then that
  // one serves the tasks' spans, and ours still exports `daemon eval`.
  const manager = new AsyncLocalStorageContextManager();
  if (context.setGlobalContextManager(manager)) manager.enable();
  const registered = trace.setGlobalTracerProvider(provider);
  // `daemon eval` spans skip the SDK's tracer (see light-span.ts) but share its processor.
  const evalScope = { processor, resource, instrumentationScope: SCOPE };
  const tracing = followTasks((name, parent, attributes, startTime) => new LightSpan(name, SpanKind.SERVER, childSpanContext(parent), parent, attributes, evalScope, startTime), true);
  return {
    run: (taskId, task) => tracing.run(taskId, task),
    async shutdown() {
      tracing.stop();
      await provider.shutdown();
      if (registered) trace.disable();
    },
  };
}

/** `daemon eval` spans of a daemon's tasks (see {@link traceDaemonTasks}). */
export interface DaemonTaskTracing {
  /** Runs a task with its `daemon eval` span as the active span. */
  run<T>(taskId: number, task: () => T): T;
  /** Unsubscribes, and ends spans still open. */
  stop(): void;
}

/**
 * Turns the daemon's task channels into `daemon eval` spans made with `tracer`. Throws a
 * ConfigError at once for a `tracer` without `startSpan()`: it would first be used when a task
 * ends, in a microtask, where the error would end the daemon.
 */
export function traceDaemonTasks(tracer: Tracer): DaemonTaskTracing {
  if (typeof (tracer as Partial<Tracer> | null | undefined)?.startSpan !== 'function') {
    throw new ConfigError(`traceDaemonTasks(tracer): tracer must be an OpenTelemetry Tracer (an object with startSpan(), e.g. trace.getTracer('my-daemon')), got ${show(tracer)}`);
  }
  // The tracer's own sampler decides, whatever the parent's flags: every span is made.
  return followTasks(
    (name, parent, attributes, startTime) =>
      tracer.startSpan(name, { kind: SpanKind.SERVER, attributes, startTime }, parent === undefined ? ROOT_CONTEXT : trace.setSpanContext(ROOT_CONTEXT, parent)),
    false,
  );
}

/**
 * Makes a `daemon eval` span: its name, the host's span context (if sent), its attributes, and
 * when the task started (a `performance.now()` time: the span may be made later).
 */
type StartSpan = (name: string, parent: SpanContext | undefined, attributes: Attributes, startTime: number) => Span;

/**
 * @param followsParent `start` makes spans sampled as their parent is: then the span of a task
 *   under a parent that was not sampled, which would record nothing, is made only if the task
 *   reads it (a daemon of a host that samples 1 trace in 100 makes 1 span in 100).
 */
function followTasks(start: StartSpan, followsParent: boolean): DaemonTaskTracing {
  // Until the result is sent a task costs only this: its start time and a context whose span is
  // made when first read (see task-context.ts), usually after the result has left.
  const running = new Map<number, { span: LazySpan; ctx: TaskContext; quiet: boolean }>();
  const onStart = (m: unknown): void => {
    const e = m as DaemonTaskStartEvent;
    const at = performance.now();
    const span = new LazySpan(() =>
      // The process's pid and host are the resource's: the span carries only what is its own.
      start(
        e.everywhere ? 'daemon everywhere' : 'daemon eval',
        e.traceparent === undefined ? undefined : fromTraceparent(e.traceparent),
        { 'mirai.task.id': e.taskId, 'mirai.daemon.id': e.daemonId },
        at,
      ),
    );
    const quiet = followsParent && e.traceparent !== undefined && notSampled(e.traceparent);
    running.set(e.taskId, { span, ctx: new TaskContext(span), quiet });
  };
  // Spans are made (if the task did not ask for its own) and end in a microtask, after the daemon
  // has sent the task's result: that (and, every 512 spans, serializing a batch for export) then
  // overlaps the host's turn instead of delaying the result.
  const endedSpans: LazySpan[] = [];
  const endedEvents: DaemonTaskEndEvent[] = [];
  const endedAt: number[] = [];
  const flush = (): void => {
    for (let i = 0; i < endedSpans.length; i++) {
      const event = endedEvents[i]!;
      // In a microtask: a tracer or span processor that throws here would end the daemon, and
      // the spans left in the run would be ended again (and no later run queued).
      try {
        const span = endedSpans[i]!.get();
        const at = endedAt[i]!;
        if (!event.ok) {
          const err = event.error instanceof Error ? event.error : new Error(String(event.error));
          span.recordException(err, at);
          span.setStatus({ code: SpanStatusCode.ERROR, message: err.message });
        }
        span.end(at);
      } catch (error) {
        reportTracingError(`the daemon span of task ${event.taskId}`, error);
      }
    }
    endedSpans.length = 0;
    endedEvents.length = 0;
    endedAt.length = 0;
  };
  const onEnd = (m: unknown): void => {
    const event = m as DaemonTaskEndEvent;
    const entry = running.get(event.taskId);
    if (entry === undefined) return;
    running.delete(event.taskId);
    // Not sampled and never read: the span would record nothing, so it is never made.
    if (entry.quiet && !entry.span.made) return;
    endedSpans.push(entry.span);
    endedEvents.push(event);
    endedAt.push(performance.now());
    if (endedSpans.length === 1) queueMicrotask(flush);
  };
  subscribe(MiraiChannel.daemonTaskStart, onStart);
  subscribe(MiraiChannel.daemonTaskEnd, onEnd);
  return {
    run<T>(taskId: number, task: () => T): T {
      const entry = running.get(taskId);
      return entry === undefined ? task() : context.with(entry.ctx, task);
    },
    stop() {
      unsubscribe(MiraiChannel.daemonTaskStart, onStart);
      unsubscribe(MiraiChannel.daemonTaskEnd, onEnd);
      flush();
      for (const [taskId, { span }] of running) attempt(`the daemon span of task ${taskId}`, () => span.get().end());
      running.clear();
    },
  };
}
