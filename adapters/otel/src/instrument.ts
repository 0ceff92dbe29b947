/**
 * The host half: subscribes to mirai-ts's lifecycle channels and turns them into spans and
 * metrics, and installs the trace context provider that sends each `mirai` span's context
 * with its task, so the daemon's `daemon eval` span is its child.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import {
  context,
  metrics,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type BatchObservableCallback,
  type Context,
  type MeterProvider,
  type Span,
  type SpanOptions,
  type TracerProvider,
} from '@opentelemetry/api';
import {
  MiraiChannel,
  setTraceContextProvider,
  status,
  traceContextProvider,
  type DaemonEvent,
  type DaemonLaunchedEvent,
  type MapEvent,
  type ProfileResetEvent,
  type ProfileSetEvent,
  type TaskSettledEvent,
  type TraceTaskInfo,
} from '@mirai-ts/core';
import { checkOptions, type OptionRules } from '@mirai-ts/core/plugin';
import { urlAttributes } from './attributes.js';
import { decideHostSpan, PendingHostSpan, SdkTracerFinder } from './host-span.js';
import { attempt, reportTracingError, reporting } from './report-error.js';
import { toTraceHeaders } from './trace-header.js';

/** Options of {@link instrumentMirai}. */
export interface InstrumentOptions {
  /** Default: the global tracer provider (`trace.getTracerProvider()`). */
  readonly tracerProvider?: TracerProvider;
  /** Default: the global meter provider. */
  readonly meterProvider?: MeterProvider;
}

/** An installed instrumentation. */
export interface MiraiInstrumentation {
  /**
   * Ends the `mirai` spans and records the metrics of tasks that have settled. They are
   * otherwise done off the round trip, in runs (128 settled tasks, or 50 ms after the first of a
   * run); call this before shutting an SDK down right after a task settled (`await mirai(...)`
   * then `await provider.shutdown()`). `daemons(0)`, `stop()`, metric collection and process
   * exit do it too.
   */
  flush(): void;
  /**
   * Flushes, unsubscribes, removes its trace context provider (unless a newer instrumentation
   * installed its own since) and ends spans still open.
   */
  stop(): void;
}

const SCOPE = '@mirai-ts/otel';
/** A provider is any object with the factory method the API calls (an SDK's, or a wrapper). */
const hasMethod =
  (method: string, expected: string) =>
  (v: unknown): string | undefined =>
    typeof v === 'object' && v !== null && typeof (v as Record<string, unknown>)[method] === 'function' ? undefined : expected;
const INSTRUMENT_RULES: OptionRules = {
  tracerProvider: hasMethod('getTracer', 'a TracerProvider (an object with getTracer())'),
  meterProvider: hasMethod('getMeter', 'a MeterProvider (an object with getMeter())'),
};

/**
 * Starts tracing and metering mirai-ts in this process. Inert (no-op spans, no context on the
 * wire) until an OpenTelemetry SDK is registered or given. One instrumentation at a time: the
 * last one installed sends trace context.
 */
export function instrumentMirai(options: InstrumentOptions = {}): MiraiInstrumentation {
  checkOptions('instrumentMirai()', options, INSTRUMENT_RULES);
  const tracerProvider = options.tracerProvider ?? trace.getTracerProvider();
  const tracer = tracerProvider.getTracer(SCOPE);
  const sdk = new SdkTracerFinder(tracerProvider, SCOPE);
  const meter = (options.meterProvider ?? metrics.getMeterProvider()).getMeter(SCOPE);
  const profiles = new Map<string, { url: string; attrs: Attributes; spanOptions: SpanOptions; setSpan: Span | undefined; awaited: number; connected: number }>();
  /** Open `mirai` spans by task: pending (made when the task settles, see host-span.ts) or the SDK's. */
  const tasks = new Map<number, PendingHostSpan | Span>();
  const maps = new Map<number, { span: Span; ctx: Context }>();

  // Counters are observed: a task adds to plain numbers here, and the SDK reads the totals
  // when it collects, so the task path does no attribute hashing for them.
  const completed = meter.createObservableCounter('mirai.tasks.completed', { description: 'Tasks settled with a value' });
  const failed = meter.createObservableCounter('mirai.tasks.failed', { description: 'Tasks settled with an error, by error kind' });
  const sent = meter.createObservableCounter('mirai.bytes.sent', { unit: 'By', description: 'Bytes of task frames sent to daemons' });
  const received = meter.createObservableCounter('mirai.bytes.received', { unit: 'By', description: 'Bytes of result frames received' });
  const duration = meter.createHistogram('mirai.task.duration', { unit: 'ms', description: 'Queued to settled' });
  /** Totals per profile, kept after a reset: counters only go up. */
  const totals = new Map<string, { completed: number; failed: Map<string, number>; sent: number; received: number }>();
  const totalsOf = (profile: string): NonNullable<ReturnType<typeof totals.get>> => {
    let t = totals.get(profile);
    if (t === undefined) totals.set(profile, (t = { completed: 0, failed: new Map(), sent: 0, received: 0 }));
    return t;
  };
  const observeTotals: BatchObservableCallback = (result) => {
    flushSettled();
    // Sync instruments recorded in an observable callback count in this collection: the SDK
    // runs the callbacks before it reads the instruments' storage.
    recordDurations();
    for (const [profile, t] of totals) {
      const attrs = metricAttrs(profile, undefined);
      result.observe(completed, t.completed, attrs);
      for (const [kind, n] of t.failed) result.observe(failed, n, metricAttrs(profile, kind));
      result.observe(sent, t.sent, attrs);
      result.observe(received, t.received, attrs);
    }
  };
  meter.addBatchObservableCallback(observeTotals, [completed, failed, sent, received]);
  const depth = meter.createObservableGauge('mirai.queue.depth', { description: 'Tasks queued at the host' });
  const daemonsGauge = meter.createObservableGauge('mirai.daemons.connected', { description: 'Daemons connected' });
  const observe = (result: { observe(v: number, a: Attributes): void }, pick: 'awaiting' | 'connections'): void => {
    for (const name of profiles.keys()) {
      const s = status(name);
      if (s !== undefined) result.observe(s[pick], { 'mirai.profile': name });
    }
  };
  const observeDepth = (r: Parameters<Parameters<typeof depth.addCallback>[0]>[0]): void => observe(r, 'awaiting');
  const observeDaemons = (r: Parameters<Parameters<typeof daemonsGauge.addCallback>[0]>[0]): void => observe(r, 'connections');
  depth.addCallback(observeDepth);
  daemonsGauge.addCallback(observeDaemons);

  // Metric attributes, made once per profile and outcome (the key '' stands for none): the task
  // path allocates none.
  const metricAttrCache = new Map<string, Map<string, Attributes>>();
  const metricAttrs = (profile: string, outcome: string | undefined): Attributes => {
    let byOutcome = metricAttrCache.get(profile);
    if (byOutcome === undefined) metricAttrCache.set(profile, (byOutcome = new Map()));
    let attrs = byOutcome.get(outcome ?? '');
    if (attrs === undefined) {
      attrs = outcome === undefined ? { 'mirai.profile': profile } : { 'mirai.profile': profile, 'mirai.outcome': outcome, ...(outcome === 'ok' ? {} : { 'mirai.error.kind': outcome }) };
      byOutcome.set(outcome ?? '', attrs);
    }
    return attrs;
  };

  // Task durations go into the histogram in runs, not one by one: each record makes the SDK
  // hash the attributes and find their storage, which cost more on a round trip's path (cold
  // caches, between two socket writes) than the rest of a settled task's metrics. A run is
  // recorded when it reaches DURATION_RUN values, when the metrics are collected (the values
  // then count in that collection, as if recorded at once), at stop() and flush().
  const DURATION_RUN = 512;
  const durations = new Map<Attributes, number[]>();
  let durationCount = 0;
  const recordDuration = (attrs: Attributes, ms: number): void => {
    let run = durations.get(attrs);
    if (run === undefined) durations.set(attrs, (run = []));
    run.push(ms);
    if (++durationCount >= DURATION_RUN) recordDurations();
  };
  function recordDurations(): void {
    if (durationCount === 0) return;
    durationCount = 0;
    for (const [attrs, run] of durations) {
      for (let i = 0; i < run.length; i++) duration.record(run[i]!, attrs);
      run.length = 0;
    }
  }
  const attrsOf = (profile: string): Attributes => profiles.get(profile)?.attrs ?? { 'mirai.profile': profile };
  const spanOptionsOf = (profile: string): SpanOptions => profiles.get(profile)?.spanOptions ?? { kind: SpanKind.CLIENT, attributes: { 'mirai.profile': profile } };
  // On its own: a processor that throws for it leaves the rest of the event's handler to run.
  const instant = (name: string, attrs: Attributes, kind = SpanKind.INTERNAL): void => attempt(`a ${name} span`, () => tracer.startSpan(name, { kind, attributes: attrs }).end());

  const handlers: Record<string, (message: unknown) => void> = {
    [MiraiChannel.profileSet]: (m) => {
      const e = m as ProfileSetEvent;
      // Made once per profile: every task's span shares them.
      const attrs: Attributes = { 'mirai.profile': e.profile, ...urlAttributes(e.url) };
      const setSpan = e.n > 0 ? tracer.startSpan('daemons set', { attributes: { 'mirai.profile': e.profile, 'mirai.daemons': e.n, ...attrs } }) : undefined;
      if (e.n === 0) instant('daemons set', { 'mirai.profile': e.profile, 'mirai.daemons': 0, ...attrs });
      profiles.set(e.profile, { url: e.url, attrs, spanOptions: { kind: SpanKind.CLIENT, attributes: { 'mirai.profile': e.profile } }, setSpan, awaited: e.n, connected: 0 });
    },
    [MiraiChannel.daemonLaunched]: (m) => {
      const e = m as DaemonLaunchedEvent;
      profiles.get(e.profile)?.setSpan?.addEvent('launched', { 'mirai.launcher': e.launcher, 'mirai.daemons': e.count });
    },
    [MiraiChannel.daemonConnected]: (m) => {
      const e = m as DaemonEvent;
      instant('daemon connect', daemonAttrs(e, attrsOf(e.profile)), SpanKind.SERVER);
      const p = profiles.get(e.profile);
      if (p?.setSpan !== undefined && ++p.connected >= p.awaited) {
        p.setSpan.end();
        p.setSpan = undefined;
      }
    },
    [MiraiChannel.daemonLost]: (m) => disconnect(m as DaemonEvent, 'lost'),
    [MiraiChannel.daemonDisconnected]: (m) => disconnect(m as DaemonEvent, 'disconnected'),
    // The task path only notes the event and its time: the rest waits for flushSettled().
    [MiraiChannel.taskSettled]: (m) => {
      settledEvents.push(m as TaskSettledEvent);
      settledAt.push(performance.now());
      if (settledEvents.length >= SETTLED_RUN) {
        if (!flushScheduled) {
          flushScheduled = true;
          queueMicrotask(flushAfterMicrotasks);
        }
      } else if (flushTimer === undefined) {
        flushTimer = setTimeout(flushLater, SETTLED_WAIT_MS);
        flushTimer.unref();
      }
    },
    [MiraiChannel.mapStart]: (m) => {
      const e = m as MapEvent;
      const span = tracer.startSpan('mirai_map', { attributes: { ...attrsOf(e.profile), 'mirai.map.size': e.size } });
      maps.set(e.mapId, { span, ctx: trace.setSpan(context.active(), span) });
    },
    [MiraiChannel.mapEnd]: (m) => {
      const e = m as MapEvent;
      const entry = maps.get(e.mapId);
      if (entry === undefined) return;
      flushSettled(); // its tasks' spans end before it
      maps.delete(e.mapId);
      entry.span.setAttribute('mirai.map.failed', e.failed ?? 0);
      if ((e.failed ?? 0) > 0) entry.span.setStatus({ code: SpanStatusCode.ERROR, message: `${e.failed} of ${e.size} tasks failed` });
      entry.span.end();
    },
    [MiraiChannel.profileReset]: (m) => {
      const e = m as ProfileResetEvent;
      flushSettled(); // the profile's last tasks end before its reset
      instant('daemons reset', { ...attrsOf(e.profile), 'mirai.reason': e.reason });
      const p = profiles.get(e.profile);
      p?.setSpan?.end();
      profiles.delete(e.profile);
    },
  };

  // What a settled task costs beyond noting it (its counters, its duration in the histogram,
  // its `mirai` span made, handed to the span processors and ended) runs in runs of tasks: when
  // SETTLED_RUN tasks have settled (once the microtasks of that turn have run, so after the
  // caller has resumed and sent its next task), or SETTLED_WAIT_MS after the first of a run,
  // whichever comes first. One task at a time, this work ran with cold caches between two
  // socket writes and cost several times what it costs in a run. Spans still start when their
  // task was submitted and end when it settled; only their delivery to the processors waits.
  // Anything that reads the results flushes first: the observed counters when collected, a
  // map's end, a profile's reset, stop(), flush(), and process exit.
  const SETTLED_RUN = 128;
  const SETTLED_WAIT_MS = 50;
  const settledEvents: TaskSettledEvent[] = [];
  const settledAt: number[] = [];
  let flushScheduled = false;
  let flushTimer: NodeJS.Timeout | undefined;
  const flushLater = (): void => {
    flushScheduled = false;
    flushSettled();
  };
  const flushAfterMicrotasks = (): void => process.nextTick(flushLater);
  /** Set while flushSettled runs: a span processor calling flush() from onEnd must not start over. */
  let flushing = false;
  function flushSettled(): void {
    if (flushTimer !== undefined) {
      clearTimeout(flushTimer);
      flushTimer = undefined;
    }
    // Re-entered (a span processor's onEnd called flush()): the run under way handles every
    // event, including any added meanwhile; a second run from index 0 would count the handled
    // ones again.
    if (flushing) return;
    flushing = true;
    // Indexed, not iterated: a span processor may settle more tasks while this runs.
    let handled = 0;
    try {
      while (handled < settledEvents.length) {
        const i = handled++;
        settle(settledEvents[i]!, settledAt[i]!);
      }
    } finally {
      // What was handled leaves the run even if something threw past settle()'s own guard:
      // counted again by the next flush, a task would inflate the counters.
      if (handled === settledEvents.length) {
        settledEvents.length = 0;
        settledAt.length = 0;
      } else {
        settledEvents.splice(0, handled);
        settledAt.splice(0, handled);
      }
      flushing = false;
    }
  }

  /** Counts a settled task, and ends its `mirai` span if it has one. */
  function settle(e: TaskSettledEvent, at: number): void {
    const t = totalsOf(e.profile);
    if (e.outcome === 'ok') t.completed++;
    else t.failed.set(e.outcome, (t.failed.get(e.outcome) ?? 0) + 1);
    t.sent += e.bytesSent;
    t.received += e.bytesReceived;
    if (Number.isFinite(e.totalMs)) recordDuration(metricAttrs(e.profile, e.outcome), e.totalMs);
    const entry = tasks.get(e.taskId);
    if (entry === undefined) return;
    tasks.delete(e.taskId);
    // Runs from a timer: a span processor that throws here would end the host.
    try {
      const span = entry instanceof PendingHostSpan ? entry.start() : entry;
      span.setAttributes(attrsOf(e.profile));
      span.setAttribute('mirai.task.id', e.taskId);
      if (e.daemonId !== undefined) span.setAttribute('mirai.daemon.id', e.daemonId);
      if (e.error !== undefined) {
        span.recordException(e.error, at);
        span.setStatus({ code: SpanStatusCode.ERROR, message: e.error.message });
        span.setAttribute('error.type', e.outcome);
      }
      span.end(at);
    } catch (error) {
      reportTracingError(`the mirai span of task ${e.taskId}`, error);
    }
  }

  function disconnect(e: DaemonEvent, how: 'lost' | 'disconnected'): void {
    attempt('a daemon disconnect span', () => {
      const span = tracer.startSpan('daemon disconnect', { kind: SpanKind.SERVER, attributes: { ...daemonAttrs(e, attrsOf(e.profile)), 'mirai.disconnect': how } });
      if (how === 'lost') span.setStatus({ code: SpanStatusCode.ERROR, message: 'daemon lost' });
      span.end();
    });
  }

  // The `mirai` span: started where the task is submitted (the caller's context, or its map's),
  // its context sent with the task; ended when the task settles. With the official SDK only the
  // sampling decision and the ids are made here (host-span.ts); otherwise the SDK's startSpan.
  const provider = (task: TraceTaskInfo): { traceparent: string; tracestate?: string } | undefined => {
    const parent = task.mapId === undefined ? context.active() : (maps.get(task.mapId)?.ctx ?? context.active());
    const parts = sdk.parts();
    if (parts !== undefined) {
      const decided = decideHostSpan(parts, parent, { 'mirai.profile': task.profile });
      if (decided === undefined) return undefined;
      if (decided.pending !== undefined) tasks.set(task.taskId, decided.pending);
      return toTraceHeaders(decided.context);
    }
    const span = tracer.startSpan('mirai', spanOptionsOf(task.profile), parent);
    const headers = toTraceHeaders(span.spanContext());
    if (headers === undefined || !span.isRecording()) {
      span.end();
      return headers;
    }
    tasks.set(task.taskId, span);
    return headers;
  };

  // The handlers start and end spans in channel subscribers, where a throw (a span processor
  // that throws) is an uncaught exception: reported instead, whatever a handler did not guard
  // itself. The task path's own handler only notes its event, and stays as it is.
  const subscribed = Object.entries(handlers).map(([name, fn]) => [name, name === MiraiChannel.taskSettled ? fn : reporting(`the span of ${name}`, fn)] as const);
  for (const [name, fn] of subscribed) subscribe(name, fn);
  setTraceContextProvider(provider);
  // A host that exits in the turn its last task settled still ends that task's span (which a
  // synchronous span processor then exports).
  process.on('exit', flushSettled);
  let stopped = false;
  const instrumentation: MiraiInstrumentation = {
    flush() {
      flushSettled();
      recordDurations();
    },
    stop() {
      if (stopped) return;
      stopped = true;
      for (const [name, fn] of subscribed) unsubscribe(name, fn);
      // Only its own: a newer instrumentation installed since sends trace context still.
      if (traceContextProvider() === provider) setTraceContextProvider(undefined);
      process.off('exit', flushSettled);
      flushSettled();
      recordDurations();
      meter.removeBatchObservableCallback(observeTotals, [completed, failed, sent, received]);
      depth.removeCallback(observeDepth);
      daemonsGauge.removeCallback(observeDaemons);
      // Tasks still running (core reports every task it asked a context for settled, also one
      // that never reached the queue): their spans end here, named by their task, each on its
      // own (one whose processor throws leaves the others to end).
      for (const [taskId, entry] of tasks) {
        attempt(`the mirai span of task ${taskId}`, () => {
          const span = entry instanceof PendingHostSpan ? entry.start() : entry;
          span.setAttribute('mirai.task.id', taskId);
          span.end();
        });
      }
      for (const { span } of maps.values()) attempt('a mirai_map span', () => span.end());
      // A profile whose daemons are still on their way has its `daemons set` span open.
      for (const { setSpan } of profiles.values()) if (setSpan !== undefined) attempt('a daemons set span', () => setSpan.end());
      tasks.clear();
      maps.clear();
      profiles.clear();
    },
  };
  openSpans.set(instrumentation, () => tasks.size + settledEvents.length);
  return instrumentation;
}

/** Per instrumentation: its open `mirai` spans and settled tasks not yet flushed. */
const openSpans = new WeakMap<MiraiInstrumentation, () => number>();

/**
 * @internal For tests: how many `mirai` spans `inst` holds open (tasks it gave a trace context
 * whose settlement it has not handled), plus settled tasks waiting for the next flush.
 */
export function heldTasks(inst: MiraiInstrumentation): number {
  return openSpans.get(inst)?.() ?? 0;
}

function daemonAttrs(e: DaemonEvent, base: Attributes): Attributes {
  const attrs: Attributes = { ...base, 'mirai.daemon.id': e.daemonId };
  if (e.pid !== undefined) attrs['process.pid'] = e.pid;
  if (e.hostname !== undefined) attrs['host.name'] = e.hostname;
  if (e.peer !== undefined) attrs['network.peer.address'] = e.peer;
  return attrs;
}
