/**
 * NATS channel behaviour beyond the shared conformance suite: frames lost while the server
 * restarts are sent again (exactly once, in order), outages longer than the limit close
 * channels with a cause, scopes are isolated, and a dial with no host fails clearly.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Channel, Listener } from '@mirai-ts/core';
import { DEFAULT_LIMITS, frame, FrameType, type Frame } from '@mirai-ts/core/plugin';
import { natsTransport, NatsTransportError, type NatsTransportOptions } from '@mirai-ts/transport-nats';
import { NatsServer, natsTestsEnabled } from './nats-server.js';

const enabled = natsTestsEnabled();

function until(check: () => boolean, ms: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + ms;
    const tick = (): void => {
      if (check()) resolve();
      else if (Date.now() > deadline) reject(new Error(`timed out waiting for ${what}`));
      else setTimeout(tick, 20);
    };
    tick();
  });
}

describe.skipIf(!enabled)('NATS channels', () => {
  let server: NatsServer;
  let scope = 0;
  const cleanups: (() => unknown)[] = [];
  const url = (): string => `${server.url}/channel/s${++scope}`;

  beforeAll(async () => {
    server = await NatsServer.start();
  }, 60_000);
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  afterAll(async () => {
    await server?.dispose();
  });

  async function pair(options: NatsTransportOptions = {}, at = url()): Promise<{ listener: Listener; host: Channel; daemon: Channel }> {
    const listener = await natsTransport(options).listen(at, { handshakeLimits: DEFAULT_LIMITS });
    cleanups.push(() => listener.close());
    const accepted = new Promise<Channel>((resolve) => (listener.onChannel = resolve));
    const daemon = await natsTransport(options).dial(at, { limits: DEFAULT_LIMITS });
    cleanups.push(() => daemon.close());
    return { listener, host: await accepted, daemon };
  }

  it('frames sent while the server is down arrive after it is back: once each, in order, both ways', async () => {
    const { host, daemon } = await pair({ heartbeatMs: 200 });
    const atDaemon: Frame[] = [];
    const atHost: Frame[] = [];
    daemon.onFrame = (f) => atDaemon.push(f);
    host.onFrame = (f) => atHost.push(f);
    let closes = 0;
    daemon.onClose = () => closes++;
    host.onClose = () => closes++;
    host.send(frame(FrameType.Task, 0, []));
    await until(() => atDaemon.length === 1, 10_000, 'the first frame');
    await server.kill();
    // The NATS client buffers these, then drops its buffer when it reconnects: only the
    // channel's own resend can deliver them.
    for (let i = 1; i <= 50; i++) host.send(frame(FrameType.Task, i, [new Uint8Array(100).fill(i)]));
    daemon.send(frame(FrameType.Result, 1000, [new Uint8Array(3 * 1024 * 1024).fill(7)]));
    await new Promise((r) => setTimeout(r, 500));
    await server.restart();
    await until(() => atDaemon.length >= 51 && atHost.length >= 1, 20_000, 'the frames sent during the outage');
    await new Promise((r) => setTimeout(r, 1_000)); // duplicates, if any, would arrive by now
    expect(atDaemon.map((f) => f.id)).toEqual(Array.from({ length: 51 }, (_, i) => i));
    expect(atDaemon[50]!.segments[0]![99]).toBe(50);
    expect(atHost.map((f) => f.id)).toEqual([1000]);
    expect(atHost[0]!.segments[0]!.byteLength).toBe(3 * 1024 * 1024);
    expect(closes).toBe(0);
    expect(host.closed || daemon.closed).toBe(false);
  }, 60_000);

  it('an outage longer than reconnectTimeoutMs closes channels with a cause', async () => {
    const { host, daemon } = await pair({ heartbeatMs: 100, reconnectTimeoutMs: 1_000 });
    const reasons: (Error | undefined)[] = [];
    host.onClose = (r) => reasons.push(r);
    daemon.onClose = (r) => reasons.push(r);
    host.onFrame = () => {};
    daemon.onFrame = () => {};
    await server.kill();
    try {
      await until(() => reasons.length === 2, 15_000, 'both channels to close');
    } finally {
      await server.restart();
    }
    for (const r of reasons) {
      expect(r).toBeInstanceOf(NatsTransportError);
      expect(r!.message).toMatch(/lost the NATS server .* for more than 1000 ms/);
    }
  }, 60_000);

  it('a dial with no host at the scope fails at once, naming the URL', async () => {
    const at = url();
    const started = Date.now();
    await expect(natsTransport().dial(at, { limits: DEFAULT_LIMITS })).rejects.toThrow(/no mirai-ts host is listening at/);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('hosts on different scopes of one server never see each other: a daemon reaches only its own', async () => {
    const a = await pair({}, `${server.url}/team/a`);
    const b = await pair({}, `${server.url}/team/b`);
    const seenA: number[] = [];
    const seenB: number[] = [];
    a.host.onFrame = (f) => seenA.push(f.id);
    b.host.onFrame = (f) => seenB.push(f.id);
    a.daemon.send(frame(FrameType.Result, 1, []));
    b.daemon.send(frame(FrameType.Result, 2, []));
    await until(() => seenA.length === 1 && seenB.length === 1, 10_000, 'one frame at each host');
    await new Promise((r) => setTimeout(r, 200));
    expect(seenA).toEqual([1]);
    expect(seenB).toEqual([2]);
  });

  it('a host whose NATS connection is closed for good (auth refused after a restart) says why, and listens again once it can', async () => {
    // Its own server: the configuration changes under the connected host.
    const own = await NatsServer.start({ config: '# no authorization\n' });
    const at = `${own.url}/reopen`;
    const listener = await natsTransport({ heartbeatMs: 100 }).listen(at, { handshakeLimits: DEFAULT_LIMITS });
    try {
      const dropped: string[] = [];
      listener.onDropped = (peer, why) => dropped.push(`${peer}: ${why}`);
      await own.stop();
      own.setConfig('authorization { token: "not-the-hosts" }\n');
      await own.restart();
      // nats.js gives up after the same authorization error twice in a row.
      await until(() => dropped.length > 0, 20_000, 'the listener to report its lost connection');
      expect(dropped[0]).toMatch(/^the NATS server nats:\/\/127\.0\.0\.1:\d+: the connection to the NATS server .* closed: .*authoriz.*; no daemon can connect to .*\/reopen until the host connects again/i);
      await own.stop();
      own.setConfig('# no authorization again\n');
      await own.restart();
      // The listener opens a new connection (waits of 1 s, 2 s, 4 s, …): a daemon gets through.
      const accepted = new Promise<Channel>((resolve) => (listener.onChannel = resolve));
      let daemon: Channel | undefined;
      const deadline = Date.now() + 45_000;
      while (daemon === undefined) {
        try {
          daemon = await natsTransport().dial(at, { limits: DEFAULT_LIMITS });
        } catch (err) {
          if (Date.now() > deadline) throw err;
          expect((err as Error).message).toMatch(/no mirai-ts host is listening|cannot connect to the NATS server/);
          await new Promise((r) => setTimeout(r, 250));
        }
      }
      cleanups.push(() => daemon.close());
      const got = new Promise<number>((resolve) => (daemon.onFrame = (f) => resolve(f.id)));
      (await accepted).send(frame(FrameType.Task, 5, []));
      expect(await got).toBe(5);
      daemon.close();
    } finally {
      await listener.close();
      await own.dispose();
    }
  }, 90_000);

  it('a daemon that the host has forgotten is told to close (host restarted on the same scope)', async () => {
    const at = url();
    const { listener, daemon } = await pair({ heartbeatMs: 100 }, at);
    const reasons: (Error | undefined)[] = [];
    daemon.onClose = (r) => reasons.push(r);
    daemon.onFrame = () => {};
    // A new host takes over the scope: the old listener's connection vanishes without a word.
    const internals = listener as unknown as { conn: { nc: { close(): Promise<void> } } };
    await internals.conn.nc.close();
    const next = await natsTransport().listen(at, { handshakeLimits: DEFAULT_LIMITS });
    cleanups.push(() => next.close());
    await until(() => reasons.length === 1, 10_000, 'the daemon channel to close');
    expect(reasons[0]?.message).toMatch(/no longer knows this connection/);
  });
});
