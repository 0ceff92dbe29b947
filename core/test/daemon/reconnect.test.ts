/**
 * A daemon whose host goes away (`autoexit`), the real daemon loop run in this process over
 * memory channels: with `autoexit: false` it dials again and serves the next host at the same
 * URL, and nothing of the old host's session (the task it was running, tasks it held) reaches
 * the new host; a host that goes while the daemon still loads its plugins after Init is noticed.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionResetError } from '../../src/errors.js';
import { Dispatcher } from '../../src/host/dispatcher.js';
import { HostTask } from '../../src/host/host-task.js';
import { resolveProfileOptions, type DaemonsOptions } from '../../src/host/profile-options.js';
import { runDaemon, type DaemonConfig } from '../../src/daemon/loop.js';
import type { Channel, DialOptions, Transport } from '../../src/transport.js';
import { FrameType, type Frame } from '../../src/wire/frame.js';
import type { SerializerRef } from '../../src/wire/messages.js';
import { decodePayload } from '../../src/wire/payload.js';
import { buildTaskFrame } from '../../src/wire/task-frame.js';
import { memoryTransport, RecordedOutcome, until, type MemoryChannel } from '../support/memory-transport.js';

const SECRET = 'reconnect-secret';
const g = globalThis as Record<string, unknown>;

/** What the in-process daemon ran, in order (tasks push their own label). */
const ran = (g.__miraiReconnectRan = [] as string[]);
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  ran.length = 0;
});

type Task = HostTask & { outcome: RecordedOutcome };

/** Task `id` (ids restart at 1 on every host): records `label` where it runs, waits `ms`, returns `result`. */
function task(id: number, label: string, result: string, ms = 0): Task {
  const fn = async ({ label, result, ms }: { label: string; result: string; ms: number }): Promise<string> => {
    ((globalThis as Record<string, unknown>).__miraiReconnectRan as string[]).push(label);
    // Ignores its AbortSignal on purpose: it goes on after its host is gone.
    if (ms > 0) await new Promise((r) => setTimeout(r, ms));
    return result;
  };
  const f = buildTaskFrame(FrameType.Task, id, fn, [{ value: { label, result, ms }, name: 'args' }], []);
  if (f instanceof Promise) throw new Error('sync frame expected');
  const canceller = { cancel: (): boolean => { throw new Error('not used here'); } };
  return new HostTask(f, new RecordedOutcome(id), 0, canceller) as Task;
}

/** A host (dispatcher) listening at `url` (a fresh one by default); its log lines are kept. */
async function host(options: DaemonsOptions & { url?: string; serializerRefs?: SerializerRef[] } = {}) {
  const { url, serializerRefs = [], ...rest } = options;
  const listener = await memoryTransport.listen(url ?? 'memory://', { handshakeLimits: { maxFrameBytes: 1 << 14, maxSegments: 4 } });
  const log: string[] = [];
  const settings = resolveProfileOptions('reconnect', { log: (_level: string, line: string) => log.push(line), ...rest }, () => listener.url);
  const dispatcher = new Dispatcher(listener, settings, { secret: SECRET, serializerRefs, onBusyChange: () => {}, onDaemon: () => {} });
  let gone = false;
  const kill = async (): Promise<void> => {
    if (gone) return;
    gone = true;
    // As a host killed with SIGKILL: the connections drop, no daemon is told Exit.
    await dispatcher.close('host killed', () => false);
  };
  cleanups.push(kill);
  return { url: listener.url, dispatcher, log, kill };
}

/**
 * The real daemon loop in this process. `sent` records, per connection (in dial order), the
 * Result frames it sends: `[id, value]`.
 */
function daemon(url: string, config: Partial<DaemonConfig> = {}) {
  const sent: [number, unknown][][] = [];
  const transport: Transport = {
    ...memoryTransport,
    async dial(to: string, dialOptions: DialOptions): Promise<Channel> {
      const channel = (await memoryTransport.dial(to, dialOptions)) as MemoryChannel;
      const results: [number, unknown][] = [];
      sent.push(results);
      const send = channel.send.bind(channel);
      channel.send = (f: Frame) => {
        if (f.type === FrameType.Result) results.push([f.id, decodePayload(f.segments, 0, [])]);
        send(f);
      };
      return channel;
    },
  };
  const log: string[] = [];
  const exited = runDaemon({ url, secret: SECRET, transport, cleanup: false, log: (line) => log.push(line), ...config });
  let code: number | undefined;
  void exited.then((c) => (code = c));
  return { exited, sent, log, code: () => code };
}

describe('autoexit: false, the host goes and another comes at the same URL', () => {
  it("never sends the old host's task result to the new host, whose task of the same id gets its own result", async () => {
    const a = await host();
    const d = daemon(a.url, { autoexit: false });
    await until(() => a.dispatcher.connections === 1);
    const old = task(1, 'old', 'OLD result computed for host A', 400);
    a.dispatcher.submit(old);
    await until(() => ran.includes('old'));
    await a.kill();
    expect(old.outcome.error).toBeInstanceOf(ConnectionResetError);
    // Same URL and secret; its ids start at 1 again.
    const b = await host({ url: a.url });
    await until(() => b.dispatcher.connections === 1, 3_000);
    const fresh = task(1, 'new', 'new result for host B');
    b.dispatcher.submit(fresh);
    await until(() => fresh.outcome.settled, 3_000);
    expect(fresh.outcome.value).toBe('new result for host B');
    expect(ran).toEqual(['old', 'new']);
    // The old task finished while the daemon served host B: its result went nowhere.
    expect(d.sent).toHaveLength(2);
    expect(d.sent[1]).toEqual([[1, 'new result for host B']]);
    expect(b.log.filter((l) => /unknown task/.test(l))).toEqual([]);
    // And the daemon serves on.
    const next = task(2, 'next', 'next');
    b.dispatcher.submit(next);
    await until(() => next.outcome.settled);
    expect(next.outcome.value).toBe('next');
    expect(b.dispatcher.connections).toBe(1);
    await b.dispatcher.close('end');
    expect(await d.exited).toBe(0);
  });

  it("sends nothing of an old task that ends while the daemon dials again, and starts none of the tasks the old host sent ahead", async () => {
    const a = await host({ dispatcher: false }); // direct mode: the daemon holds what it was sent
    const d = daemon(a.url, { autoexit: false });
    await until(() => a.dispatcher.connections === 1);
    const held = [task(1, 'running', 'r', 150), task(2, 'held 1', 'h1'), task(3, 'held 2', 'h2')];
    for (const t of held) a.dispatcher.submit(t);
    await until(() => ran.includes('running'));
    await a.kill();
    await new Promise((r) => setTimeout(r, 300)); // the running task ends with no host there
    const b = await host({ url: a.url });
    await until(() => b.dispatcher.connections === 1, 3_000);
    const fresh = [task(1, 'new 1', 'n1'), task(2, 'new 2', 'n2')];
    for (const t of fresh) b.dispatcher.submit(t);
    await until(() => fresh.every((t) => t.outcome.settled), 3_000);
    expect(fresh.map((t) => t.outcome.value)).toEqual(['n1', 'n2']);
    expect(ran).toEqual(['running', 'new 1', 'new 2']);
    expect(d.sent[1]).toEqual([[1, 'n1'], [2, 'n2']]);
    expect(b.log.filter((l) => /unknown task/.test(l))).toEqual([]);
    await b.dispatcher.close('end');
    expect(await d.exited).toBe(0);
  });
});

describe('a host that goes while the daemon loads its plugins after Init', () => {
  /** A serializer module that takes `ms` to load (unique per call: modules are cached by URL). */
  let slowModules = 0;
  function slowSerializer(ms: number): SerializerRef {
    const source = `globalThis.__miraiSlowLoads = (globalThis.__miraiSlowLoads ?? 0) + 1;
      await new Promise((r) => setTimeout(r, ${ms}));
      export const make = () => ({ tag: 'slow', claims: () => false, encode: () => [], decode: () => undefined });
      // ${slowModules++} ${Date.now()}`;
    return { tag: 'slow', ref: { specifier: `data:text/javascript,${encodeURIComponent(source)}`, exportName: 'make' } };
  }
  const loads = (): number => (g.__miraiSlowLoads as number | undefined) ?? 0;

  it('autoexit: false: notices it once they are loaded, dials again and serves the next host', async () => {
    const a = await host({ serializerRefs: [slowSerializer(400)] });
    const before = loads();
    const d = daemon(a.url, { autoexit: false });
    await until(() => loads() > before); // Init came: it is loading
    await a.kill();
    const b = await host({ url: a.url });
    await until(() => b.dispatcher.connections === 1, 3_000);
    const t = task(1, 'after', 'served');
    b.dispatcher.submit(t);
    await until(() => t.outcome.settled, 3_000);
    expect(t.outcome.value).toBe('served');
    expect(d.code()).toBeUndefined();
    await b.dispatcher.close('end');
    expect(await d.exited).toBe(0);
  });

  it('autoexit: true: exits once they are loaded', async () => {
    const a = await host({ serializerRefs: [slowSerializer(300)] });
    const before = loads();
    const d = daemon(a.url, { autoexit: true });
    await until(() => loads() > before);
    await a.kill();
    await until(() => d.code() !== undefined, 3_000);
    expect(d.code()).toBe(0);
  });
});
