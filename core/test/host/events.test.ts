/**
 * Lifecycle channels (events.ts) against in-memory daemons: what a subscriber sees for
 * launches, connections, queueing, assignment, settling with timings, cancels, retries and
 * resets; and the W3C trace context segment of task frames.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterEach, describe, expect, it } from 'vitest';
import { CancelledError } from '../../src/errors.js';
import { MiraiChannel, type TaskSettledEvent } from '../../src/events.js';
import { DaemonPool } from '../../src/host/pool.js';
import { resolveProfileOptions, type DaemonsOptions } from '../../src/host/profile-options.js';
import { isTraceparent, setTraceContextProvider, traceContextFor } from '../../src/trace-context.js';
import { FrameFlag, FrameType, jsonSegment, type Frame } from '../../src/wire/frame.js';
import { buildTaskFrame, decodeTaskParams, readTraceContext } from '../../src/wire/task-frame.js';
import { FakeLauncher, HOLD, memoryTransport, RecordedOutcome, until, type Behaviour } from '../support/memory-transport.js';

let nextId = 5000;
function request(arg: unknown, retry = 0) {
  const outcome = new RecordedOutcome(nextId++);
  return { id: outcome.id, fn: (x: unknown) => x, params: [{ value: arg, name: 'args' }], outcome, retry };
}

async function open(launcher: FakeLauncher, options: DaemonsOptions = {}) {
  const settings = resolveProfileOptions('events', { url: 'memory://', transports: [memoryTransport], launcher, log: () => {}, ...options }, () => 'memory://');
  return DaemonPool.open(settings);
}

/** Records every channel's messages, in order, as [channel, message]. */
function record(): { seen: [string, Record<string, unknown>][]; stop: () => void } {
  const seen: [string, Record<string, unknown>][] = [];
  const handlers = Object.values(MiraiChannel).map((name) => {
    const fn = (message: unknown): void => void seen.push([name, message as Record<string, unknown>]);
    subscribe(name, fn);
    return () => unsubscribe(name, fn);
  });
  return { seen, stop: () => handlers.forEach((h) => h()) };
}

const echo: Behaviour = ([x]) => x;
let stop: (() => void) | undefined;
afterEach(() => {
  stop?.();
  setTraceContextProvider(undefined);
});

describe('lifecycle channels', () => {
  it('follow a task from queued to settled with timings and bytes, and daemons from launch to reset', async () => {
    const rec = record();
    stop = rec.stop;
    const launcher = new FakeLauncher(echo);
    const pool = await open(launcher);
    await pool.launch(2);
    const r = request('hello');
    pool.submit(r);
    await until(() => r.outcome.settled);
    await pool.close();
    const names = rec.seen.map(([n]) => n);
    expect(names.filter((n) => n === MiraiChannel.daemonLaunched)).toHaveLength(1);
    expect(rec.seen.find(([n]) => n === MiraiChannel.daemonLaunched)![1]).toMatchObject({ profile: 'events', launcher: 'fake', count: 2 });
    expect(names.filter((n) => n === MiraiChannel.daemonConnected)).toHaveLength(2);
    const mine = rec.seen.filter(([, m]) => m.taskId === r.id).map(([n]) => n);
    expect(mine).toEqual([MiraiChannel.taskQueued, MiraiChannel.taskAssigned, MiraiChannel.taskSettled]);
    const settled = rec.seen.find(([n, m]) => n === MiraiChannel.taskSettled && m.taskId === r.id)![1] as unknown as TaskSettledEvent;
    expect(settled.outcome).toBe('ok');
    expect(settled.daemonId).toBeGreaterThan(0);
    expect(settled.queuedMs).toBeGreaterThanOrEqual(0);
    expect(settled.runMs).toBeGreaterThanOrEqual(0);
    expect(settled.totalMs).toBeCloseTo(settled.queuedMs + settled.runMs, 5);
    expect(settled.bytesSent).toBeGreaterThan(0);
    expect(settled.bytesReceived).toBeGreaterThan(0);
    expect(names).toContain(MiraiChannel.profileReset);
    // Reset comes before the daemons' disconnections it causes.
    expect(names.indexOf(MiraiChannel.profileReset)).toBeLessThan(names.indexOf(MiraiChannel.daemonDisconnected));
  });

  it('report a failure by its kind, a cancel, a retry on a lost daemon, and the daemon lost', async () => {
    const rec = record();
    stop = rec.stop;
    const launcher = new FakeLauncher(([x]) => {
      if (x === 'boom') throw new Error('boom');
      return HOLD;
    });
    const pool = await open(launcher, { repair: false });
    await pool.launch(2);
    const bad = request('boom');
    pool.submit(bad);
    await until(() => bad.outcome.settled);
    const held = request('held');
    const sub = pool.submit(held);
    const retried = request('again', 1);
    pool.submit(retried);
    await until(() => launcher.daemons.every((d) => d.held.size === 1));
    sub.cancel(new CancelledError('test'));
    const runner = launcher.daemons.find((d) => d.received.includes(retried.id))!;
    runner.crash();
    await until(() => rec.seen.some(([n]) => n === MiraiChannel.taskRetried));
    await pool.close();
    const find = (name: string, id: number) => rec.seen.find(([n, m]) => n === name && m.taskId === id)?.[1];
    expect(find(MiraiChannel.taskSettled, bad.id)).toMatchObject({ outcome: 'task' });
    expect(find(MiraiChannel.taskCancelled, held.id)).toMatchObject({ running: true });
    expect(find(MiraiChannel.taskSettled, held.id)).toMatchObject({ outcome: 'cancelled' });
    expect(find(MiraiChannel.taskRetried, retried.id)).toMatchObject({ daemonId: runner.daemonId, retriesLeft: 0 });
    expect(rec.seen.some(([n, m]) => n === MiraiChannel.daemonLost && m.daemonId === runner.daemonId)).toBe(true);
    // Every task settled exactly once, the retried one with the reset at close.
    expect(find(MiraiChannel.taskSettled, retried.id)).toMatchObject({ outcome: 'connection-reset' });
  });

  it('stamp no times on tasks while nobody subscribes, and do once someone does', async () => {
    const launcher = new FakeLauncher(echo);
    const pool = await open(launcher);
    await pool.launch(1);
    // Catch the HostTask the pool hands its (private) dispatcher.
    type Timed = { timing?: { queuedAt: number; assignedAt: number } };
    const dispatcher = (pool as unknown as { dispatcher: { submit(t: Timed): void } }).dispatcher;
    const tasks: Timed[] = [];
    const submit = dispatcher.submit.bind(dispatcher);
    dispatcher.submit = (t) => {
      tasks.push(t);
      submit(t);
    };
    const r = request(1);
    pool.submit(r);
    await until(() => r.outcome.settled);
    expect(tasks[0]!.timing).toBeUndefined();
    const rec = record();
    stop = rec.stop;
    const r2 = request(2);
    pool.submit(r2);
    await until(() => r2.outcome.settled);
    await pool.close();
    expect(typeof tasks[1]!.timing?.queuedAt).toBe('number');
    expect(tasks[1]!.timing!.assignedAt).toBeGreaterThanOrEqual(tasks[1]!.timing!.queuedAt);
    const settled = rec.seen.find(([n, m]) => n === MiraiChannel.taskSettled && m.taskId === r2.id)![1];
    expect(Number.isFinite(settled.totalMs)).toBe(true);
  });
});

describe('trace context in task frames', () => {
  it('rides in a flagged last segment that leaves the parameters as they were', () => {
    const trace = { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', tracestate: 'vendor=x' };
    const f = buildTaskFrame(FrameType.Task, 7, (a: unknown) => a, [{ value: { a: 1 }, name: 'args' }], [], { trace });
    if (f instanceof Promise) throw new Error('sync');
    expect(f.flags & FrameFlag.TraceContext).toBe(FrameFlag.TraceContext);
    expect(readTraceContext(f)).toEqual(trace);
    // A daemon that predates the flag decodes the same parameters.
    expect(decodeTaskParams(f, [])).toEqual([{ a: 1 }]);
    const plain = buildTaskFrame(FrameType.Task, 8, (a: unknown) => a, [{ value: 1, name: 'args' }], []);
    if (plain instanceof Promise) throw new Error('sync');
    expect(readTraceContext(plain)).toBeUndefined();
  });

  it('travels in 26 bytes of binary (plus tracestate); the JSON form of older hosts is still read, a short segment dropped', () => {
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00';
    const f = buildTaskFrame(FrameType.Task, 9, () => 1, [], [], { trace: { traceparent } });
    if (f instanceof Promise) throw new Error('sync');
    expect(f.segments.at(-1)!.byteLength).toBe(26);
    expect(readTraceContext(f)).toEqual({ traceparent });
    const withSegment = (segment: Uint8Array): Frame => ({ ...f, segments: [...f.segments.slice(0, -1), segment] });
    expect(readTraceContext(withSegment(jsonSegment({ traceparent, tracestate: 'a=b' })))).toEqual({ traceparent, tracestate: 'a=b' });
    expect(readTraceContext(withSegment(jsonSegment({ traceparent: 'garbage' })))).toBeUndefined();
    expect(readTraceContext(withSegment(new Uint8Array(25)))).toBeUndefined();
  });

  it('comes from the installed provider, which must give a well-formed traceparent', () => {
    expect(traceContextFor('p', 1, undefined)).toBeUndefined();
    const asked: number[] = [];
    setTraceContextProvider((t) => {
      asked.push(t.taskId);
      return t.taskId === 1 ? { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' } : { traceparent: 'garbage' };
    });
    expect(traceContextFor('p', 1, undefined)?.traceparent).toMatch(/^00-/);
    expect(traceContextFor('p', 2, 3)).toBeUndefined();
    expect(asked).toEqual([1, 2]);
    expect(() => setTraceContextProvider(42 as never)).toThrow(TypeError);
  });

  it('accepts exactly the traceparent shape vv-<32 hex>-<16 hex>-ff, lowercase', () => {
    const good = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    expect(isTraceparent(good)).toBe(true);
    expect(isTraceparent(`ff-${'f'.repeat(32)}-${'9'.repeat(16)}-a0`)).toBe(true);
    // Every position: a character outside the allowed set there is refused.
    for (let i = 0; i < good.length; i++) {
      const dash = i === 2 || i === 35 || i === 52;
      for (const bad of dash ? ['0', 'a', '_'] : ['-', 'A', 'g', '/', ':', '`', ' ', '\u00e9']) {
        expect(isTraceparent(good.slice(0, i) + bad + good.slice(i + 1)), `${bad} at ${i}`).toBe(false);
      }
    }
    for (const bad of [good.slice(1), `${good}0`, '', undefined, null, 55, { length: 55 }]) expect(isTraceparent(bad)).toBe(false);
    // A header built by concatenation (as tracers build it) passes as the literal does.
    const [a, b] = ['0af7651916cd43dd', '8448eb211c80319c'];
    expect(isTraceparent(`00-${a}${b}-b7ad6b7169203331-01`)).toBe(true);
  });
});
