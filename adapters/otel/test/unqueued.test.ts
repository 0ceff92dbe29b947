/**
 * Tasks that fail before they are queued (a full queue, arguments that cannot be sent, an
 * async serializer that throws, a timeout or cancellation while it builds the frame): core
 * reports each settled (`neverQueued`), so the `mirai` span whose context it was given ends
 * once, with an error status and type, its failure is counted, and the instrumentation keeps
 * nothing for it. Real pools (a profile that only listens: no daemon takes its queue), the
 * official SDK, an in-memory exporter.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterEach, describe, expect, it } from 'vitest';
import { context, SpanStatusCode, type TracerProvider } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { MeterProvider, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import {
  CancelledError,
  daemons,
  defineSerializer,
  localUrl,
  mirai,
  MiraiChannel,
  miraiMap,
  QueueFullError,
  SerializationError,
  TimeoutError,
  type TaskSettledEvent,
} from '@mirai-ts/core';
import { instrumentMirai, type MiraiInstrumentation } from '../src/index.js';
import { heldTasks } from '../src/instrument.js';
import { TestReader } from './helpers.js';

context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  await daemons(0);
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** The official SDK's provider, or a wrapper around it whose tracers the adapter does not recognise (its startSpan path). */
function host(wrapped: boolean) {
  const exporter = new InMemorySpanExporter();
  const sdk = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const tracerProvider: TracerProvider = wrapped
    ? {
        getTracer: (name: string) => {
          const t = sdk.getTracer(name);
          return { startSpan: t.startSpan.bind(t), startActiveSpan: t.startActiveSpan.bind(t) } as typeof t;
        },
      }
    : sdk;
  const reader = new TestReader();
  const inst: MiraiInstrumentation = instrumentMirai({ tracerProvider, meterProvider: new MeterProvider({ readers: [reader] }) });
  cleanups.push(() => inst.stop());
  const settled: TaskSettledEvent[] = [];
  const onSettled = (m: unknown): void => void settled.push(m as TaskSettledEvent);
  subscribe(MiraiChannel.taskSettled, onSettled);
  cleanups.push(() => void unsubscribe(MiraiChannel.taskSettled, onSettled));
  const spans = (): ReadableSpan[] => exporter.getFinishedSpans().filter((s) => s.name === 'mirai');
  const failed = async (): Promise<Record<string, number>> => {
    const rm: ResourceMetrics = (await reader.collect()).resourceMetrics;
    const m = rm.scopeMetrics.flatMap((s) => s.metrics).find((x) => x.descriptor.name === 'mirai.tasks.failed');
    return Object.fromEntries((m?.dataPoints ?? []).map((p) => [String(p.attributes['mirai.error.kind']), p.value as number]));
  };
  return { inst, spans, settled, failed };
}

/** Each span failed with `kind`: ERROR status, `error.type`, an exception event, its task id. */
function expectFailed(spans: readonly ReadableSpan[], kind: string): void {
  for (const s of spans) {
    expect(s.status.code).toBe(SpanStatusCode.ERROR);
    expect(s.attributes['error.type']).toBe(kind);
    expect(s.attributes['mirai.task.id']).toBeGreaterThan(0);
    expect(s.events.map((e) => e.name)).toEqual(['exception']);
  }
}

/** A value whose encoding waits `ms`, then fails if asked to. */
class Slow {
  constructor(
    readonly ms: number,
    readonly fail = false,
  ) {}
}
const slowSerializer = defineSerializer<Slow>({
  tag: 'test.slow',
  claims: (v): v is Slow => v instanceof Slow,
  encode: async (v) => {
    await new Promise((r) => setTimeout(r, v.ms));
    if (v.fail) throw new Error('slow encode failed');
    return new Uint8Array([1]);
  },
  decode: () => new Slow(0),
  // No daemon connects to these profiles: the ref is never loaded.
  ref: { specifier: 'unused', exportName: 'unused' },
});

describe.each([
  ['the official SDK', false],
  ['a tracer it does not recognise', true],
])('tasks that never reach the queue (%s)', (_name, wrapped) => {
  it('end one mirai span per QueueFullError, with ERROR and error.type, count it, and keep nothing', async () => {
    const { inst, spans, settled, failed } = host(wrapped);
    await daemons({ url: localUrl(), maxQueued: 1 });
    const queued = mirai(() => 'waits'); // no daemon: it stays queued
    const N = 2000;
    let refused = 0;
    for (let i = 0; i < N; i++) {
      try {
        mirai(() => 'one too many');
      } catch (err) {
        if (err instanceof QueueFullError) refused++;
      }
    }
    expect(refused).toBe(N);
    inst.flush();
    expect(heldTasks(inst), 'only the queued task holds a span').toBe(1);
    const ended = spans();
    expect(ended).toHaveLength(N);
    expectFailed(ended, 'queue-full');
    expect(new Set(ended.map((s) => s.attributes['mirai.task.id'])).size).toBe(N);
    expect(await failed()).toEqual({ 'queue-full': N });
    expect(settled.filter((e) => e.neverQueued === true && e.outcome === 'queue-full' && e.daemonId === undefined && e.bytesSent === 0)).toHaveLength(N);

    await daemons(0); // the queued task settles with the reset
    await expect(queued).rejects.toThrow();
    inst.flush();
    expect(heldTasks(inst)).toBe(0);
    expect(spans()).toHaveLength(N + 1);
    expect(settled.filter((e) => e.neverQueued !== true).map((e) => e.outcome)).toEqual(['connection-reset']);
  });

  it('end the span of a task whose async encode throws, times out, is cancelled or finds the queue full once built', async () => {
    const { inst, spans, settled, failed } = host(wrapped);
    await daemons({ url: localUrl(), serializers: [slowSerializer], maxQueued: 1 });
    const throws = mirai((s: Slow) => s, new Slow(1, true));
    const timesOut = mirai((s: Slow) => s, new Slow(300), { timeout: 50 });
    const cancelled = mirai((s: Slow) => s, new Slow(300));
    const queued = mirai((s: Slow) => s, new Slow(5)); // built first of the rest: takes the queue's one place
    const full = mirai((s: Slow) => s, new Slow(20));
    const aborted = mirai((s: Slow) => s, new Slow(1), { signal: AbortSignal.abort() });
    cancelled.cancel();
    await expect(throws).rejects.toBeInstanceOf(SerializationError);
    await expect(timesOut).rejects.toBeInstanceOf(TimeoutError);
    await expect(cancelled).rejects.toBeInstanceOf(CancelledError);
    await expect(full).rejects.toBeInstanceOf(QueueFullError);
    await expect(aborted).rejects.toBeInstanceOf(CancelledError);
    await new Promise((r) => setTimeout(r, 400)); // the slow encodes finish: their tasks are not queued late
    inst.flush();
    expect(heldTasks(inst), 'only the queued task holds a span').toBe(1);
    const byId = new Map(spans().map((s) => [s.attributes['mirai.task.id'], s]));
    expect(byId.size).toBe(spans().length); // each ended once
    expectFailed([byId.get(throws.id)!], 'serialize');
    expectFailed([byId.get(timesOut.id)!], 'timeout');
    expectFailed([byId.get(cancelled.id)!], 'cancelled');
    expectFailed([byId.get(full.id)!], 'queue-full');
    expect(byId.has(queued.id)).toBe(false);
    // A signal aborted before submission: no context was asked for, but the task is counted.
    expect(byId.has(aborted.id)).toBe(false);
    expect(spans()).toHaveLength(4);
    expect(await failed()).toEqual({ serialize: 1, timeout: 1, cancelled: 2, 'queue-full': 1 });
    expect(settled.every((e) => e.neverQueued === true)).toBe(true);
    expect(settled.map((e) => e.taskId).sort()).toEqual([throws.id, timesOut.id, cancelled.id, full.id, aborted.id].sort());

    await daemons(0);
    await expect(queued).rejects.toThrow();
    inst.flush();
    expect(heldTasks(inst)).toBe(0);
    expect(spans()).toHaveLength(5);
    expect(byId.has(queued.id)).toBe(false);
    expect(settled.filter((e) => e.taskId === queued.id).map((e) => [e.outcome, e.neverQueued])).toEqual([['connection-reset', undefined]]);
  });

  it('end the span of a map chunk refused by a full queue', async () => {
    const { inst, spans } = host(wrapped);
    await daemons({ url: localUrl(), maxQueued: 2 });
    const items = Array.from({ length: 30 }, (_, i) => i);
    // Three chunks of ten: the third finds the queue full, and the map cancels the two before it.
    expect(() => miraiMap(items, (x: number) => x, { chunk: 10 })).toThrow(QueueFullError);
    inst.flush();
    expect(heldTasks(inst)).toBe(0);
    expect(spans().filter((s) => s.attributes['error.type'] === 'queue-full')).toHaveLength(1);
  });

  it('end the span of a task whose arguments cannot be sent, on a daemon profile and a sync one', async () => {
    const { inst, spans, failed } = host(wrapped);
    await daemons({ url: localUrl() });
    expect(() => mirai((f: unknown) => f, { f: () => 1 } as never)).toThrow(SerializationError);
    await daemons(0);
    await daemons({ sync: true });
    expect(() => mirai((f: unknown) => f, { f: Symbol('no') } as never)).toThrow(SerializationError);
    inst.flush();
    expect(heldTasks(inst)).toBe(0);
    expect(spans()).toHaveLength(2);
    expectFailed(spans(), 'serialize');
    expect(await failed()).toEqual({ serialize: 2 });
  });
});
