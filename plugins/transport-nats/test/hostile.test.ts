/**
 * Peers that do not play by the rules, against a real nats-server: a raw NATS client speaks
 * the connect request and the channel's wire format (the plugin's own wire helpers) with
 * values an honest peer never sends. Anyone allowed to publish on the scope's subjects can do
 * this before proving the profile's secret, so the host must stay up, refuse or close, and go
 * on serving honest daemons. Also: option typos and out-of-range numbers are refused.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, daemons, launchLocal, mirai, ProtocolError, type Channel } from '@mirai-ts/core';
import { DEFAULT_LIMITS, frame, FrameType } from '@mirai-ts/core/plugin';
import { connect, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { natsTransport, NatsTransportError, parseNatsUrl, type ScopeSubjects } from '@mirai-ts/transport-nats';
import { MessageKind, pingMessage, pongMessage, PongState, readPong } from '../src/wire.js';
import { NatsServer, natsTestsEnabled } from './nats-server.js';
import { requireBuiltPackages } from './built.js';

const enabled = natsTestsEnabled();
const encoder = new TextEncoder();
const decoder = new TextDecoder();

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

async function settle<T>(p: PromiseLike<T>): Promise<{ value?: T; error?: Error }> {
  try {
    return { value: await p };
  } catch (error) {
    return { error: error as Error };
  }
}

const newId = (): string => randomBytes(16).toString('hex');

/** A connect request as a raw client sends it; the host's JSON answer. */
async function connectRequest(nc: NatsConnection, subject: string, request: unknown): Promise<{ ok: boolean; error?: string; maxPayload?: number }> {
  const reply = await nc.request(subject, encoder.encode(JSON.stringify(request)), { timeout: 5_000 });
  return JSON.parse(decoder.decode(reply.data)) as { ok: boolean; error?: string };
}

describe.skipIf(!enabled)('NATS peers that break the rules', () => {
  let server: NatsServer;
  let scope = 0;
  const cleanups: (() => unknown)[] = [];
  const url = (): string => `${server.url}/hostile/s${++scope}`;

  beforeAll(async () => {
    server = await NatsServer.start();
  }, 60_000);
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
    await daemons(0);
  });
  afterAll(async () => {
    await server?.dispose();
  });

  /** A plain NATS client: what anyone allowed on the server can run. */
  async function raw(): Promise<NatsConnection> {
    const nc = await connect({ servers: server.url });
    cleanups.push(() => nc.close());
    return nc;
  }

  /**
   * A host-side channel whose daemon end is a raw client. The raw end answers the host's
   * pings as an honest peer would (with what it received) unless `pong` says otherwise.
   */
  async function rawPeer(pong?: (received: number) => number): Promise<{ nc: NatsConnection; subjects: ScopeSubjects; id: string; host: Channel; reasons: (Error | undefined)[] }> {
    const at = url();
    const subjects = parseNatsUrl(at).subjects;
    const listener = await natsTransport({ heartbeatMs: 100 }).listen(at, { handshakeLimits: DEFAULT_LIMITS });
    cleanups.push(() => listener.close());
    const accepted = new Promise<Channel>((resolve) => (listener.onChannel = resolve));
    const nc = await raw();
    const id = newId();
    let received = 0;
    nc.subscribe(subjects.toDaemon(id), {
      callback: (_err, msg: Msg) => {
        if (msg.data[0] === MessageKind.Data) received++;
        if (msg.data[0] === MessageKind.Ping && msg.reply) msg.respond(pongMessage(pong ? pong(received) : received, PongState.Ok));
      },
    });
    const reply = await connectRequest(nc, subjects.connect, { v: 1, id, maxPayload: 1024 * 1024 });
    expect(reply.ok).toBe(true);
    const host = await accepted;
    const reasons: (Error | undefined)[] = [];
    host.onFrame = () => {};
    host.onClose = (reason) => reasons.push(reason);
    return { nc, subjects, id, host, reasons };
  }

  it('a connect request with a bad maxPayload is refused (no secret needed to send one); the host stays up and serves a real daemon', async () => {
    requireBuiltPackages();
    const at = url();
    const logged: string[] = [];
    await daemons({ url: at, transports: [natsTransport()], log: (_level, message) => logged.push(message) });
    const nc = await raw();
    const { connect: subject } = parseNatsUrl(at).subjects;
    // 10 and 9.0000001 cut a frame into 1-byte and 1e-7-byte pieces: the first made millions of
    // messages, the second allocated until the host ran out of memory.
    for (const maxPayload of [10, 9.0000001, 1023, 1024.5, 2 ** 40, -1, '1048576', null, undefined]) {
      const reply = await connectRequest(nc, subject, { v: 1, id: newId(), maxPayload });
      expect(reply.ok, `maxPayload ${String(maxPayload)}`).toBe(false);
      expect(reply.error).toMatch(/^maxPayload must be a whole number of bytes from 1024 to 67108864, got /);
    }
    // The host says why, through the profile's log.
    expect(logged.some((m) => /refused a connection from NATS channel \w+: bad connect request: maxPayload must be/.test(m))).toBe(true);
    await launchLocal(1);
    expect(await mirai(() => 6 * 7)).toBe(42);
  }, 60_000);

  it('a daemon refuses a connect reply with a bad maxPayload (the replier is not proven to be the host yet)', async () => {
    const at = url();
    const nc = await raw();
    const subjects = parseNatsUrl(at).subjects;
    nc.subscribe(subjects.connect, {
      callback: (_err, msg) => {
        msg.respond(encoder.encode(JSON.stringify({ v: 1, ok: true, maxPayload: 9.0000001 })));
      },
    });
    await nc.flush();
    const outcome = await settle(natsTransport().dial(at, { limits: DEFAULT_LIMITS }));
    outcome.value?.close();
    expect(outcome.error).toBeInstanceOf(NatsTransportError);
    expect(outcome.error?.message).toMatch(/bad connect reply: maxPayload must be a whole number of bytes from 1024 to 67108864, got 9.0000001/);
  });

  it.each([
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['more than was sent', 7],
    ['negative', -1],
    ['a fraction', 1.5],
  ])('a Ping acknowledging %s closes the channel with a ProtocolError', async (_what, received) => {
    const { nc, subjects, id, host, reasons } = await rawPeer();
    host.send(frame(FrameType.Task, 1, []));
    host.send(frame(FrameType.Task, 2, []));
    nc.request(subjects.toHost(id), pingMessage(0, received), { timeout: 2_000 }).catch(() => {});
    await until(() => reasons.length === 1, 10_000, 'the host channel to close');
    expect(reasons[0]).toBeInstanceOf(ProtocolError);
    expect(reasons[0]!.message).toMatch(/broke the NATS channel protocol: its Ping acknowledges message .*, but 2 were sent/);
    expect(host.closed).toBe(true);
  });

  it.each([
    ['NaN', () => Number.NaN],
    ['more than was sent', (received: number) => received + 1_000],
  ])('a Pong acknowledging %s closes the channel with a ProtocolError', async (_what, pong) => {
    const { host, reasons } = await rawPeer(pong);
    host.send(frame(FrameType.Task, 1, []));
    await until(() => reasons.length === 1, 10_000, 'the host channel to close');
    expect(reasons[0]).toBeInstanceOf(ProtocolError);
    expect(reasons[0]!.message).toMatch(/its Pong acknowledges message/);
  });

  it('an acknowledgement older than one already seen is not a violation (Pongs and Pings cross)', async () => {
    const { nc, subjects, id, host, reasons } = await rawPeer();
    host.send(frame(FrameType.Task, 1, []));
    host.send(frame(FrameType.Task, 2, []));
    const acks: number[] = [];
    for (const received of [2, 1, 0, 2]) {
      const reply = await nc.request(subjects.toHost(id), pingMessage(0, received), { timeout: 5_000 });
      acks.push(readPong(reply.data)!.received);
    }
    expect(acks).toEqual([0, 0, 0, 0]); // the host received nothing; it answered each Ping
    expect(reasons).toEqual([]);
    expect(host.closed).toBe(false);
  });

  it('a close reason is cut to a sane length and cannot fake log lines', async () => {
    const { nc, subjects, id, reasons } = await rawPeer();
    const text = Buffer.from('forged log line\n'.repeat(10_000), 'utf8');
    nc.publish(subjects.toHost(id), Buffer.concat([Buffer.from([MessageKind.Close]), text]));
    await until(() => reasons.length === 1, 10_000, 'the host channel to close');
    const message = reasons[0]!.message;
    expect(message).toMatch(/closed the connection: forged log line/);
    expect(message.length).toBeLessThan(1_200);
    expect(message).not.toContain('\n');
    expect(message).toMatch(/… \(cut\)$/);
  });

  it('unknown keys in listen and dial options are refused, with the nearest known option', async () => {
    const at = url();
    const listen = await settle(natsTransport().listen(at, { handshakeLimits: DEFAULT_LIMITS, tsl: { caFile: '/etc/ca.pem' } }));
    await listen.value?.close();
    expect(listen.error).toBeInstanceOf(ConfigError);
    expect(listen.error?.message).toMatch(/^NATS listen options: unknown option 'tsl'; did you mean 'tls'\?/);
    const viaProfile = await settle(daemons({ url: at, transports: [natsTransport()], listenOptions: { tokenFlie: '/etc/token' } }));
    expect(viaProfile.error).toBeInstanceOf(ConfigError);
    expect(viaProfile.error?.message).toMatch(/unknown option 'tokenFlie'; did you mean 'tokenFile'\?/);
    const dial = await settle(natsTransport().dial(at, { limits: DEFAULT_LIMITS, passFlie: '/etc/pass' }));
    dial.value?.close();
    expect(dial.error).toBeInstanceOf(ConfigError);
    expect(dial.error?.message).toMatch(/^NATS dial options: unknown option 'passFlie'; did you mean 'passFile'\?/);
    const typoCase = await settle(natsTransport().dial(at, { limits: DEFAULT_LIMITS, heartbeatMS: 100 }));
    expect(typoCase.error?.message).toMatch(/unknown option 'heartbeatMS'; did you mean 'heartbeatMs'\?/);
  });

  it('number options out of range are refused: per side too, before connecting', async () => {
    const at = url();
    expect(() => natsTransport({ maxMessageBytes: 9 })).toThrow(ConfigError);
    const listen = await settle(natsTransport().listen(at, { handshakeLimits: DEFAULT_LIMITS, heartbeatMs: 2 ** 31 }));
    await listen.value?.close();
    expect(listen.error?.message).toBe(
      "NATS listen options: option 'heartbeatMs' must be a whole number of milliseconds from 1 to 2147483647, got 2147483648",
    );
    const dial = await settle(natsTransport().dial(at, { limits: DEFAULT_LIMITS, maxMessageBytes: 1_000.5 }));
    expect(dial.error?.message).toBe("NATS dial options: option 'maxMessageBytes' must be a whole number of bytes from 1024 to 67108864, got 1000.5");
  });

  it('the smallest maxMessageBytes (1024) still carries a large frame, in order', async () => {
    const at = url();
    const listener = await natsTransport({ maxMessageBytes: 1024 }).listen(at, { handshakeLimits: DEFAULT_LIMITS });
    cleanups.push(() => listener.close());
    const accepted = new Promise<Channel>((resolve) => (listener.onChannel = resolve));
    const daemon = await natsTransport({ maxMessageBytes: 1024 }).dial(at, { limits: DEFAULT_LIMITS });
    cleanups.push(() => daemon.close());
    const got = new Promise<Uint8Array>((resolve) => (daemon.onFrame = (f) => resolve(f.segments[0]!)));
    const payload = Uint8Array.from({ length: 200_000 }, (_, i) => i % 251);
    (await accepted).send(frame(FrameType.Task, 1, [payload]));
    expect(Buffer.from(await got).equals(Buffer.from(payload))).toBe(true);
  });
});
