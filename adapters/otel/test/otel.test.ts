/**
 * @mirai-ts/otel with the official SDK and real daemons: host spans through the in-memory
 * exporter, daemon spans through the OTLP/HTTP exporter into a receiver in this test, one
 * trace across the two processes, on ipc, tcp and nats, with a span a task starts on the daemon
 * as the child of its `daemon eval`; metrics through a reader; inert without SDK.
 */
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { context, SpanKind, SpanStatusCode, trace, type Context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  AlwaysOffSampler,
  BasicTracerProvider,
  InMemorySpanExporter,
  ParentBasedSampler,
  SamplingDecision,
  SimpleSpanProcessor,
  type ReadableSpan,
  type Sampler,
  type Span as SdkSpan,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { MeterProvider, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { ConfigError, daemons, mirai, miraiMap, MiraiError, type DaemonsOptions } from '@mirai-ts/core';
import { natsTransport } from '@mirai-ts/transport-nats';
// The NATS plugin's test server helper: starts a private nats-server on 127.0.0.1, stopped by pid.
import { NatsServer, natsTestsEnabled } from '../../../plugins/transport-nats/test/nats-server.js';
import { instrumentMirai, otelDaemon, type MiraiInstrumentation } from '../src/index.js';
import { TestReader, until } from './helpers.js';
import { startOtlpReceiver, type ReceivedSpan } from './otlp-receiver.js';

/** The daemon half as built: daemons here run from the repo root, where the package is not installed. */
const daemonEntry = join(import.meta.dirname, '..', 'dist', 'daemon.js');
const instrumentation = (url: string) => [{ ref: { ...otelDaemon({ url, simple: true }).ref, specifier: daemonEntry } }];

// Spans follow the active context across awaits only with a context manager, as with the SDK.
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  await daemons(0);
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** The host instrumented with its own SDK: spans into memory, metrics through a reader. */
function instrumentedHost(): { exporter: InMemorySpanExporter; provider: BasicTracerProvider; reader: TestReader; inst: MiraiInstrumentation } {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const reader = new TestReader();
  const inst = instrumentMirai({ tracerProvider: provider, meterProvider: new MeterProvider({ readers: [reader] }) });
  cleanups.push(() => inst.stop());
  return { exporter, provider, reader, inst };
}

/** No SDK on the host; one daemon exporting to a receiver started here, which it returns. */
async function oneTracedDaemon() {
  const inst = instrumentMirai();
  cleanups.push(() => inst.stop());
  const receiver = await startOtlpReceiver();
  cleanups.push(() => receiver.close());
  await daemons(1, { instrumentation: instrumentation(receiver.url) });
  return receiver;
}

function metric(rm: ResourceMetrics, name: string) {
  return rm.scopeMetrics.flatMap((s) => s.metrics).find((m) => m.descriptor.name === name);
}

const withNats = natsTestsEnabled(); // with CI set, a missing nats-server fails here
let nats: NatsServer | undefined;
beforeAll(async () => {
  if (withNats) nats = await NatsServer.start();
}, 60_000);
afterAll(async () => {
  await nats?.stop();
});

/** How each transport's profile is set. */
const transports: [string, () => DaemonsOptions][] = [
  ['ipc', () => ({})],
  ['tcp', () => ({ url: 'tcp://127.0.0.1:0' })],
  ...(withNats ? [['nats', () => ({ url: `${nats!.url}/otel`, transports: [natsTransport()] })] as [string, () => DaemonsOptions]] : []),
];

describe.each(transports)('one trace across host and daemons (%s)', (transport, profileOptions) => {
  it('makes daemon eval spans children of the mirai spans, under mirai_map, and parents of spans a task starts', async () => {
    const { exporter, provider, reader } = instrumentedHost();
    const receiver = await startOtlpReceiver();
    cleanups.push(() => receiver.close());

    await daemons(2, { ...profileOptions(), instrumentation: instrumentation(receiver.url) });
    const tracer = provider.getTracer('test');
    const root = tracer.startSpan('request');
    const single = await context.with(trace.setSpan(context.active(), root), () => mirai(() => 42));
    expect(single).toBe(42);
    const out = await context.with(trace.setSpan(context.active(), root), () =>
      miraiMap([1, 2, 3], (x: number) => {
        if (x === 3) throw new Error('three is bad');
        return x * 2;
      }),
    );
    // A span the task starts itself, after an await, on the daemon: a child of its `daemon eval`.
    const inside = await context.with(trace.setSpan(context.active(), root), () =>
      mirai(async () => {
        const api = await import('@opentelemetry/api');
        await new Promise((resolve) => setTimeout(resolve, 5));
        const span = api.trace.getTracer('my-task').startSpan('load data');
        span.end();
        return span.spanContext().traceId;
      }),
    );
    root.end();
    expect(out[2]).toBeInstanceOf(MiraiError);
    expect(inside).toBe(root.spanContext().traceId);
    await until(() => receiver.spans.filter((s) => s.name === 'daemon eval').length >= 5 && receiver.spans.some((s) => s.name === 'load data'));
    const rm = (await reader.collect()).resourceMetrics;
    await daemons(0);

    const byName = (n: string) => exporter.getFinishedSpans().filter((s) => s.name === n);
    const rootId = root.spanContext().spanId;
    const traceId = root.spanContext().traceId;
    const parentOf = (s: ReturnType<typeof exporter.getFinishedSpans>[number]) => s.parentSpanContext?.spanId;
    expect(byName('daemons set')).toHaveLength(1);
    expect(byName('daemons set')[0]!.attributes['network.transport']).toBe(transport === 'ipc' ? 'unix' : 'tcp');
    if (transport !== 'ipc') {
      expect(byName('daemons set')[0]!.attributes['server.address']).toBe('127.0.0.1');
      expect(byName('daemons set')[0]!.attributes['server.port']).toBeGreaterThan(0);
    }
    expect(byName('daemon connect')).toHaveLength(2);
    expect(byName('daemons reset')).toHaveLength(1);
    await until(() => exporter.getFinishedSpans().filter((s) => s.name === 'daemon disconnect').length === 2);
    const [mapSpan] = byName('mirai_map');
    expect(parentOf(mapSpan!)).toBe(rootId);
    expect(mapSpan!.status.code).toBe(SpanStatusCode.ERROR);
    const miraiSpans = byName('mirai');
    expect(miraiSpans).toHaveLength(5);
    expect(miraiSpans.every((s) => s.kind === SpanKind.CLIENT && s.spanContext().traceId === traceId)).toBe(true);
    expect(miraiSpans.filter((s) => parentOf(s) === rootId)).toHaveLength(2);
    expect(miraiSpans.filter((s) => parentOf(s) === mapSpan!.spanContext().spanId)).toHaveLength(3);
    const failedSpan = miraiSpans.find((s) => s.status.code === SpanStatusCode.ERROR)!;
    expect(failedSpan.status.message).toMatch(/three is bad/);
    expect(failedSpan.attributes['error.type']).toBe('task');

    // Daemon side: one `daemon eval` server span per task, child of that task's `mirai` span.
    const evals = receiver.spans.filter((s) => s.name === 'daemon eval');
    expect(evals).toHaveLength(5);
    for (const e of evals) {
      const parent = miraiSpans.find((s) => s.spanContext().spanId === e.parentSpanId);
      expect(parent, `parent of daemon eval for task ${String(e.attributes['mirai.task.id'])}`).toBeDefined();
      expect(e.traceId).toBe(traceId);
      expect(e.kind).toBe(2 /* SPAN_KIND_SERVER in OTLP */);
      expect(e.attributes['mirai.task.id']).toBe(parent!.attributes['mirai.task.id']);
      expect(e.resource['process.pid']).not.toBe(process.pid);
    }
    const failedEval = evals.find((e: ReceivedSpan) => e.status.code === 2)!;
    expect(failedEval.attributes['mirai.task.id']).toBe(failedSpan.attributes['mirai.task.id']);
    const loadData = receiver.spans.filter((s) => s.name === 'load data');
    expect(loadData).toHaveLength(1);
    const itsEval = evals.find((e) => e.spanId === loadData[0]!.parentSpanId);
    expect(itsEval, 'the span started inside the task has its daemon eval span as parent').toBeDefined();
    expect(loadData[0]!.traceId).toBe(traceId);
    expect(miraiSpans.find((s) => s.spanContext().spanId === itsEval!.parentSpanId)!.attributes['mirai.task.id']).toBe(itsEval!.attributes['mirai.task.id']);

    // Metrics.
    const completed = metric(rm, 'mirai.tasks.completed')!;
    expect(completed.dataPoints.reduce((n, p) => n + (p.value as number), 0)).toBe(4);
    const failed = metric(rm, 'mirai.tasks.failed')!;
    expect(failed.dataPoints.map((p) => [p.attributes['mirai.error.kind'], p.value])).toEqual([['task', 1]]);
    const histogram = metric(rm, 'mirai.task.duration')!;
    expect(histogram.dataPoints.reduce((n, p) => n + (p.value as { count: number }).count, 0)).toBe(5);
    expect(metric(rm, 'mirai.daemons.connected')!.dataPoints[0]!.value).toBe(2);
    expect(metric(rm, 'mirai.queue.depth')!.dataPoints[0]!.value).toBe(0);
    expect((metric(rm, 'mirai.bytes.sent')!.dataPoints[0]!.value as number)).toBeGreaterThan(0);
    expect((metric(rm, 'mirai.bytes.received')!.dataPoints[0]!.value as number)).toBeGreaterThan(0);
  });
});

describe('sync profiles', () => {
  it('end a mirai span per task and count it, as daemons do', async () => {
    const { exporter, reader, inst } = instrumentedHost();
    await daemons({ sync: true });
    expect(await mirai(() => 'here')).toBe('here');
    await expect(
      mirai(() => {
        throw new Error('sync bad');
      }),
    ).rejects.toThrow(/sync bad/);
    inst.flush(); // span ends wait for the next turn of the event loop otherwise
    const spans = exporter.getFinishedSpans().filter((s) => s.name === 'mirai');
    expect(spans.map((s) => s.status.code)).toEqual([SpanStatusCode.UNSET, SpanStatusCode.ERROR]);
    expect(spans.every((s) => s.attributes['mirai.daemon.id'] === 0)).toBe(true);
    const rm = (await reader.collect()).resourceMetrics;
    expect(metric(rm, 'mirai.tasks.completed')!.dataPoints.map((p) => p.value)).toEqual([1]);
    expect(metric(rm, 'mirai.tasks.failed')!.dataPoints.map((p) => [p.attributes['mirai.error.kind'], p.value])).toEqual([['task', 1]]);
  });
});

describe('daemon eval spans made when first read', () => {
  it('start when the task started, whether or not the task read its span, and end after it ran', async () => {
    const receiver = await oneTracedDaemon();
    const before = Date.now();
    // Never reads its span: made after the result was sent, with the start time of the task.
    const unread = await mirai(async () => {
      await new Promise((resolve) => setTimeout(resolve, 80));
      return 'unread';
    });
    // Reads it only after a wait: the same span, made then, still starting before the wait.
    const read = await mirai(async () => {
      await new Promise((resolve) => setTimeout(resolve, 80));
      const api = await import('@opentelemetry/api');
      api.trace.getActiveSpan()!.setAttribute('read', true);
      return 'read';
    });
    const after = Date.now();
    expect([unread, read]).toEqual(['unread', 'read']);
    await until(() => receiver.spans.filter((s) => s.name === 'daemon eval').length === 2);
    const [first, second] = receiver.spans.filter((s) => s.name === 'daemon eval').sort((a, b) => a.startMs - b.startMs);
    for (const span of [first!, second!]) {
      expect(span.startMs).toBeGreaterThanOrEqual(before - 5);
      expect(span.endMs).toBeLessThanOrEqual(after + 5);
      expect(span.endMs - span.startMs, 'the span covers the task\'s 80 ms').toBeGreaterThanOrEqual(75);
    }
    expect(first!.attributes['read']).toBeUndefined();
    expect(second!.attributes['read']).toBe(true);
  });

  it('TaskContext makes its span once, on the first read, and keeps other keys apart', async () => {
    const { ROOT_CONTEXT, createContextKey } = await import('@opentelemetry/api');
    const { LazySpan, TaskContext } = await import('../src/task-context.js');
    const provider = new BasicTracerProvider();
    let made = 0;
    const lazy = new LazySpan(() => {
      made++;
      return provider.getTracer('t').startSpan('lazy');
    });
    const ctx = new TaskContext(lazy);
    const other = createContextKey('other');
    expect(ctx.getValue(other)).toBeUndefined();
    expect(made).toBe(0);
    expect(lazy.made).toBe(false);
    const span = trace.getSpan(ctx);
    expect(span).toBe(lazy.get());
    expect(trace.getSpan(ctx)).toBe(span);
    expect(made).toBe(1);
    expect(lazy.made).toBe(true);
    const extended = ctx.setValue(other, 42);
    expect(trace.getSpan(extended)).toBe(span);
    expect(extended.getValue(other)).toBe(42);
    expect(trace.getSpan(ctx.deleteValue(other))).toBe(span);
    expect(trace.getSpan(trace.deleteSpan(ctx))).toBeUndefined();
    expect(trace.deleteSpan(ctx)).toBe(ROOT_CONTEXT);
    expect(made).toBe(1);
  });
});

describe('tasks under a parent that was not sampled', () => {
  it('notSampled reads the sampled bit of a traceparent in place; an invalid parent is no parent', async () => {
    const { notSampled, fromTraceparent } = await import('../src/trace-header.js');
    const header = (flags: string, trace = '4bf92f3577b34da6a3ce929d0e0e4736', span = '00f067aa0ba902b7'): string => `00-${trace}-${span}-${flags}`;
    const cases: [string, boolean][] = [
      [header('00'), true],
      [header('01'), false],
      [header('02'), true],
      [header('03'), false],
      [header('0a'), true],
      [header('0b'), false],
      [header('0F'), false],
      [header('fe'), true],
      [header('ff'), false],
      [header('00', '0'.repeat(32)), false], // invalid trace id: no parent, a new (sampled) trace
      [header('00', undefined, '0'.repeat(16)), false],
      [header('00').slice(0, 54), false],
    ];
    for (const [traceparent, expected] of cases) {
      expect(notSampled(traceparent), traceparent).toBe(expected);
      // The same decision as the span context the daemon's span would be made under.
      const parent = fromTraceparent(traceparent);
      if (parent !== undefined) expect((parent.traceFlags & 1) === 0, traceparent).toBe(expected);
    }
  });
});

describe('deferred span ends', () => {
  const hrMs = (t: [number, number]) => t[0] * 1e3 + t[1] / 1e6;

  it('end each mirai span after the caller resumed, at the time its task settled, with its status', async () => {
    const { exporter, reader, inst } = instrumentedHost();
    await daemons(1);
    const mirais = () => exporter.getFinishedSpans().filter((s) => s.name === 'mirai');

    const before = performance.timeOrigin + performance.now();
    expect(await mirai(() => 7)).toBe(7);
    const resumed = performance.timeOrigin + performance.now();
    expect(mirais(), 'not ended on the way back to the caller').toHaveLength(0);
    // Delivered with a run of 128 settled tasks, or 50 ms after the first of a run.
    await until(() => mirais().length === 1, 5_000);
    const [ok] = mirais();
    expect(hrMs(ok!.startTime)).toBeGreaterThanOrEqual(before - 1);
    // Ended when the task settled (before the caller resumed), not when the batch ran.
    expect(hrMs(ok!.endTime)).toBeLessThanOrEqual(resumed + 1);
    expect(hrMs(ok!.endTime)).toBeGreaterThanOrEqual(hrMs(ok!.startTime));
    expect(ok!.status.code).toBe(SpanStatusCode.UNSET);
    expect(ok!.attributes['mirai.task.id']).toBeGreaterThan(0);
    expect(ok!.attributes['mirai.daemon.id']).toBe(1);
    expect(ok!.attributes['network.transport']).toBe('unix');

    await expect(
      mirai(() => {
        throw new TypeError('deferred bad');
      }),
    ).rejects.toThrow(/deferred bad/);
    const failedAt = performance.timeOrigin + performance.now();
    inst.flush(); // at once, without waiting for the turn
    const failed = mirais()[1]!;
    expect(failed.status).toEqual({ code: SpanStatusCode.ERROR, message: 'deferred bad' });
    expect(failed.attributes['error.type']).toBe('task');
    expect(failed.events.map((e) => e.name)).toEqual(['exception']);
    expect(hrMs(failed.endTime)).toBeLessThanOrEqual(failedAt + 1);

    // The observed counters and the histogram see tasks whose batch has not run yet.
    await mirai(() => 1);
    const rm = (await reader.collect()).resourceMetrics;
    expect(metric(rm, 'mirai.tasks.completed')!.dataPoints[0]!.value).toBe(2);
    expect(metric(rm, 'mirai.task.duration')!.dataPoints.reduce((n, p) => n + (p.value as { count: number }).count, 0)).toBe(3);
    expect(mirais()).toHaveLength(3);

    // daemons(0) ends a last task's span before its own `daemons reset`.
    await mirai(() => 2);
    await daemons(0);
    const names = exporter.getFinishedSpans().map((s) => s.name);
    expect(names.filter((n) => n === 'mirai')).toHaveLength(4);
    expect(names.lastIndexOf('mirai')).toBeLessThan(names.indexOf('daemons reset'));
  });

  it('end a last span when the host exits in the turn its task settled', async () => {
    // A host of its own that exits right after `await mirai()`: its exporter writes each span
    // it is given to stdout at once.
    const script = `
      import { writeSync } from 'node:fs';
      import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
      import { daemons, mirai } from '@mirai-ts/core';
      import { instrumentMirai } from ${JSON.stringify(join(import.meta.dirname, '..', 'dist', 'index.js'))};
      const exporter = { export(spans, done) { for (const s of spans) writeSync(1, 'span ' + s.name + ' ' + s.status.code + '\\n'); done({ code: 0 }); }, async shutdown() {} };
      instrumentMirai({ tracerProvider: new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }) });
      await daemons({ sync: true });
      await mirai(() => { throw new Error('last'); }).catch(() => {});
      process.exit(0);
    `;
    const { execFileSync } = await import('node:child_process');
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: join(import.meta.dirname, '..'), encoding: 'utf8', timeout: 20_000 });
    expect(out.split('\n')).toContain(`span mirai ${SpanStatusCode.ERROR}`);
  });
});

/** A span processor that keeps what it is told, in order. */
function recordingProcessor() {
  const calls: { call: 'onStart' | 'onEnd'; span: ReadableSpan; parent?: Context }[] = [];
  const processor: SpanProcessor = {
    onStart: (span: SdkSpan, parent: Context) => void calls.push({ call: 'onStart', span, parent }),
    onEnd: (span: ReadableSpan) => void calls.push({ call: 'onEnd', span }),
    forceFlush: async () => {},
    shutdown: async () => {},
  };
  return { calls, processor };
}

// With the official SDK the `mirai` span is decided at submit (the SDK's sampler and ids) and
// made after the task settled, then handed to the SDK's processors (host-span.ts).
describe('the host mirai span with the official SDK', () => {
  it('reaches every span processor: onStart with the caller context, then onEnd, with parent, attributes and times', async () => {
    const { calls, processor } = recordingProcessor();
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ spanProcessors: [processor, new SimpleSpanProcessor(exporter)] });
    const inst = instrumentMirai({ tracerProvider: provider });
    cleanups.push(() => inst.stop());
    await daemons(1);
    const root = provider.getTracer('test').startSpan('request');
    const before = performance.timeOrigin + performance.now();
    const value = await context.with(trace.setSpan(context.active(), root), () => mirai(() => 5));
    await expect(context.with(trace.setSpan(context.active(), root), () => mirai(() => Promise.reject(new RangeError('out'))))).rejects.toThrow(/out/);
    inst.flush();
    expect(value).toBe(5);
    const mirais = calls.filter((c) => c.span.name === 'mirai');
    expect(mirais.map((c) => c.call)).toEqual(['onStart', 'onEnd', 'onStart', 'onEnd']);
    expect(mirais[0]!.span).toBe(mirais[1]!.span);
    expect(trace.getSpan(mirais[0]!.parent!)).toBe(root);
    const [ok, failed] = [mirais[1]!.span, mirais[3]!.span];
    for (const span of [ok, failed]) {
      expect(span.kind).toBe(SpanKind.CLIENT);
      expect(span.parentSpanContext?.spanId).toBe(root.spanContext().spanId);
      expect(span.spanContext().traceId).toBe(root.spanContext().traceId);
      expect(span.ended).toBe(true);
      expect(span.startTime[0] * 1e3 + span.startTime[1] / 1e6).toBeGreaterThanOrEqual(before - 1);
      expect(span.attributes).toMatchObject({ 'mirai.profile': 'default', 'mirai.daemon.id': 1, 'network.transport': 'unix' });
      expect(span.instrumentationScope.name).toBe('@mirai-ts/otel');
    }
    expect(ok.attributes['mirai.task.id']).not.toBe(failed.attributes['mirai.task.id']);
    expect(failed.status).toEqual({ code: SpanStatusCode.ERROR, message: 'out' });
    expect(failed.events[0]!.attributes).toMatchObject({ 'exception.type': 'RangeError', 'exception.message': 'out' });
    // The same spans reach the SDK's own processor and exporter.
    expect(exporter.getFinishedSpans().filter((s) => s.name === 'mirai').map((s) => s.spanContext().spanId)).toEqual([ok.spanContext().spanId, failed.spanContext().spanId]);
    root.end();
  });

  it('follows the sampler: a dropped span reaches no processor and its daemon span does not record', async () => {
    const { calls, processor } = recordingProcessor();
    const provider = new BasicTracerProvider({ sampler: new ParentBasedSampler({ root: new AlwaysOffSampler() }), spanProcessors: [processor] });
    const inst = instrumentMirai({ tracerProvider: provider });
    cleanups.push(() => inst.stop());
    const receiver = await startOtlpReceiver();
    cleanups.push(() => receiver.close());
    await daemons(1, { instrumentation: instrumentation(receiver.url) });
    // On the daemon: the context the host sent (not sampled) is the parent of its span.
    const seen = await mirai(async () => {
      const api = await import('@opentelemetry/api');
      const span = api.trace.getActiveSpan()!;
      return { recording: span.isRecording(), flags: span.spanContext().traceFlags };
    });
    inst.flush();
    await daemons(0); // the daemon flushes its exporter before it exits
    expect(seen).toEqual({ recording: false, flags: 0 });
    expect(calls.filter((c) => c.span.name === 'mirai')).toEqual([]);
    expect(receiver.spans.filter((s) => s.name === 'daemon eval')).toEqual([]);
  });

  it('records a span the sampler keeps unsampled (RECORD), with the attributes the sampler adds', async () => {
    const { calls, processor } = recordingProcessor();
    const asked: string[] = [];
    const sampler: Sampler = {
      shouldSample: (_ctx, _traceId, name, kind, attributes) => {
        asked.push(`${name} ${kind} ${String(attributes['mirai.profile'])}`);
        return { decision: SamplingDecision.RECORD, attributes: { 'sampled.by': 'test' } };
      },
      toString: () => 'RecordOnly',
    };
    const inst = instrumentMirai({ tracerProvider: new BasicTracerProvider({ sampler, spanProcessors: [processor] }) });
    cleanups.push(() => inst.stop());
    await daemons({ sync: true });
    await mirai(() => 1);
    inst.flush();
    expect(asked).toContain(`mirai ${SpanKind.CLIENT} default`);
    const ended = calls.filter((c) => c.call === 'onEnd' && c.span.name === 'mirai');
    expect(ended).toHaveLength(1);
    expect(ended[0]!.span.spanContext().traceFlags).toBe(0);
    expect(ended[0]!.span.attributes['sampled.by']).toBe('test');
  });

  it('makes no span under a context that suppresses tracing', async () => {
    const { calls, processor } = recordingProcessor();
    const inst = instrumentMirai({ tracerProvider: new BasicTracerProvider({ spanProcessors: [processor] }) });
    cleanups.push(() => inst.stop());
    await daemons({ sync: true });
    // @opentelemetry/core's suppressTracing(): this key set to true.
    const suppressed = context.active().setValue(Symbol.for('OpenTelemetry SDK Context Key SUPPRESS_TRACING'), true);
    expect(await context.with(suppressed, () => mirai(() => 'quiet'))).toBe('quiet');
    await mirai(() => 'traced');
    inst.flush();
    expect(calls.filter((c) => c.call === 'onEnd' && c.span.name === 'mirai')).toHaveLength(1);
  });

  it('uses the SDK registered globally after instrumentMirai(), from the next task on', async () => {
    const inst = instrumentMirai();
    cleanups.push(() => inst.stop());
    await daemons({ sync: true });
    await mirai(() => 1); // no SDK yet: no span
    const exporter = new InMemorySpanExporter();
    trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
    cleanups.push(() => trace.disable());
    await mirai(() => 2);
    inst.flush();
    expect(exporter.getFinishedSpans().filter((s) => s.name === 'mirai')).toHaveLength(1);
  });

  it('falls back to the SDK startSpan for a tracer it does not recognise', async () => {
    const exporter = new InMemorySpanExporter();
    const sdk = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    // A wrapper (as some vendors' SDKs are): its tracers do not carry the SDK's parts.
    const wrapped = { getTracer: (name: string) => {
      const t = sdk.getTracer(name);
      return { startSpan: t.startSpan.bind(t), startActiveSpan: t.startActiveSpan.bind(t) } as typeof t;
    } };
    const inst = instrumentMirai({ tracerProvider: wrapped });
    cleanups.push(() => inst.stop());
    await daemons({ sync: true });
    const root = sdk.getTracer('test').startSpan('request');
    await context.with(trace.setSpan(context.active(), root), () => mirai(() => 3));
    inst.flush();
    const [span] = exporter.getFinishedSpans().filter((s) => s.name === 'mirai');
    expect(span!.parentSpanContext?.spanId).toBe(root.spanContext().spanId);
    expect(span!.attributes['mirai.task.id']).toBeGreaterThan(0);
    root.end();
  });

  it('counts every task duration in the histogram, recorded in runs', async () => {
    const { reader, inst } = instrumentedHost();
    await daemons({ sync: true });
    // More than one run (512) and a partial one: all counted at collection.
    for (let i = 0; i < 700; i++) await mirai(() => i);
    const rm = (await reader.collect()).resourceMetrics;
    expect(metric(rm, 'mirai.task.duration')!.dataPoints.reduce((n, p) => n + (p.value as { count: number }).count, 0)).toBe(700);
    inst.stop();
  });
});

describe('without an SDK', () => {
  it('sends no trace context: daemon spans are roots, and tasks still run', async () => {
    const receiver = await oneTracedDaemon();
    expect(await mirai(() => 'ok')).toBe('ok');
    await until(() => receiver.spans.some((s) => s.name === 'daemon eval'));
    expect(receiver.spans.find((s) => s.name === 'daemon eval')!.parentSpanId).toBeUndefined();
  });

  it('rejects bad options', () => {
    expect(() => instrumentMirai({ tracer: 1 } as never)).toThrow(ConfigError);
    expect(() => instrumentMirai({ tracer: 1 } as never)).toThrow(/instrumentMirai\(\): unknown option 'tracer' \(known: tracerProvider, meterProvider\)/);
    expect(() => instrumentMirai({ tracerProvider: {} } as never)).toThrow(/option 'tracerProvider' must be a TracerProvider \(an object with getTracer\(\)\), got \{\}/);
    expect(() => instrumentMirai({ meterProvider: 'global' } as never)).toThrow(/option 'meterProvider' must be a MeterProvider .*, got 'global' \(a string\)/);
    expect(() => instrumentMirai(null as never)).toThrow(/instrumentMirai\(\): options must be an object, got null/);
    expect(() => otelDaemon({ url: 'collector:4318' })).toThrow(/option 'url' must be an http\(s\) OTLP traces endpoint .*, got 'collector:4318' \(a string\)/);
    expect(() => otelDaemon({ url: 'http://' })).toThrow(/option 'url' must be an http\(s\) OTLP traces endpoint/);
    // A URL's user and password are credentials: never in the message.
    expect(() => otelDaemon({ url: 'https://me:s3cret-token@collector:99999/v1/traces' })).toThrow(/got 'https:\/\/\*\*\*@collector:99999\/v1\/traces' \(a string\)$/);
    expect(() => otelDaemon({ url: 'ftp://me:s3cret-token@collector/x' })).not.toThrow(/s3cret/);
    expect(() => otelDaemon({ url: 7 as never })).toThrow(/option 'url' must be an http\(s\) OTLP traces endpoint .*, got a number$/);
    expect(otelDaemon({}).ref.options).toEqual({});
    expect(() => otelDaemon({ urll: 'x' } as never)).toThrow(/otelDaemon\(\): unknown option 'urll'; did you mean 'url'\?/);
    expect(() => otelDaemon({ simple: 'yes' } as never)).toThrow(/option 'simple' must be a boolean \(true or false\), got 'yes' \(a string\)/);
    expect(() => otelDaemon({ serviceName: '' })).toThrow(/option 'serviceName' must be a non-empty string, got '' \(a string\)/);
    expect(() => otelDaemon({ headers: ['a'] } as never)).toThrow(/option 'headers' must be an object of header names to string values, got an array$/);
  });

  it('refuses a url that does not parse, naming the option', () => {
    for (const url of ['http://exa mple:99999/v1', 'http://collector:99999/v1/traces', 'https://[::1/v1/traces']) {
      expect(() => otelDaemon({ url }), url).toThrow(ConfigError);
      expect(() => otelDaemon({ url }), url).toThrow(/^otelDaemon\(\): option 'url' must be an http\(s\) OTLP traces endpoint/);
    }
    expect(otelDaemon({ url: 'https://[::1]:4318/v1/traces' }).ref.options).toEqual({ url: 'https://[::1]:4318/v1/traces' });
  });

  it('refuses headers the exporter could not send, naming the header and never showing a value', () => {
    const secret = 'Bearer s3cr3t-token';
    const refused = (headers: unknown): string => {
      try {
        otelDaemon({ headers } as never);
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        return (error as Error).message;
      }
      throw new Error('accepted');
    };
    const cases: [unknown, RegExp][] = [
      [{ authorization: `${secret}\r\nx-injected: 1` }, /^otelDaemon\(\): option 'headers': the value of header 'authorization' holds a line break or another character HTTP headers cannot carry \(values are not shown\)$/],
      [{ authorization: `${secret}\n` }, /the value of header 'authorization' holds a line break/],
      [{ 'x-api-key': 42, authorization: secret }, /^otelDaemon\(\): option 'headers': header 'x-api-key' must have a string value, got a number \(values are not shown\)$/],
      [{ 'bad name': secret }, /^otelDaemon\(\): option 'headers' has the header name "bad name", which is not an HTTP token/],
      [{ 'x-key\r\n': secret }, /has the header name "x-key\\r\\n", which is not an HTTP token/],
      [{ '': secret }, /has the header name "", which is not an HTTP token/],
      [secret, /^otelDaemon\(\): option 'headers' must be an object of header names to string values, got a string \(not shown\)$/],
    ];
    for (const [headers, message] of cases) {
      const text = refused(headers);
      expect(text, JSON.stringify(headers)).toMatch(message);
      expect(text).not.toContain('s3cr3t');
    }
    expect(otelDaemon({ headers: { Authorization: secret, 'x-api-key': 'k\tv' } }).ref.options).toEqual({ headers: { Authorization: secret, 'x-api-key': 'k\tv' } });
    expect(otelDaemon({ url: 'http://c:4318/v1/traces', headers: { 'x-api-key': 'k' }, serviceName: 'etl', simple: false }).ref.options).toEqual({
      url: 'http://c:4318/v1/traces',
      headers: { 'x-api-key': 'k' },
      serviceName: 'etl',
      simple: false,
    });
  });

  it('cuts span and trace ids from its random pool: hex of the right length, never all zeros, not repeated', async () => {
    const { randomHex } = await import('../src/light-span.js');
    const seen = new Set<string>();
    // Enough to refill the pool several times (8 KiB of random bytes each).
    for (let i = 0; i < 2000; i++) {
      const traceId = randomHex(32);
      const spanId = randomHex(16);
      expect(traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(spanId).toMatch(/^[0-9a-f]{16}$/);
      expect(/^0+$/.test(traceId) || /^0+$/.test(spanId)).toBe(false);
      seen.add(traceId).add(spanId);
    }
    expect(seen.size).toBe(4000);
  });
});
