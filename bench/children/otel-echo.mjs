/**
 * Echo child for `rtt_otel_floor_us`: the raw echo (echo.mjs) with the OpenTelemetry SDK doing
 * what any traced server does per request, set up as `otelDaemon()` sets up a daemon: each
 * message is a W3C `traceparent`; the child starts a SERVER span, child of it, makes it the
 * active span while it answers, ends it, and batches its spans to an OTLP/HTTP collector.
 *
 *   node otel-echo.mjs <socket path> <OTLP traces URL>
 *
 * It flushes its spans and exits when the host closes the connection.
 */
import { connect } from 'node:net';
import { context, ROOT_CONTEXT, SpanKind, trace, TraceFlags } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { FrameReader, writeFrame } from '../lib/framing.mjs';

const [path, url] = process.argv.slice(2);
if (!path || !url) {
  process.stderr.write('usage: node otel-echo.mjs <socket path> <OTLP traces URL>\n');
  process.exit(2);
}

const provider = new BasicTracerProvider({
  resource: resourceFromAttributes({ 'service.name': 'otel-echo', 'process.pid': process.pid }),
  spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url }))],
});
const manager = new AsyncLocalStorageContextManager();
context.setGlobalContextManager(manager);
manager.enable();
trace.setGlobalTracerProvider(provider);
const tracer = trace.getTracer('otel-echo');

const socket = connect(path);
const reader = new FrameReader((body) => {
  // `00-<trace id>-<span id>-<flags>`, as the host wrote it.
  const traceparent = body.toString('latin1');
  const parent = {
    traceId: traceparent.slice(3, 35),
    spanId: traceparent.slice(36, 52),
    traceFlags: parseInt(traceparent.slice(53), 16) & TraceFlags.SAMPLED,
    isRemote: true,
  };
  const span = tracer.startSpan('echo', { kind: SpanKind.SERVER }, trace.setSpanContext(ROOT_CONTEXT, parent));
  context.with(trace.setSpan(ROOT_CONTEXT, span), () => writeFrame(socket, body));
  span.end();
});
socket.on('data', (chunk) => reader.push(chunk));
socket.on('close', () => {
  provider.shutdown().finally(() => process.exit(0));
});
socket.on('error', () => process.exit(1));
