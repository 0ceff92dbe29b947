/**
 * The dispatcher against in-memory daemons: FIFO, one task per daemon, cancellation, daemon
 * loss with and without retry, backpressure, direct mode, admission, everywhere(). Fast: no
 * processes, no sockets; the end-to-end suites cover the same over real transports.
 */
import { describe, expect, it } from 'vitest';
import { CancelledError, ConnectionResetError, QueueFullError, ResultTooLargeError } from '../../src/errors.js';
import { Dispatcher, type DaemonEvent } from '../../src/host/dispatcher.js';
import { HostTask } from '../../src/host/host-task.js';
import { resolveProfileOptions, type DaemonsOptions } from '../../src/host/profile-options.js';
import { frame, FrameFlag, FrameType, oversizedResult } from '../../src/wire/frame.js';
import { encodePayload } from '../../src/wire/payload.js';
import { buildTaskFrame } from '../../src/wire/task-frame.js';
import { FakeDaemon, HOLD, memoryTransport, until, type Behaviour, RecordedOutcome } from '../support/memory-transport.js';

const SECRET = 'test-secret';

let nextId = 1;
function task(arg: unknown, retry = 0): HostTask & { outcome: RecordedOutcome } {
  const id = nextId++;
  const f = buildTaskFrame(FrameType.Task, id, (x: unknown) => x, [{ value: arg, name: 'args' }], []);
  if (f instanceof Promise) throw new Error('sync frame expected');
  // These tests cancel through the dispatcher itself.
  const canceller = { cancel: (): boolean => { throw new Error('not used here'); } };
  return new HostTask(f, new RecordedOutcome(id), retry, canceller) as HostTask & { outcome: RecordedOutcome };
}

async function setup(options: DaemonsOptions = {}) {
  const listener = await memoryTransport.listen('memory://', { handshakeLimits: { maxFrameBytes: 1 << 14, maxSegments: 4 } });
  const settings = resolveProfileOptions('unit', { log: () => {}, ...options }, () => listener.url);
  const events: DaemonEvent[] = [];
  const dispatcher = new Dispatcher(listener, settings, { secret: SECRET, serializerRefs: [], onBusyChange: () => {}, onDaemon: (e) => events.push(e) });
  const join = async (behaviour: Behaviour, secret = SECRET): Promise<FakeDaemon> => {
    const d = await new FakeDaemon(behaviour).connect(listener.url, secret);
    await until(() => dispatcher.connections >= 1);
    return d;
  };
  return { dispatcher, events, join, url: listener.url };
}

const echo: Behaviour = ([x]) => x;
const hold: Behaviour = () => HOLD;

describe('dispatcher (in memory)', () => {
  it('gives each task to the next free daemon in FIFO order, one task per daemon', async () => {
    const { dispatcher, join } = await setup();
    const a = await join(hold);
    const b = await join(hold);
    await until(() => dispatcher.connections === 2);
    const tasks = [1, 2, 3, 4, 5].map((x) => task(x));
    for (const t of tasks) dispatcher.submit(t);
    await until(() => a.received.length + b.received.length === 2);
    expect(dispatcher.counters()).toMatchObject({ awaiting: 3, executing: 2 });
    expect([...a.received, ...b.received].sort()).toEqual([tasks[0]!.id, tasks[1]!.id].sort());
    // Each answer frees its daemon for the next task in submission order.
    const order: number[] = [...a.received, ...b.received];
    while (order.length < 5) {
      const [d, id] = a.held.size > 0 ? [a, [...a.held.keys()][0]!] : [b, [...b.held.keys()][0]!];
      d.release(id, 'done');
      await until(() => a.received.length + b.received.length > order.length || order.length === 5);
      for (const r of [...a.received, ...b.received]) if (!order.includes(r)) order.push(r);
      expect(a.held.size).toBeLessThanOrEqual(1);
      expect(b.held.size).toBeLessThanOrEqual(1);
    }
    expect(order.slice(2)).toEqual(tasks.slice(2).map((t) => t.id));
    for (const d of [a, b]) for (const id of [...d.held.keys()]) d.release(id, 'done');
    await until(() => tasks.every((t) => t.outcome.settled));
    expect(tasks.map((t) => t.outcome.value)).toEqual(['done', 'done', 'done', 'done', 'done']);
    await dispatcher.close('end');
  });

  it('gives a task to the daemon freed last: a caller awaiting one task at a time stays on one daemon', async () => {
    const { dispatcher, join } = await setup();
    const daemons = [await join(echo), await join(echo), await join(echo)];
    await until(() => dispatcher.connections === 3);
    const first = task(0);
    dispatcher.submit(first);
    await until(() => first.outcome.settled);
    const [freedLast] = daemons.filter((d) => d.received.includes(first.id));
    for (let i = 1; i <= 10; i++) {
      const t = task(i);
      dispatcher.submit(t);
      await until(() => t.outcome.settled);
      expect(t.outcome.value).toBe(i);
    }
    expect(freedLast!.received).toHaveLength(11);
    expect(daemons.reduce((n, d) => n + d.received.length, 0)).toBe(11); // the others stayed idle
    await dispatcher.close('end');
  });

  it('settles a task with its value, and with a rebuilt error when the task threw', async () => {
    const { dispatcher, join } = await setup();
    await join(([x]) => {
      if (x === 'boom') throw new RangeError('too big');
      return (x as number) * 2;
    });
    const ok = task(21);
    const bad = task('boom');
    dispatcher.submit(ok);
    dispatcher.submit(bad);
    await until(() => ok.outcome.settled && bad.outcome.settled);
    expect(ok.outcome.value).toBe(42);
    expect(bad.outcome.error?.name).toBe('RangeError');
    expect(bad.outcome.error?.message).toContain('too big');
    expect(dispatcher.counters().completed).toBe(2);
    await dispatcher.close('end');
  });

  it('cancels a queued task without sending it, and a running one with a Cancel frame', async () => {
    const { dispatcher, join } = await setup();
    const d = await join(hold);
    const running = task('a');
    const queued = task('b');
    dispatcher.submit(running);
    dispatcher.submit(queued);
    await until(() => d.received.length === 1);
    expect(dispatcher.cancel(queued, new CancelledError('stop'))).toBe(true);
    expect(queued.outcome.error).toBeInstanceOf(CancelledError);
    expect(dispatcher.cancel(queued, new CancelledError('again'))).toBe(false);
    expect(dispatcher.cancel(running, new CancelledError('stop'))).toBe(true);
    expect(running.outcome.error).toBeInstanceOf(CancelledError);
    await until(() => d.cancels.length === 1);
    expect(d.cancels).toEqual([running.id]);
    // The late answer of the cancelled task changes nothing; the queued one never ran.
    d.release(running.id, 'late');
    await new Promise((r) => setTimeout(r, 10));
    expect(running.outcome.value).toBeUndefined();
    expect(d.received).toEqual([running.id]);
    await dispatcher.close('end');
  });

  it('ends a daemon that does not stop a cancelled task within the grace', async () => {
    const { dispatcher, join, events } = await setup({ cancelGrace: 20 });
    const d = await join(hold);
    const t = task('stuck');
    dispatcher.submit(t);
    await until(() => d.received.length === 1);
    dispatcher.cancel(t, new CancelledError('stop'));
    await until(() => events.some((e) => e.type === 'ended'));
    const ended = events.find((e) => e.type === 'ended');
    // Neither a watchdog nor a launch handle: all the host can do is disconnect it.
    expect(ended).toMatchObject({ type: 'ended', how: 'disconnected' });
    await until(() => dispatcher.connections === 0);
    expect(events.some((e) => e.type === 'lost')).toBe(false);
    await dispatcher.close('end');
  });

  it('settles the running task of a lost daemon with a connection reset (19), and nothing else', async () => {
    const { dispatcher, join, events } = await setup();
    const b = await join(echo);
    const a = await join(hold);
    await until(() => dispatcher.connections === 2);
    const onA = task('a');
    dispatcher.submit(onA);
    await until(() => a.received.length + b.received.length === 1);
    const victim = a.received.length === 1 ? a : b;
    const other = victim === a ? b : a;
    if (victim !== a) throw new Error('the holding daemon should have taken the task'); // a joined last
    const later = task('later');
    a.crash();
    await until(() => onA.outcome.settled);
    expect(onA.outcome.error).toBeInstanceOf(ConnectionResetError);
    expect(onA.outcome.error?.errorValue).toBe(19);
    expect(events.some((e) => e.type === 'lost')).toBe(true);
    dispatcher.submit(later);
    await until(() => later.outcome.settled);
    expect(later.outcome.value).toBe('later');
    expect(other.received).toContain(later.id);
    await dispatcher.close('end');
  });

  it('with retry, runs a lost task again before the tasks queued after it', async () => {
    const { dispatcher, join } = await setup();
    const a = await join(hold);
    const retried = task('again', 1);
    const after = task('after');
    dispatcher.submit(retried);
    dispatcher.submit(after);
    await until(() => a.received.length === 1);
    a.crash();
    await until(() => dispatcher.connections === 0);
    expect(retried.outcome.settled).toBe(false);
    expect(dispatcher.counters().awaiting).toBe(2);
    const b = await join(echo);
    await until(() => retried.outcome.settled && after.outcome.settled);
    expect(b.received).toEqual([retried.id, after.id]);
    expect(retried.outcome.value).toBe('again');
    await dispatcher.close('end');
  });

  it('refuses a full queue with a QueueFullError and announces room once a task leaves it', async () => {
    const { dispatcher, join } = await setup({ maxQueued: 2 });
    const tasks = [task(1), task(2)];
    for (const t of tasks) dispatcher.submit(t);
    const extra = task(3);
    expect(() => dispatcher.submit(extra)).toThrow(QueueFullError);
    expect(extra.outcome.settled).toBe(false);
    let roomy = false;
    void dispatcher.room().then(() => (roomy = true));
    await new Promise((r) => setTimeout(r, 5));
    expect(roomy).toBe(false);
    await join(echo);
    await until(() => roomy);
    await until(() => tasks.every((t) => t.outcome.settled));
    await dispatcher.close('end');
  });

  it('in direct mode sends tasks round-robin at once, several in flight per daemon', async () => {
    const { dispatcher, join } = await setup({ dispatcher: false });
    const a = await join(hold);
    const b = await join(hold);
    await until(() => dispatcher.connections === 2);
    const tasks = [1, 2, 3, 4].map((x) => task(x));
    for (const t of tasks) dispatcher.submit(t);
    await until(() => a.received.length + b.received.length === 4);
    expect(a.received.length).toBe(2);
    expect(b.received.length).toBe(2);
    expect(dispatcher.counters()).toMatchObject({ awaiting: 0, executing: 4 });
    await dispatcher.close('end');
    expect(tasks.every((t) => t.outcome.error instanceof ConnectionResetError)).toBe(true);
  });

  it('refuses a daemon with the wrong secret and counts it', async () => {
    const { dispatcher, url } = await setup();
    await expect(new FakeDaemon(echo).connect(url, 'wrong')).rejects.toThrow(/handshake|secret/);
    await until(() => dispatcher.counters().rejected === 1);
    expect(dispatcher.connections).toBe(0);
    await dispatcher.close('end');
  });

  it('skips the proofs only when both ends of a channel are in-process: either end alone still demands them', async () => {
    const { dispatcher, url } = await setup();
    // Both ends in-process (the thread transport): no proofs, so the secret is not checked at all.
    const inside = await new FakeDaemon(echo, undefined, { host: true, daemon: true }).connect(url, 'wrong');
    await until(() => dispatcher.connections === 1);
    const t = task('inside');
    dispatcher.submit(t);
    await until(() => t.outcome.settled);
    expect(t.outcome.value).toBe('inside');
    expect(dispatcher.counters().rejected).toBe(0);
    // A daemon that skips its proof over a channel the host did not accept as in-process is refused...
    await expect(new FakeDaemon(echo, undefined, { host: false, daemon: true }).connect(url, SECRET)).rejects.toThrow(/refused|secret/);
    await until(() => dispatcher.counters().rejected === 1);
    // ...and a daemon whose own end is not in-process refuses a host that skips its proof.
    await expect(new FakeDaemon(echo, undefined, { host: true, daemon: false }).connect(url, SECRET)).rejects.toThrow(/the host did not prove the secret/);
    expect(dispatcher.connections).toBe(1);
    inside.crash();
    await dispatcher.close('end');
  });

  it('runs everywhere() set-up on daemons that join later, before their first task', async () => {
    const { dispatcher, join } = await setup();
    const setupFrame = buildTaskFrame(FrameType.Everywhere, 0, () => 'set', [{ value: 'setup', name: 'args' }], []);
    if (setupFrame instanceof Promise) throw new Error('sync frame expected');
    const copies = await dispatcher.everywhere(setupFrame, () => new RecordedOutcome(nextId++));
    expect(copies).toEqual([]);
    const queued = task('work');
    dispatcher.submit(queued);
    const d = await join(echo);
    await until(() => queued.outcome.settled);
    expect(d.received.length).toBe(2);
    expect(d.received[1]).toBe(queued.id);
    await dispatcher.close('end');
  });

  it('settles everything with a connection reset on close and tells daemons to exit', async () => {
    const { dispatcher, join } = await setup();
    const d = await join(hold);
    const running = task('r');
    const queued = task('q');
    dispatcher.submit(running);
    dispatcher.submit(queued);
    await until(() => d.received.length === 1);
    await dispatcher.close('closing');
    expect(running.outcome.error).toBeInstanceOf(ConnectionResetError);
    expect(queued.outcome.error).toBeInstanceOf(ConnectionResetError);
    await until(() => d.exitReceived);
  });
});

describe('backpressure (in memory)', () => {
  async function producers(count: number, perProducer: number, options: DaemonsOptions, arg: () => unknown) {
    const { dispatcher, join } = await setup(options);
    await join(([x]) => x);
    const tasks: ReturnType<typeof task>[] = [];
    let refused = 0;
    const produce = async (): Promise<void> => {
      for (let i = 0; i < perProducer; i++) {
        await dispatcher.room();
        const t = task(arg());
        try {
          dispatcher.submit(t);
          tasks.push(t);
        } catch (err) {
          if (err instanceof QueueFullError) refused++;
          else throw err;
        }
      }
    };
    await Promise.all(Array.from({ length: count }, produce));
    await until(() => tasks.every((t) => t.outcome.settled), 10_000);
    await dispatcher.close('end');
    return { refused, submitted: tasks.length, peak: dispatcher.counters().peakQueuedBytes };
  }

  it('never refuses a producer that waited for room: 1 producer', async () => {
    expect(await producers(1, 500, { maxQueued: 5 }, () => 1)).toMatchObject({ refused: 0, submitted: 500 });
  });

  it('never refuses a producer that waited for room: 10 producers, first come first served', async () => {
    expect(await producers(10, 100, { maxQueued: 10 }, () => 1)).toMatchObject({ refused: 0, submitted: 1000 });
  });

  it('announces room only when a whole task fits the byte limit', async () => {
    const big = new Uint8Array(10_000);
    const result = await producers(4, 100, { maxQueuedBytes: 50_000 }, () => big);
    expect(result).toMatchObject({ refused: 0, submitted: 400 });
    expect(result.peak).toBeLessThanOrEqual(50_000 + 12_000);
  });
});

describe('hostile results (in memory)', () => {
  it('settles a task whose error record is malformed with a DeserializationError, and keeps serving', async () => {
    const { dispatcher, join } = await setup();
    const records: unknown[] = [null, { props: null, message: 'x' }, { message: 1 }, 'text', { message: 'm', miraiKind: 'bogus' }];
    let n = 0;
    const d = await join(() => HOLD);
    const tasks = records.map(() => task('x'));
    for (const t of tasks) dispatcher.submit(t);
    for (const record of records) {
      await until(() => d.held.size === 1);
      const id = [...d.held.keys()][0]!;
      d.held.delete(id);
      d.channel.send(frame(FrameType.Result, id, encodePayload(record, [], 'error') as Uint8Array[], FrameFlag.Error));
      n++;
      await until(() => tasks[n - 1]!.outcome.settled);
    }
    // A record with no props is still a record (a TaskError); the others are refused.
    expect(tasks.map((t) => t.outcome.error?.constructor.name)).toEqual(['DeserializationError', 'TaskError', 'DeserializationError', 'DeserializationError', 'DeserializationError']);
    await dispatcher.close('end');
  });

  it('fails a task answered by an oversized-result stand-in and keeps its daemon; a forged stand-in disconnects it', async () => {
    const { dispatcher, join } = await setup({ maxResultBytes: 1000 });
    const d = await join(hold);
    const [first, second, third] = [task('a'), task('b'), task('c')];
    dispatcher.submit(first);
    await until(() => d.held.size === 1);
    d.held.delete(first.id);
    // What a channel's decoder hands on for a result over maxResultBytes.
    d.channel.send(oversizedResult(first.id, 0, 5000));
    await until(() => first.outcome.settled);
    expect(first.outcome.error).toBeInstanceOf(ResultTooLargeError);
    expect(first.outcome.error).toMatchObject({ kind: 'result-too-large', bytes: 5000, limit: 1000 });
    expect(first.outcome.error!.message).toMatch(/5000 bytes, over the profile's maxResultBytes \(1000\); it was not read/);
    dispatcher.submit(second);
    await until(() => d.held.size === 1);
    d.release(second.id, 'served');
    await until(() => second.outcome.settled);
    expect(second.outcome.value).toBe('served');
    // The same type without its size is not something a decoder made: a peer sent it.
    dispatcher.submit(third);
    await until(() => d.held.size === 1);
    d.held.delete(third.id);
    d.channel.send(frame(FrameType.OversizedResult, third.id, []));
    await until(() => third.outcome.settled);
    expect(third.outcome.error).toBeInstanceOf(ConnectionResetError);
    await until(() => dispatcher.connections === 0);
    await dispatcher.close('end');
  });
});
