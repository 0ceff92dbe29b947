/**
 * One conformance suite for every transport (ipc, tcp, nats, ...): whatever carries the
 * frames, the dispatcher and the daemon see the same Channel behaviour. Each transport
 * supplies a {@link TransportUnderTest}; the suite runs real listeners and real dials.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isMiraiError, type Channel, type Listener, type PluginRef, type Transport } from '@mirai-ts/core';
import { DEFAULT_LIMITS, frame, FrameFlag, FrameType, type Frame } from '@mirai-ts/core/plugin';

export interface TransportUnderTest {
  /** Shown in test names. */
  readonly name: string;
  /** Starts what the transport needs (a NATS server); called once before the suite. */
  setup?(): Promise<void>;
  teardown?(): Promise<void>;
  readonly transport: () => Transport;
  /** A fresh URL to listen at (each test listens once or more). */
  url(): string;
  /** How a child process rebuilds the transport: a built-in name or a plugin reference. */
  readonly childTransport: 'ipc' | 'tcp' | PluginRef;
  /** The longest a side may take to notice that its peer's process was killed (ms). */
  readonly vanishNoticeMs: number;
}

const PEER_SCRIPT = fileURLToPath(new URL('./peer.mjs', import.meta.url));

interface Pair {
  readonly listener: Listener;
  /** The listener's side of the connection. */
  readonly host: Channel;
  /** The dialer's side. */
  readonly daemon: Channel;
}

interface Recorder {
  readonly frames: Frame[];
  readonly closes: (Error | undefined)[];
  /** Resolves once `n` frames have arrived. */
  frameCount(n: number, ms?: number): Promise<void>;
  closed(ms?: number): Promise<Error | undefined>;
}

function record(channel: Channel): Recorder {
  const frames: Frame[] = [];
  const closes: (Error | undefined)[] = [];
  const waiters: (() => void)[] = [];
  const poke = (): void => {
    for (const w of waiters.splice(0)) w();
  };
  channel.onClose = (reason) => {
    closes.push(reason);
    poke();
  };
  channel.onFrame = (f) => {
    frames.push(f);
    poke();
  };
  const until = (done: () => boolean, ms: number, what: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
      const check = (): void => {
        if (done()) {
          clearTimeout(timer);
          resolve();
        } else waiters.push(check);
      };
      check();
    });
  return {
    frames,
    closes,
    frameCount: (n, ms = 20_000) => until(() => frames.length >= n, ms, `${n} frames (got ${frames.length})`),
    closed: async (ms = 20_000) => {
      await until(() => closes.length > 0, ms, 'onClose');
      return closes[0];
    },
  };
}

function bytes(n: number, seed: number): Uint8Array {
  if (n <= 1024) return Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
  return new Uint8Array(randomBytes(n));
}

function digest(segments: readonly Uint8Array[]): string[] {
  return segments.map((s) => `${s.byteLength}:${createHash('sha256').update(s).digest('hex').slice(0, 16)}`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Runs the suite for one transport. */
export function transportConformance(make: () => TransportUnderTest): void {
  const t = make();
  describe(`transport conformance: ${t.name}`, () => {
    const cleanups: (() => unknown)[] = [];

    beforeAll(async () => {
      await t.setup?.();
    }, 60_000);
    afterEach(async () => {
      for (const c of cleanups.splice(0).reverse()) await c();
    });
    afterAll(async () => {
      await t.teardown?.();
    }, 60_000);

    async function listen(): Promise<Listener> {
      const listener = await t.transport().listen(t.url(), { handshakeLimits: DEFAULT_LIMITS });
      cleanups.push(() => listener.close());
      return listener;
    }

    async function pair(existing?: Listener): Promise<Pair> {
      const listener = existing ?? (await listen());
      const accepted = new Promise<Channel>((resolve) => {
        listener.onChannel = resolve;
      });
      const daemon = await t.transport().dial(listener.url, { limits: DEFAULT_LIMITS });
      cleanups.push(() => daemon.close());
      const host = await accepted;
      cleanups.push(() => host.close());
      return { listener, host, daemon };
    }

    it('delivers frames in order, both ways, with type, flags, id and segments intact', async () => {
      const { host, daemon } = await pair();
      const atDaemon = record(daemon);
      const atHost = record(host);
      const n = 300;
      const sent: Frame[] = [];
      for (let i = 0; i < n; i++) {
        const f = frame(FrameType.Task, i, [bytes(i % 7, i), bytes((i * 13) % 200, i + 1)], i % 4);
        sent.push(f);
        host.send(f);
        daemon.send(frame(FrameType.Result, n - i, [bytes(i % 50, i)], 0));
      }
      await atDaemon.frameCount(n);
      await atHost.frameCount(n);
      expect(atDaemon.frames.map((f) => f.id)).toEqual(sent.map((f) => f.id));
      expect(atDaemon.frames.map((f) => [f.type, f.flags, ...digest(f.segments)])).toEqual(
        sent.map((f) => [f.type, f.flags, ...digest(f.segments)]),
      );
      expect(atHost.frames.map((f) => f.id)).toEqual(Array.from({ length: n }, (_, i) => n - i));
    });

    it('delivers frames sent the moment a connection is accepted to handlers set right after dial()', async () => {
      const listener = await listen();
      listener.onChannel = (channel) => {
        cleanups.push(() => channel.close());
        channel.send(frame(FrameType.Challenge, 7, [bytes(20, 1)]));
        channel.send(frame(FrameType.Init, 8, []));
      };
      const daemon = await t.transport().dial(listener.url, { limits: DEFAULT_LIMITS });
      // As the daemon does: handlers are set in the same tick dial() resolves. A message
      // transport may have the host's frames in hand before that (NATS does).
      const got = record(daemon);
      cleanups.push(() => daemon.close());
      await got.frameCount(2);
      expect(got.frames.map((f) => [f.type, f.id])).toEqual([
        [FrameType.Challenge, 7],
        [FrameType.Init, 8],
      ]);
    });

    it('carries many frames (20,000) in order', async () => {
      const { host, daemon } = await pair();
      const got = record(daemon);
      const n = 20_000;
      for (let i = 0; i < n; i++) host.send(frame(FrameType.Task, i, [bytes(24, i)]));
      await got.frameCount(n, 60_000);
      let inOrder = true;
      for (let i = 0; i < n; i++) if (got.frames[i]!.id !== i) inOrder = false;
      expect(inOrder).toBe(true);
      expect(digest(got.frames[n - 1]!.segments)).toEqual(digest([bytes(24, n - 1)]));
    }, 90_000);

    it('carries large multi-segment frames (several MB) intact, both ways', async () => {
      const { host, daemon } = await pair();
      const atDaemon = record(daemon);
      const atHost = record(host);
      const big = [bytes(10, 1), bytes(3 * 1024 * 1024 + 17, 2), new Uint8Array(0), bytes(5 * 1024 * 1024, 3), bytes(100, 4)];
      const other = [bytes(8 * 1024 * 1024 + 5, 5)];
      host.send(frame(FrameType.Task, 1, big));
      host.send(frame(FrameType.Task, 2, [bytes(3, 6)])); // a small frame right behind
      daemon.send(frame(FrameType.Result, 3, other));
      await atDaemon.frameCount(2, 60_000);
      await atHost.frameCount(1, 60_000);
      expect(digest(atDaemon.frames[0]!.segments)).toEqual(digest(big));
      expect(atDaemon.frames[1]!.id).toBe(2);
      expect(digest(atHost.frames[0]!.segments)).toEqual(digest(other));
    }, 90_000);

    it('close() without a cause: the closer reports no cause, the peer is told', async () => {
      for (const closer of ['host', 'daemon'] as const) {
        const p = await pair();
        const a = record(closer === 'host' ? p.host : p.daemon);
        const b = record(closer === 'host' ? p.daemon : p.host);
        (closer === 'host' ? p.host : p.daemon).close();
        expect(a.closes).toEqual([undefined]); // reported at once, as SocketChannel does
        await b.closed(t.vanishNoticeMs);
        expect((closer === 'host' ? p.daemon : p.host).closed).toBe(true);
        await sleep(50);
        expect(a.closes.length).toBe(1);
        expect(b.closes.length).toBe(1);
      }
    }, 60_000);

    it('close(cause): the closer reports that cause; the peer is told; send() afterwards is dropped', async () => {
      const { host, daemon } = await pair();
      const atHost = record(host);
      const atDaemon = record(daemon);
      const cause = new Error('done here');
      daemon.close(cause);
      expect(atDaemon.closes).toEqual([cause]);
      expect(daemon.closed).toBe(true);
      expect(() => daemon.send(frame(FrameType.Result, 1, [bytes(4, 1)]))).not.toThrow();
      daemon.close(new Error('again')); // idempotent
      expect(atDaemon.closes.length).toBe(1);
      await atHost.closed(t.vanishNoticeMs);
      expect(host.closed).toBe(true);
      expect(() => host.send(frame(FrameType.Task, 1, [bytes(4, 1)]))).not.toThrow();
    });

    it('a frame over the receiver limit closes the channel with a ProtocolError cause; the sender is told', async () => {
      const { host, daemon } = await pair();
      const atHost = record(host);
      const atDaemon = record(daemon);
      daemon.setLimits({ maxFrameBytes: 1024, maxSegments: 4 });
      host.send(frame(FrameType.Task, 1, [bytes(512, 1)])); // fits
      await atDaemon.frameCount(1);
      host.send(frame(FrameType.Task, 2, [bytes(4096, 2)]));
      const reason = await atDaemon.closed();
      expect(isMiraiError(reason)).toBe(true);
      expect((reason as { kind?: string }).kind).toBe('protocol');
      expect(reason!.message).toMatch(/exceeds the limit/);
      expect(atDaemon.frames.length).toBe(1);
      await atHost.closed(t.vanishNoticeMs);
    });

    it('a result over maxResultBytes is handed on as an OversizedResult, read past, and the channel stays open', async () => {
      const { host, daemon } = await pair();
      const atHost = record(host);
      host.setLimits({ ...DEFAULT_LIMITS, maxResultBytes: 64 * 1024 });
      const before = frame(FrameType.Result, 1, [bytes(1000, 1)]);
      // Large enough to arrive in many reads: every byte of it is read past, none kept.
      const over = frame(FrameType.Result, 2, [bytes(40 * 1024, 2), bytes(3 * 1024 * 1024, 3)], FrameFlag.Final);
      const after = frame(FrameType.Result, 3, [bytes(64 * 1024, 4)]); // exactly the limit: fits
      const bye = frame(FrameType.Bye, 0, [bytes(128 * 1024, 5)]); // the limit is for results only
      for (const f of [before, over, after, bye]) daemon.send(f);
      await atHost.frameCount(4);
      const [a, b, c, d] = atHost.frames;
      expect([a!.type, a!.id, digest(a!.segments)]).toEqual([FrameType.Result, 1, digest(before.segments)]);
      expect(b).toMatchObject({ type: FrameType.OversizedResult, id: 2, flags: FrameFlag.Final, bytes: 40 * 1024 + 3 * 1024 * 1024, segments: [] });
      expect([c!.type, c!.id, digest(c!.segments)]).toEqual([FrameType.Result, 3, digest(after.segments)]);
      expect([d!.type, digest(d!.segments)]).toEqual([FrameType.Bye, digest(bye.segments)]);
      expect(host.closed).toBe(false);
      expect(atHost.closes).toEqual([]);
    });

    it('listener close: connected channels close, and new dials fail', async () => {
      const listener = await listen();
      const { host, daemon } = await pair(listener);
      const atDaemon = record(daemon);
      record(host);
      await listener.close();
      await atDaemon.closed(t.vanishNoticeMs);
      expect(daemon.closed).toBe(true);
      await expect(t.transport().dial(listener.url, { limits: DEFAULT_LIMITS })).rejects.toThrow();
    });

    it('a dialer whose process is killed is noticed by the listener side', async () => {
      const listener = await listen();
      const accepted = new Promise<Channel>((resolve) => {
        listener.onChannel = resolve;
      });
      const child = await startPeer({ role: 'dial', url: listener.url, transport: t.childTransport });
      cleanups.push(() => child.kill('SIGKILL'));
      const host = await accepted;
      const atHost = record(host);
      await sleep(200);
      expect(host.closed).toBe(false);
      const killedAt = Date.now();
      child.kill('SIGKILL');
      await atHost.closed(t.vanishNoticeMs);
      expect(Date.now() - killedAt).toBeLessThan(t.vanishNoticeMs);
    }, 60_000);

    it('a listener whose process is killed is noticed by the dialer side', async () => {
      const { child, url } = await startPeerWithUrl({ role: 'listen', url: t.url(), transport: t.childTransport });
      cleanups.push(() => child.kill('SIGKILL'));
      const daemon = await t.transport().dial(url, { limits: DEFAULT_LIMITS });
      cleanups.push(() => daemon.close());
      const atDaemon = record(daemon);
      await sleep(200);
      expect(daemon.closed).toBe(false);
      child.kill('SIGKILL');
      await atDaemon.closed(t.vanishNoticeMs);
    }, 60_000);
  });
}

async function startPeer(spec: { role: 'dial' | 'listen'; url: string; transport: 'ipc' | 'tcp' | PluginRef }): Promise<ChildProcess> {
  return (await startPeerWithUrl(spec)).child;
}

/** Starts peer.mjs (on the built packages) and waits for its "ready <url>" line. */
function startPeerWithUrl(spec: { role: 'dial' | 'listen'; url: string; transport: 'ipc' | 'tcp' | PluginRef }): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['--experimental-import-meta-resolve', PEER_SCRIPT, JSON.stringify(spec)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`peer process not ready within 20 s; stderr:\n${err}`));
    }, 20_000);
    child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /ready (\S+)\n/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: m[1]! });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`peer process exited (${code}) before it was ready (are the packages built? pnpm -r run build); stderr:\n${err}`));
    });
  });
}
