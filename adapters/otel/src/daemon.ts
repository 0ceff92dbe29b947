/**
 * The daemon half, imported by each daemon by reference (see {@link otelDaemon}): a tracer
 * provider exporting OTLP/HTTP, and a `daemon eval` server span per task, child of the host's
 * `mirai` span through the trace context the task frame carries.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { hostname } from 'node:os';
import { context, SpanKind, SpanStatusCode, trace, type Span, type Tracer } from '@opentelemetry/api';
import { MiraiChannel, type DaemonTaskEndEvent, type DaemonTaskStartEvent } from '@mirai-ts/core';
import { fromTraceparent } from './trace-header.js';

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

/**
 * Called in the daemon with the options given to `otelDaemon()`: starts the exporter and
 * subscribes to the daemon's task channels. Returns what the daemon flushes before it exits.
 */
export async function startDaemonTracing(options: DaemonTracingOptions = {}): Promise<{ shutdown(): Promise<void> }> {
  const [{ BasicTracerProvider, BatchSpanProcessor, SimpleSpanProcessor }, { OTLPTraceExporter }, { resourceFromAttributes }] = await Promise.all([
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
  ]);
  const exporter = new OTLPTraceExporter({ ...(options.url ? { url: options.url } : {}), ...(options.headers ? { headers: options.headers } : {}) });
  const processor = options.simple ? new SimpleSpanProcessor(exporter) : new BatchSpanProcessor(exporter);
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': options.serviceName ?? 'mirai-daemon', 'process.pid': process.pid, 'host.name': hostname() }),
    spanProcessors: [processor],
  });
  const stop = traceDaemonTasks(provider.getTracer('@mirai-ts/otel'));
  return {
    async shutdown() {
      stop();
      await provider.shutdown();
    },
  };
}

/** Turns the daemon's task channels into `daemon eval` spans with `tracer`; returns the unsubscriber. */
export function traceDaemonTasks(tracer: Tracer): () => void {
  const running = new Map<number, Span>();
  const onStart = (m: unknown): void => {
    const e = m as DaemonTaskStartEvent;
    const remote = e.traceparent === undefined ? undefined : fromTraceparent(e.traceparent);
    const parent = remote === undefined ? context.active() : trace.setSpanContext(context.active(), remote);
    const span = tracer.startSpan(
      e.everywhere ? 'daemon everywhere' : 'daemon eval',
      { kind: SpanKind.SERVER, attributes: { 'mirai.task.id': e.taskId, 'mirai.daemon.id': e.daemonId, 'process.pid': process.pid } },
      parent,
    );
    running.set(e.taskId, span);
  };
  const onEnd = (m: unknown): void => {
    const e = m as DaemonTaskEndEvent;
    const span = running.get(e.taskId);
    if (span === undefined) return;
    running.delete(e.taskId);
    if (!e.ok) {
      const err = e.error instanceof Error ? e.error : new Error(String(e.error));
      span.recordException(err);
      span.setStatus({ code: SpanStatusCode.ERROR, message: err.message });
    }
    span.end();
  };
  subscribe(MiraiChannel.daemonTaskStart, onStart);
  subscribe(MiraiChannel.daemonTaskEnd, onEnd);
  return () => {
    unsubscribe(MiraiChannel.daemonTaskStart, onStart);
    unsubscribe(MiraiChannel.daemonTaskEnd, onEnd);
    for (const span of running.values()) span.end();
    running.clear();
  };
}
