/**
 * Observability overhead (issue 14): `rtt_otel_us` is the round trip of `rtt` (core.mjs) with
 * everything on that a traced deployment has:
 * - an OpenTelemetry SDK registered globally on the host (tracer provider with a
 *   BatchSpanProcessor, meter provider with a reader, and the AsyncLocalStorage context
 *   manager NodeSDK installs), instrumented by `instrumentMirai()`; the host's spans go to an
 *   exporter that drops them, so the SDK's work is measured, not an exporter's I/O;
 * - the daemon exporting its `daemon eval` spans over OTLP/HTTP (`otelDaemon()`) to a
 *   collector stand-in in another process (children/otlp-sink.mjs);
 * - the dashboard open with a live SSE client.
 * `rtt_otel_sampled_us` is the same with the host's tracer sampling 1 trace in 100
 * (ParentBased(TraceIdRatioBased(0.01)), as production tracing of tiny tasks is set up): every
 * task still gets its span context and metrics, and the daemon follows the host's decision.
 * They run beside `rtt` in every round, so all are compared in the same machine state; the SDK
 * is unregistered after each measurement, so `rtt` never runs with it.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { context, metrics, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler } from '@opentelemetry/sdk-trace-base';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { daemons, status } from '@mirai-ts/core';
import { instrumentMirai, otelDaemon } from '@mirai-ts/otel';
import { dashboard } from '@mirai-ts/dashboard';
import { stopChild, trackPid, withCap } from './lib/harness.mjs';
import { miraiRoundTripUs } from './lib/rtt.mjs';
import * as P from './params.mjs';

const SINK = new URL('./children/otlp-sink.mjs', import.meta.url).pathname;

/** Counts the spans of every batch and keeps nothing. */
function dropExporter() {
  const exporter = {
    spans: 0,
    export: (spans, done) => {
      exporter.spans += spans.length;
      done({ code: 0 });
    },
    shutdown: async () => {},
    forceFlush: async () => {},
  };
  return exporter;
}

class Reader extends MetricReader {
  async onShutdown() {}
  async onForceFlush() {}
}

/** Starts the collector stand-in; resolves with its traces URL and a count of exports. */
async function startSink() {
  const child = spawn(process.execPath, [SINK], { stdio: ['ignore', 'pipe', 'inherit'] });
  trackPid(child.pid);
  child.exited = new Promise((resolve) => child.once('exit', resolve));
  const sink = { child, url: '', exports: 0 };
  const ready = new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the OTLP sink exited (${code}) before listening`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.startsWith('port ')) {
        sink.url = `http://127.0.0.1:${line.slice(5)}/v1/traces`;
        resolve();
      } else if (line.startsWith('export ')) sink.exports++;
    });
  });
  const started = await withCap(ready, 10_000);
  if (started?.timedOut) throw new Error('the OTLP sink did not start within 10 s');
  return sink;
}

/** Sampling 1 trace in this many for `rtt_otel_sampled_us`. */
const SAMPLE_ONE_IN = 100;

/**
 * One round trip figure with everything on (see above); `sampled`: the host's tracer keeps 1
 * trace in SAMPLE_ONE_IN. Checks that each part did its work: spans recorded and exported (some
 * of them when sampled), the dashboard pushing.
 */
async function tracedRoundTrip(ctx, sampled) {
  const sink = await startSink();
  const exporter = dropExporter();
  const sampler = sampled ? new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(1 / SAMPLE_ONE_IN) }) : undefined;
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(exporter)], ...(sampler ? { sampler } : {}) });
  const reader = new Reader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(tracerProvider);
  metrics.setGlobalMeterProvider(meterProvider);
  const inst = instrumentMirai();
  const board = await dashboard();
  const sse = new AbortController();
  let pushes = 0;
  const client = fetch(new URL('events', board.url), { signal: sse.signal })
    .then(async (res) => {
      for await (const _ of res.body) pushes++;
    })
    .catch(() => {});
  try {
    await daemons(1, { instrumentation: [otelDaemon({ url: sink.url })] });
    const [pid] = (status()?.daemons ?? []).map((d) => d.pid);
    trackPid(pid);
    ctx.pinHost();
    ctx.pinPeer(pid);
    const us = await miraiRoundTripUs();
    await reader.collect();
    await daemons(0); // the daemon flushes its spans before it exits
    await tracerProvider.forceFlush();
    if (pushes === 0) throw new Error('the dashboard pushed nothing to its client');
    if (exporter.spans === 0) throw new Error('the host recorded no spans');
    if (sink.exports === 0) throw new Error('the daemon exported no spans');
    if (sampled && exporter.spans > (2 * (P.RTT_WARMUP + P.RTT_COUNT)) / SAMPLE_ONE_IN) throw new Error(`the host recorded ${exporter.spans} spans: not sampled`);
    return us;
  } finally {
    await daemons(0);
    sse.abort();
    await client;
    await board.close();
    inst.stop();
    await tracerProvider.shutdown();
    await meterProvider.shutdown();
    trace.disable();
    metrics.disable();
    context.disable();
    await stopChild(sink.child);
  }
}

export const benchmarks = [
  {
    name: 'rtt_otel',
    metrics: { rtt_otel_us: 'µs', rtt_otel_sampled_us: 'µs' },
    limit: 'rtt',
    description: `rtt with an OTel SDK registered (instrumentMirai), the daemon exporting OTLP/HTTP, and the dashboard open with a live client; every trace, and 1 in ${SAMPLE_ONE_IN}`,
    run: async (ctx) => {
      const out = {};
      const steps = [async () => (out.rtt_otel_us = await tracedRoundTrip(ctx, false)), async () => (out.rtt_otel_sampled_us = await tracedRoundTrip(ctx, true))];
      if (ctx.round % 2 === 1) steps.reverse();
      for (const step of steps) await step();
      return out;
    },
  },
];
