/**
 * Opt-in prefetch (`prefetch: k`): up to k tasks in flight per daemon, FIFO across daemons;
 * a prefetched task cancelled before it starts, and a daemon lost with prefetched tasks, still
 * settle every task. In memory: fake daemons, and the real daemon loop over memory channels.
 */
import { describe, expect, it } from 'vitest';
import { CancelledError, ConfigError, ConnectionResetError } from '../../src/errors.js';
import { Dispatcher, type DaemonEvent } from '../../src/host/dispatcher.js';
import { HostTask } from '../../src/host/host-task.js';
import { resolveProfileOptions, type DaemonsOptions } from '../../src/host/profile-options.js';
import { runDaemon } from '../../src/daemon/loop.js';
import { FrameType } from '../../src/wire/frame.js';
import { buildTaskFrame } from '../../src/wire/task-frame.js';
import { FakeDaemon, HOLD, memoryTransport, until, RecordedOutcome, type Behaviour, type MemoryChannel } from '../support/memory-transport.js';

const SECRET = 'prefetch-secret';
let nextId = 1;

function task(fn: Function, arg: unknown, retry = 0): HostTask & { outcome: RecordedOutcome } {
  const id = nextId++;
  const f = buildTaskFrame(FrameType.Task, id, fn, [{ value: arg, name: 'args' }], []);
  if (f instanceof Promise) throw new Error('sync frame expected');
  // These tests cancel through the dispatcher itself.
  const canceller = { cancel: (): boolean => { throw new Error('not used here'); } };
  return new HostTask(f, new RecordedOutcome(id), retry, canceller) as HostTask & { outcome: RecordedOutcome };
}

async function setup(options: DaemonsOptions) {
  const listener = await memoryTransport.listen('memory://', { handshakeLimits: { maxFrameBytes: 1 << 14, maxSegments: 4 } });
  const settings = resolveProfileOptions('prefetch', { log: () => {}, ...options }, () => listener.url);
  const events: DaemonEvent[] = [];
  const dispatcher = new Dispatcher(listener, settings, { secret: SECRET, serializerRefs: [], onBusyChange: () => {}, onDaemon: (e) => events.push(e) });
  const join = async (behaviour: Behaviour): Promise<FakeDaemon> => {
    const before = dispatcher.connections;
    const d = await new FakeDaemon(behaviour).connect(listener.url, SECRET);
    await until(() => dispatcher.connections > before);
    return d;
  };
  /** The real daemon loop, in this process, over a memory channel. */
  const realDaemon = async (): Promise<{ exited: Promise<number> }> => {
    const before = dispatcher.connections;
    const exited = runDaemon({ url: listener.url, secret: SECRET, transport: memoryTransport, cleanup: false, log: () => {} });
    await until(() => dispatcher.connections > before);
    return { exited };
  };
  return { dispatcher, events, join, realDaemon };
}

const hold: Behaviour = () => HOLD;
const identity = (x: unknown): unknown => x;

describe('prefetch (in memory)', () => {
  it('keeps up to k tasks on each daemon, handed out in turn and in submission order', async () => {
    const { dispatcher, join } = await setup({ prefetch: 3 });
    const a = await join(hold);
    const b = await join(hold);
    const tasks = Array.from({ length: 10 }, (_, i) => task(identity, i));
    for (const t of tasks) dispatcher.submit(t);
    await until(() => a.received.length === 3 && b.received.length === 3);
    expect(dispatcher.counters()).toMatchObject({ awaiting: 4, executing: 6 });
    expect([...a.received, ...b.received].sort((x, y) => x - y)).toEqual(tasks.slice(0, 6).map((t) => t.id));
    // A daemon is refilled in runs, once it holds at most half its window (3 >> 1 = 1 task):
    // answering one task of three sends nothing (the refill would happen in the same call).
    a.release(a.received[0]!, 'first');
    await until(() => dispatcher.counters().executing === 5);
    expect(a.received).toHaveLength(3);
    // Answering the second fills it up again with the next tasks of the queue, in order, and
    // flushes them at once (they leave before the rest of a read of results is handled).
    const hostEnd = (a.channel as MemoryChannel).other;
    const callsBefore = hostEnd.calls.length;
    a.release(a.received[1]!, 'second');
    await until(() => a.received.length === 5);
    expect(a.received.slice(3)).toEqual([tasks[6]!.id, tasks[7]!.id]);
    expect(hostEnd.calls.slice(callsBefore)).toEqual([`send ${tasks[6]!.id}`, `send ${tasks[7]!.id}`, 'flush']);
    expect(b.received).toHaveLength(3);
    expect(dispatcher.counters()).toMatchObject({ awaiting: 2, executing: 6 });
    while (tasks.some((t) => !t.outcome.settled)) {
      for (const d of [a, b]) for (const id of [...d.held.keys()]) d.release(id, id);
      await new Promise((r) => setTimeout(r, 1));
    }
    expect(tasks.map((t) => t.outcome.error)).toEqual(tasks.map(() => undefined));
    await dispatcher.close('end');
  });

  it('settles every prefetched task of a lost daemon with a connection reset (19)', async () => {
    const { dispatcher, join, events } = await setup({ prefetch: 4 });
    const a = await join(hold);
    const tasks = Array.from({ length: 6 }, (_, i) => task(identity, i));
    for (const t of tasks) dispatcher.submit(t);
    await until(() => a.received.length === 4);
    a.crash();
    await until(() => tasks.slice(0, 4).every((t) => t.outcome.settled));
    for (const t of tasks.slice(0, 4)) expect(t.outcome.error).toBeInstanceOf(ConnectionResetError);
    expect(tasks.slice(4).some((t) => t.outcome.settled)).toBe(false);
    expect(events.some((e) => e.type === 'lost')).toBe(true);
    // The queued ones run on the next daemon.
    await join(([x]) => x);
    await until(() => tasks.every((t) => t.outcome.settled));
    expect(tasks.slice(4).map((t) => t.outcome.value)).toEqual([4, 5]);
    await dispatcher.close('end');
  });

  it('with retry, re-queues a lost daemon’s prefetched tasks ahead of the queue, in their order', async () => {
    const { dispatcher, join } = await setup({ prefetch: 3 });
    const a = await join(hold);
    const tasks = Array.from({ length: 5 }, (_, i) => task(identity, i, 1));
    for (const t of tasks) dispatcher.submit(t);
    await until(() => a.received.length === 3);
    a.crash();
    await until(() => dispatcher.connections === 0);
    expect(tasks.some((t) => t.outcome.settled)).toBe(false);
    expect(dispatcher.counters()).toMatchObject({ awaiting: 5, executing: 0 });
    const b = await join(hold);
    await until(() => b.received.length === 3);
    expect(b.received).toEqual(tasks.slice(0, 3).map((t) => t.id));
    while (tasks.some((t) => !t.outcome.settled)) {
      for (const id of [...b.held.keys()]) b.release(id, id);
      await new Promise((r) => setTimeout(r, 1));
    }
    expect(b.received).toEqual(tasks.map((t) => t.id));
    expect(tasks.map((t) => t.outcome.value)).toEqual(tasks.map((t) => t.id));
    await dispatcher.close('end');
  });

  it('cancels a prefetched task that has not started: settled at once, daemon kept, the others run', async () => {
    const { dispatcher, realDaemon, events } = await setup({ prefetch: 3, cancelGrace: 30 });
    const { exited } = await realDaemon();
    const slow = task((ms: number) => new Promise((r) => setTimeout(() => r('slow'), ms)), 200);
    const waiting = task(identity, 'never');
    const after = task(identity, 'after');
    for (const t of [slow, waiting, after]) dispatcher.submit(t);
    await until(() => dispatcher.counters().executing === 3);
    expect(dispatcher.cancel(waiting, new CancelledError('stop'))).toBe(true);
    expect(waiting.outcome.error).toBeInstanceOf(CancelledError);
    await until(() => slow.outcome.settled && after.outcome.settled, 5_000);
    expect([slow.outcome.value, after.outcome.value]).toEqual(['slow', 'after']);
    // The daemon answered the cancelled task, so it holds nothing and was never ended.
    await until(() => dispatcher.counters().executing === 0);
    expect(events.filter((e) => e.type === 'ended')).toEqual([]);
    const next = task(identity, 'next');
    dispatcher.submit(next);
    await until(() => next.outcome.settled);
    expect(next.outcome.value).toBe('next');
    await dispatcher.close('end');
    expect(await exited).toBeTypeOf('number');
  });

  it('rejects a bad prefetch with a ConfigError naming the option', () => {
    const resolve = (options: DaemonsOptions) => resolveProfileOptions('x', options, () => 'memory://x');
    expect(resolve({}).prefetch).toBe(1);
    expect(resolve({ prefetch: 8 }).prefetch).toBe(8);
    for (const bad of [0, -1, 1.5, '4', Number.NaN]) {
      expect(() => resolve({ prefetch: bad as number })).toThrow(ConfigError);
      expect(() => resolve({ prefetch: bad as number })).toThrow(/prefetch.*a whole number ≥ 1/);
    }
    expect(() => resolve({ prefetch: 2, dispatcher: false })).toThrow(/needs the dispatcher/);
  });
});
