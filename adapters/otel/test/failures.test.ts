/**
 * When tracing goes wrong, the host and its daemons go on: a span processor that throws is
 * reported through OpenTelemetry's `diag` (it ran in a timer or a microtask, where it ended the
 * process) and every task is counted once; a wrong tracer is refused when given. And stop()
 * undoes only its own: a newer instrumentation keeps tracing, a profile whose daemons are on
 * their way has its `daemons set` span ended. Real daemons, the official SDK.
 */
import { channel, subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterEach, describe, expect, it } from 'vitest';
import { diag, DiagLogLevel, type DiagLogger } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { ConfigError, daemons, mirai, MiraiChannel, traceContextProvider, type DaemonTaskEndEvent, type DaemonTaskStartEvent } from '@mirai-ts/core';
import { instrumentMirai, traceDaemonTasks } from '../src/index.js';
import { TestReader, until } from './helpers.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  await daemons(0);
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** What `diag.error` is told, for the length of the test. */
function diagErrors(): unknown[][] {
  const errors: unknown[][] = [];
  const quiet = (): void => {};
  const logger: DiagLogger = { error: (...args) => void errors.push(args), warn: quiet, info: quiet, debug: quiet, verbose: quiet };
  diag.setLogger(logger, DiagLogLevel.ERROR);
  cleanups.push(() => diag.disable());
  return errors;
}

/** A span processor that throws from onEnd for the `throwAt`-th span named `name`, and keeps the names of those it saw end. */
function throwingProcessor(name: string, throwAt: number) {
  const ended: ReadableSpan[] = [];
  let seen = 0;
  const processor: SpanProcessor = {
    onStart: () => {},
    onEnd: (span) => {
      if (span.name === name && ++seen === throwAt) throw new Error('processor failed once');
      ended.push(span);
    },
    forceFlush: async () => {},
    shutdown: async () => {},
  };
  return { processor, ended, seen: () => seen };
}

describe('a span processor that throws', () => {
  it('on a host mirai span is reported through diag, ends no host, and leaves every task counted once', async () => {
    const errors = diagErrors();
    const { processor, ended, seen } = throwingProcessor('mirai', 3);
    const reader = new TestReader();
    const inst = instrumentMirai({ tracerProvider: new BasicTracerProvider({ spanProcessors: [processor] }), meterProvider: new MeterProvider({ readers: [reader] }) });
    cleanups.push(() => inst.stop());
    await daemons(1);
    await Promise.all([1, 2, 3, 4, 5].map((i) => mirai((x: number) => x, i)));
    // Handed to the processor by the 50 ms timer, where the throw was an uncaught exception
    // that stopped the run at the third span.
    await until(() => seen() === 5, 2_000);
    await mirai(() => 6);
    const rm = (await reader.collect()).resourceMetrics;
    const completed = rm.scopeMetrics.flatMap((s) => s.metrics).find((m) => m.descriptor.name === 'mirai.tasks.completed')!;
    // Counted again by the next flush, the three tasks before the throw made it 9.
    expect(completed.dataPoints.map((p) => p.value)).toEqual([6]);
    expect(ended.filter((s) => s.name === 'mirai')).toHaveLength(5);
    expect(errors).toHaveLength(1);
    expect(String(errors[0]![0])).toMatch(/^@mirai-ts\/otel: the mirai span of task \d+ threw/);
    expect((errors[0]![1] as Error).message).toBe('processor failed once');
  });

  it('that calls flush() from onEnd leaves every task counted once', async () => {
    let inst: ReturnType<typeof instrumentMirai> | undefined;
    let flushes = 0;
    const processor: SpanProcessor = {
      onStart: () => {},
      onEnd: (span) => {
        if (span.name !== 'mirai') return;
        flushes++;
        inst!.flush(); // e.g. a processor that exports at once and wants the counters current
      },
      forceFlush: async () => {},
      shutdown: async () => {},
    };
    const reader = new TestReader();
    inst = instrumentMirai({ tracerProvider: new BasicTracerProvider({ spanProcessors: [processor] }), meterProvider: new MeterProvider({ readers: [reader] }) });
    cleanups.push(() => inst!.stop());
    await daemons(1);
    await Promise.all([1, 2, 3, 4, 5].map((i) => mirai((x: number) => x, i)));
    inst.flush();
    expect(flushes).toBe(5);
    const rm = (await reader.collect()).resourceMetrics;
    const completed = rm.scopeMetrics.flatMap((s) => s.metrics).find((m) => m.descriptor.name === 'mirai.tasks.completed')!;
    // Re-entered, each flush started over at the first event: the tasks it had counted were counted again (20).
    expect(completed.dataPoints.map((p) => p.value)).toEqual([5]);
  });

  it('on a lifecycle span (daemon connect) is reported, and the daemons set span still ends when the daemons are in', async () => {
    const errors = diagErrors();
    const { processor, ended } = throwingProcessor('daemon connect', 1);
    const inst = instrumentMirai({ tracerProvider: new BasicTracerProvider({ spanProcessors: [processor] }) });
    cleanups.push(() => inst.stop());
    // Thrown in a channel subscriber, it was an uncaught exception (Node rethrows it on the next tick).
    await daemons(2);
    expect(await mirai(() => 'still tracing')).toBe('still tracing');
    expect(ended.map((s) => s.name).filter((n) => n !== 'mirai')).toEqual(['daemon connect', 'daemons set']);
    expect(errors.map((e) => String(e[0]))).toEqual(['@mirai-ts/otel: a daemon connect span threw; that span is dropped']);
  });

  it('on a daemon eval span of traceDaemonTasks is reported, and the daemon\'s later spans still end', async () => {
    const errors = diagErrors();
    const { processor, ended } = throwingProcessor('daemon eval', 1);
    const tracing = traceDaemonTasks(new BasicTracerProvider({ spanProcessors: [processor] }).getTracer('daemon'));
    cleanups.push(() => tracing.stop());
    // The task channels as a daemon's loop publishes them, a task at a time.
    for (const taskId of [1, 2]) {
      const start: DaemonTaskStartEvent = { taskId, daemonId: 1, everywhere: false, traceparent: undefined, tracestate: undefined };
      channel(MiraiChannel.daemonTaskStart).publish(start);
      expect(tracing.run(taskId, () => taskId * 2)).toBe(taskId * 2);
      const end: DaemonTaskEndEvent = { taskId, daemonId: 1, ok: true, error: undefined };
      channel(MiraiChannel.daemonTaskEnd).publish(end);
      await new Promise((r) => setTimeout(r, 10)); // the spans end in a microtask
    }
    // The throw was an uncaught exception in a microtask (the daemon's end), and the run it
    // left behind queued no later flush: task 2's span never ended.
    expect(ended.map((s) => s.attributes['mirai.task.id'])).toEqual([2]);
    expect(errors).toHaveLength(1);
    expect(String(errors[0]![0])).toMatch(/the daemon span of task 1 threw/);
  });
});

describe('traceDaemonTasks', () => {
  it('refuses a tracer without startSpan() when given, not when a task ends', () => {
    for (const bad of [undefined, null, {}, 'tracer', { startSpan: 1 }]) {
      expect(() => traceDaemonTasks(bad as never)).toThrow(ConfigError);
    }
    expect(() => traceDaemonTasks(undefined as never)).toThrow(/^traceDaemonTasks\(tracer\): tracer must be an OpenTelemetry Tracer \(an object with startSpan\(\).*\), got undefined$/);
    expect(() => traceDaemonTasks({} as never)).toThrow(/tracer must be an OpenTelemetry Tracer .*, got \{\}$/);
  });
});

describe('stop()', () => {
  function host() {
    const exporter = new InMemorySpanExporter();
    const inst = instrumentMirai({ tracerProvider: new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }) });
    cleanups.push(() => inst.stop());
    return { inst, mirais: () => exporter.getFinishedSpans().filter((s) => s.name === 'mirai') };
  }

  it('of an older instrumentation leaves the newer one sending trace context', async () => {
    await daemons(1);
    const older = host();
    const newer = host(); // the last installed sends trace context
    await mirai(() => 1);
    older.inst.stop();
    await mirai(() => 2);
    await mirai(() => 3);
    newer.inst.flush();
    expect(newer.mirais()).toHaveLength(3);
    expect(older.mirais()).toHaveLength(0);
    newer.inst.stop();
    expect(traceContextProvider()).toBeUndefined();
  });

  it('ends the daemons set span of a profile whose daemons are still on their way', async () => {
    const open = new Set<string>();
    const processor: SpanProcessor = {
      onStart: (span) => void open.add(`${span.name} ${span.spanContext().spanId}`),
      onEnd: (span) => void open.delete(`${span.name} ${span.spanContext().spanId}`),
      forceFlush: async () => {},
      shutdown: async () => {},
    };
    const inst = instrumentMirai({ tracerProvider: new BasicTracerProvider({ spanProcessors: [processor] }) });
    cleanups.push(() => inst.stop());
    let set!: () => void;
    const profileSet = new Promise<void>((resolve) => (set = resolve));
    const onSet = (): void => set();
    subscribe(MiraiChannel.profileSet, onSet);
    cleanups.push(() => void unsubscribe(MiraiChannel.profileSet, onSet));
    const starting = daemons(2);
    await profileSet; // the profile is set, its daemons are launching
    const setOpen = [...open].map((s) => s.split(' ').slice(0, -1).join(' '));
    inst.stop();
    await starting;
    expect(setOpen).toEqual(['daemons set']);
    expect([...open]).toEqual([]);
  });
});
