/**
 * Liveness: a path that stops forwarding (a proxy that hangs, keeping both TCP connections
 * open) is found by the heartbeat, on both sides, so tasks on the daemon behind it settle;
 * a daemon busy in synchronous code on a healthy path is not mistaken for a lost one.
 * Daemons are real processes running the built packages (dist).
 */
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { daemons, isMiraiError, launchRemote, localLauncher, mirai, status, type Launcher, type LaunchSpec } from '@mirai-ts/core';
import { wsTransport } from '@mirai-ts/transport-ws';
import { requireBuiltPackages, until } from './support.js';

interface Relay {
  readonly port: number;
  /** From now on, bytes both ways are read and dropped, and no close is passed on. */
  stopForwarding(): void;
  /** Connections whose daemon side has closed. */
  readonly daemonSidesClosed: number;
  close(): Promise<void>;
}

/** A TCP relay to the host's port: what a proxy is to both sides (each sees only its own hop). */
async function startRelay(target: () => number): Promise<Relay> {
  let forwarding = true;
  let daemonSidesClosed = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((daemonSide) => {
    const hostSide = connect(target(), '127.0.0.1');
    for (const [from, to] of [
      [daemonSide, hostSide],
      [hostSide, daemonSide],
    ] as const) {
      sockets.add(from);
      from.on('error', () => {});
      from.on('data', (data: Buffer) => {
        if (forwarding) to.write(data);
      });
      from.on('close', () => {
        sockets.delete(from);
        if (from === daemonSide) daemonSidesClosed++;
        if (forwarding) to.destroy();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    stopForwarding: () => (forwarding = false),
    get daemonSidesClosed() {
      return daemonSidesClosed;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The local launcher, but daemons dial `url` (the relay) instead of the host's own URL. */
function via(url: string): Launcher {
  const local = localLauncher();
  return { kind: 'local-via-relay', launch: (spec: LaunchSpec, n: number) => local.launch({ ...spec, url }, n) };
}

/** `promise`'s outcome, or 'pending' if it has none within `ms`. */
function within<T>(promise: Promise<T>, ms: number): Promise<T | 'pending'> {
  return Promise.race([promise, new Promise<'pending'>((resolve) => setTimeout(() => resolve('pending'), ms).unref())]);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('WebSocket liveness', () => {
  let relay: Relay | undefined;

  afterEach(async () => {
    await daemons(0);
    await relay?.close();
    relay = undefined;
  });

  /** A host whose one daemon dials in through a relay. */
  async function hostBehindRelay(options: { heartbeatMs: number; busyTimeoutMs: number }): Promise<Relay> {
    requireBuiltPackages();
    let hostPort = 0;
    relay = await startRelay(() => hostPort);
    await daemons({ url: 'ws://127.0.0.1:0/live', transports: [wsTransport(options)], repair: false });
    hostPort = Number(new URL(status()!.url).port);
    await launchRemote(1, via(`ws://127.0.0.1:${relay.port}/live`));
    expect(status()!.connections).toBe(1);
    return relay;
  }

  it('a task on a daemon behind a relay that stops forwarding settles with a connection reset, and the daemon closes its side', async () => {
    const relay = await hostBehindRelay({ heartbeatMs: 200, busyTimeoutMs: 2_000 });
    const task = mirai(() => new Promise<string>((done) => setTimeout(() => done('done'), 60_000)));
    await sleep(1_000); // the task is running on the daemon
    relay.stopForwarding();
    const outcome = await within(
      task.then(
        () => 'resolved',
        (err: unknown) => err,
      ),
      20_000,
    );
    expect(outcome).not.toBe('pending');
    // Lost daemon: its running task settles as with any lost daemon (no retry asked here).
    expect(isMiraiError(outcome) && outcome.errorValue).toBe(19);
    expect(status()!.connections).toBe(0);
    // The daemon found the silence too (its host gets busyTimeoutMs) and closed its side.
    expect(await until(() => relay.daemonSidesClosed === 1, 20_000)).toBe(true);
  }, 60_000);

  it('an idle daemon behind a relay that stops forwarding is dropped within a few heartbeats', async () => {
    const relay = await hostBehindRelay({ heartbeatMs: 200, busyTimeoutMs: 60_000 });
    await sleep(1_000); // idle, and answering pings through the relay
    expect(status()!.connections).toBe(1);
    relay.stopForwarding();
    // Three silent heartbeats (600 ms) and a little: not busyTimeoutMs, which is for busy peers.
    expect(await until(() => status()!.connections === 0, 15_000)).toBe(true);
  }, 60_000);

  it('a daemon busy in synchronous code for many heartbeats on a healthy connection is not declared lost', async () => {
    requireBuiltPackages();
    // Its event loop is blocked for 15 heartbeats: no pongs meanwhile (ws answers pings on the
    // event loop), and it does not answer them late for long either.
    await daemons(1, { url: 'ws://127.0.0.1:0/busy', transports: [wsTransport({ heartbeatMs: 200, busyTimeoutMs: 30_000 })], repair: false });
    const blocked = mirai(() => {
      const end = Date.now() + 3_000;
      while (Date.now() < end);
      return 'done';
    });
    expect(await blocked).toBe('done');
    // Idle again, on the same connection: pongs come, and nothing is dropped.
    await sleep(1_500);
    expect(status()!.connections).toBe(1);
    expect(status()!.cumulative).toBe(1);
    expect(await mirai(() => 'still here')).toBe('still here');
  }, 60_000);
});
