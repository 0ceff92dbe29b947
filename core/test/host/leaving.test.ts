/**
 * Daemons that leave by a limit (maxtasks, walltime, idletime) while tasks are in flight to them:
 * the real daemon loop, in this process, over memory channels whose host-to-daemon direction can
 * be held shut ("on the wire"), so the races with Final and Bye happen every run. Every task
 * settles, none runs twice; tasks the leaving daemon never started run on the next daemon.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CancelledError, ConnectionResetError } from '../../src/errors.js';
import { Dispatcher } from '../../src/host/dispatcher.js';
import { FifoScheduler } from '../../src/host/scheduling.js';
import { HostTask } from '../../src/host/host-task.js';
import { resolveProfileOptions, type DaemonsOptions } from '../../src/host/profile-options.js';
import { runDaemon, type DaemonConfig } from '../../src/daemon/loop.js';
import type { Channel, DialOptions, Transport } from '../../src/transport.js';
import { FrameType, type Frame } from '../../src/wire/frame.js';
import { buildTaskFrame } from '../../src/wire/task-frame.js';
import { FakeDaemon, HOLD, MemoryChannel, memoryTransport, until, RecordedOutcome } from '../support/memory-transport.js';

const SECRET = 'leaving-secret';
let nextId = 1;

/** What the in-process daemons ran, in order (tasks push their own label). */
const ran = ((globalThis as Record<string, unknown>).__miraiLeavingRan = [] as string[]);
afterEach(() => {
  ran.length = 0;
});

type Task = HostTask & { outcome: RecordedOutcome };

/** A task that records `label` where it runs, after `ms`, and returns it. */
function task(label: string, ms = 0): Task {
  const id = nextId++;
  const fn = async ({ label, ms }: { label: string; ms: number }): Promise<string> => {
    ((globalThis as Record<string, unknown>).__miraiLeavingRan as string[]).push(label);
    if (ms > 0) await new Promise((r) => setTimeout(r, ms));
    return label;
  };
  const f = buildTaskFrame(FrameType.Task, id, fn, [{ value: { label, ms }, name: 'args' }], []);
  if (f instanceof Promise) throw new Error('sync frame expected');
  const canceller = { cancel: (): boolean => { throw new Error('not used here'); } };
  return new HostTask(f, new RecordedOutcome(id), 0, canceller) as Task;
}

/** Holds every frame the host sends one daemon while shut, and delivers them in order once opened. */
class Gate {
  shut = false;
  private readonly held: (() => void)[] = [];
  open(): void {
    this.shut = false;
    for (const deliver of this.held.splice(0)) deliver();
  }
  /** Wraps the daemon's end of a channel: frames to it pass the gate. */
  attach(channel: MemoryChannel): void {
    const onFrame = Object.getOwnPropertyDescriptor(MemoryChannel.prototype, 'onFrame')!;
    Object.defineProperty(channel, 'onFrame', {
      configurable: true,
      get: () => {
        const inner = onFrame.get!.call(channel) as (f: Frame) => void;
        return (f: Frame) => {
          if (this.shut) this.held.push(() => (onFrame.get!.call(channel) as (f: Frame) => void)(f));
          else inner(f);
        };
      },
      set: (handler: (f: Frame) => void) => onFrame.set!.call(channel, handler),
    });
  }
}

async function setup(options: DaemonsOptions) {
  const listener = await memoryTransport.listen('memory://', { handshakeLimits: { maxFrameBytes: 1 << 14, maxSegments: 4 } });
  const settings = resolveProfileOptions('leaving', { log: () => {}, ...options }, () => listener.url);
  const dispatcher = new Dispatcher(listener, settings, { secret: SECRET, serializerRefs: [], onBusyChange: () => {}, onDaemon: () => {} });
  /** A real daemon loop in this process; with a gate, frames to it pass through that. */
  const daemon = async (limits: Partial<DaemonConfig> = {}, gate?: Gate): Promise<{ exited: Promise<number> }> => {
    const transport: Transport = {
      ...memoryTransport,
      async dial(url: string, dialOptions: DialOptions): Promise<Channel> {
        const channel = (await memoryTransport.dial(url, dialOptions)) as MemoryChannel;
        gate?.attach(channel);
        return channel;
      },
    };
    const before = dispatcher.counters().cumulative;
    const exited = runDaemon({ url: listener.url, secret: SECRET, transport, cleanup: false, log: () => {}, ...limits });
    await until(() => dispatcher.counters().cumulative > before);
    return { exited };
  };
  return { dispatcher, daemon };
}

describe('a daemon leaving with tasks in flight to it', () => {
  it('idletime: tasks still on the wire when the daemon says Bye go back to the queue, and run once elsewhere; a cancelled one never runs', async () => {
    const { dispatcher, daemon } = await setup({ prefetch: 2 });
    const gate = new Gate();
    const { exited: first } = await daemon({ idletime: 1_000 }, gate);
    // Sent, but the daemon only sees them after it has said Bye.
    gate.shut = true;
    const a = task('a');
    const b = task('b');
    dispatcher.submit(a);
    dispatcher.submit(b);
    expect(dispatcher.counters()).toMatchObject({ awaiting: 0, executing: 2 });
    // Its idle time runs out: Bye. The host takes both back, in order, and answers Exit.
    await until(() => dispatcher.counters().awaiting === 2 && dispatcher.connections === 0, 3_000);
    expect(dispatcher.counters().executing).toBe(0);
    gate.open(); // Task a, Task b, Exit: it starts neither, and exits
    expect(await first).toBe(1);
    expect(ran).toEqual([]);
    // A task taken back is queued again: cancelling it settles it and it never runs.
    expect(dispatcher.cancel(b, new CancelledError('not needed'))).toBe(true);
    const { exited: second } = await daemon();
    await until(() => a.outcome.settled);
    expect(a.outcome.value).toBe('a');
    expect(b.outcome.error).toBeInstanceOf(CancelledError);
    expect(ran).toEqual(['a']);
    await dispatcher.close('end');
    await second;
  });

  it('maxtasks: a task on the wire when the daemon sends its Final result goes back to the queue, and runs once elsewhere', async () => {
    const { dispatcher, daemon } = await setup({ prefetch: 2 });
    const gate = new Gate();
    const { exited: first } = await daemon({ maxtasks: 1 }, gate);
    const a = task('a', 100);
    dispatcher.submit(a);
    await until(() => ran.includes('a'));
    gate.shut = true;
    const b = task('b');
    dispatcher.submit(b); // sent while a runs; a's result will be Final
    await until(() => a.outcome.settled && dispatcher.counters().awaiting === 1, 3_000);
    expect(a.outcome.value).toBe('a');
    expect(dispatcher.counters().executing).toBe(0);
    gate.open(); // Task b, Exit
    expect(await first).toBe(3);
    expect(ran).toEqual(['a']);
    const { exited: second } = await daemon();
    await until(() => b.outcome.settled);
    expect(b.outcome.value).toBe('b');
    expect(ran).toEqual(['a', 'b']);
    await dispatcher.close('end');
    await second;
  });

  it('walltime, direct mode: the tasks a daemon holds when its walltime passes go to the next daemon, in order', async () => {
    const { dispatcher, daemon } = await setup({ dispatcher: false });
    const { exited: first } = await daemon({ walltime: 300 });
    const tasks = [task('a', 400), ...['b', 'c', 'd', 'e'].map((label) => task(label, 20))];
    for (const t of tasks) dispatcher.submit(t); // all sent at once: the daemon queues them
    // a runs past the walltime: its result is Final; b to e never start there.
    expect(await first).toBe(2);
    expect(tasks[0]!.outcome.value).toBe('a');
    expect(dispatcher.counters()).toMatchObject({ awaiting: 4, executing: 0 });
    const { exited: second } = await daemon();
    await until(() => tasks.every((t) => t.outcome.settled), 3_000);
    expect(tasks.map((t) => t.outcome.value)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(ran).toEqual(['a', 'b', 'c', 'd', 'e']);
    await dispatcher.close('end');
    await second;
  });

  it('fails an everywhere() copy sent after the last task a daemon runs (maxtasks) with a connection reset', async () => {
    const { dispatcher, daemon } = await setup({ prefetch: 2 });
    const { exited: first } = await daemon({ maxtasks: 1 });
    const a = task('a', 100);
    dispatcher.submit(a);
    await until(() => ran.includes('a'));
    const setupFrame = buildTaskFrame(FrameType.Everywhere, 0, () => {
      ((globalThis as Record<string, unknown>).__miraiLeavingRan as string[]).push('setup');
    }, [{ value: undefined, name: 'args' }], []);
    if (setupFrame instanceof Promise) throw new Error('sync frame expected');
    const copies = await dispatcher.everywhere(setupFrame, () => new RecordedOutcome(nextId++));
    expect(copies).toHaveLength(1);
    await until(() => a.outcome.settled && copies[0]!.settled, 3_000);
    expect(copies[0]!.error).toBeInstanceOf(ConnectionResetError);
    expect(copies[0]!.error!.message).toMatch(/left before it ran everywhere\(\) task/);
    expect(await first).toBe(3);
    expect(ran).toEqual(['a']);
    await dispatcher.close('end');
  });
});

describe('a closed dispatcher', () => {
  it('fails a task submitted after close with the ConnectionResetError of the reset, and refuses everywhere()', async () => {
    const { dispatcher } = await setup({});
    await dispatcher.close("profile 'leaving' was reset");
    const late = task('late');
    dispatcher.submit(late);
    expect(late.outcome.error).toBeInstanceOf(ConnectionResetError);
    expect(late.outcome.error!.message).toMatch(/profile 'leaving' was reset$/);
    const setupFrame = buildTaskFrame(FrameType.Everywhere, 0, () => 1, [{ value: undefined, name: 'args' }], []);
    if (setupFrame instanceof Promise) throw new Error('sync frame expected');
    await expect(dispatcher.everywhere(setupFrame, () => new RecordedOutcome(nextId++))).rejects.toBeInstanceOf(ConnectionResetError);
  });
});

describe('the FIFO scheduler', () => {
  it('forgets daemons that left: after churn it holds only the connected ones', async () => {
    for (const prefetch of [1, 3]) {
      const { dispatcher } = await setup({ prefetch });
      const listenerUrl = (dispatcher as unknown as { listener: { url: string } }).listener.url;
      const scheduler = (dispatcher as unknown as { scheduler: FifoScheduler }).scheduler;
      const stay = await new FakeDaemon(([x]) => x).connect(listenerUrl, SECRET);
      await until(() => dispatcher.connections === 1);
      // Daemons join idle and leave idle, many times over: none was ever taken from the queue.
      for (let i = 0; i < 100; i++) {
        const d = await new FakeDaemon(([x]) => x).connect(listenerUrl, SECRET);
        await until(() => dispatcher.connections === 2);
        d.crash();
        await until(() => dispatcher.connections === 1);
      }
      expect(scheduler.held).toBe(1);
      // The one left still gets the work.
      const t = task('after churn');
      dispatcher.submit(t);
      await until(() => t.outcome.settled);
      expect(stay.received).toEqual([t.id]);
      await dispatcher.close('end');
    }
  });
});

describe('a target below the daemons connected (scale(n) down under a backlog)', () => {
  it('retires each daemon that answers while more are connected than the target, instead of giving it the next task', async () => {
    const { dispatcher } = await setup({});
    const url = (dispatcher as unknown as { listener: { url: string } }).listener.url;
    const join = async (): Promise<FakeDaemon> => {
      const before = dispatcher.connections;
      const d = await new FakeDaemon(() => HOLD).connect(url, SECRET);
      await until(() => dispatcher.connections > before);
      return d;
    };
    const [a, b, c] = [await join(), await join(), await join()];
    const tasks = Array.from({ length: 30 }, (_, i) => task(`t${i}`));
    for (const t of tasks) dispatcher.submit(t);
    expect(dispatcher.counters()).toMatchObject({ awaiting: 27, executing: 3 });
    await until(() => a.held.size + b.held.size + c.held.size === 3);
    dispatcher.setTarget(1);
    // Two answer: each leaves (Exit) rather than take more work; the third stays and takes the rest.
    a.release(a.received[0]!, 'a0');
    b.release(b.received[0]!, 'b0');
    await until(() => a.exitReceived && b.exitReceived && dispatcher.connections === 1);
    expect(dispatcher.counters()).toMatchObject({ awaiting: 27, executing: 1 });
    expect([a.received.length, b.received.length]).toEqual([1, 1]);
    while (tasks.some((t) => !t.outcome.settled)) {
      for (const id of [...c.held.keys()]) c.release(id, id);
      await new Promise((r) => setTimeout(r, 1));
    }
    expect(c.received).toHaveLength(28);
    expect(c.exitReceived).toBe(false);
    expect(dispatcher.connections).toBe(1);
    await dispatcher.close('end');
  });
});
