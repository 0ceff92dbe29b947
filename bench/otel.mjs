/**
 * Observability overhead (issue 14): `rtt_otel_us` is the round trip of `rtt` (core.mjs) with
 * an OpenTelemetry SDK registered through @mirai-ts/otel (spans and metrics recorded, spans
 * batched to an exporter that drops them) and the dashboard open with a live SSE client. It runs
 * beside `rtt` in every round, so the two are compared in the same machine state.
 */
import { daemons, status } from '@mirai-ts/core';
import { instrumentMirai } from '@mirai-ts/otel';
import { dashboard } from '@mirai-ts/dashboard';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { trackPid } from './lib/harness.mjs';
import { miraiRoundTripUs } from './lib/rtt.mjs';

/** Accepts every batch and keeps nothing: the SDK's work is measured, not an exporter's I/O. */
const dropExporter = { export: (_spans, done) => done({ code: 0 }), shutdown: async () => {}, forceFlush: async () => {} };

class Reader extends MetricReader {
  async onShutdown() {}
  async onForceFlush() {}
}

export const benchmarks = [
  {
    name: 'rtt_otel',
    metrics: { rtt_otel_us: 'µs' },
    limit: 'rtt',
    description: 'rtt with @mirai-ts/otel (SDK registered) and the dashboard open with a live client',
    run: async (ctx) => {
      const tracerProvider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(dropExporter)] });
      const reader = new Reader();
      const meterProvider = new MeterProvider({ readers: [reader] });
      const inst = instrumentMirai({ tracerProvider, meterProvider });
      const board = await dashboard();
      const sse = new AbortController();
      let pushes = 0;
      const client = fetch(new URL('events', board.url), { signal: sse.signal }).then(async (res) => {
        for await (const _ of res.body) pushes++;
      }).catch(() => {});
      try {
        await daemons(1);
        const [pid] = (status()?.daemons ?? []).map((d) => d.pid);
        trackPid(pid);
        ctx.pinHost();
        ctx.pinPeer(pid);
        const us = await miraiRoundTripUs();
        await reader.collect();
        if (pushes === 0) throw new Error('the dashboard pushed nothing to its client');
        return { rtt_otel_us: us };
      } finally {
        await daemons(0);
        sse.abort();
        await client;
        await board.close();
        inst.stop();
        await tracerProvider.shutdown();
        await meterProvider.shutdown();
      }
    },
  },
];
