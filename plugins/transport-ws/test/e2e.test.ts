/**
 * Real daemons over ws:// and wss:// (zero-config TLS): tasks and maps, and the peers a host
 * must refuse (wrong secret, wrong CA, a plain-text daemon at a TLS host, garbage and
 * oversized messages) while real work goes on. Daemons run the built packages (dist).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { DaemonExit, daemons, everywhere, isMiraiError, mirai, miraiMap, status, stopMirai, type DaemonsHandle, type LaunchSpec, type Mirai } from '@mirai-ts/core';
import { FRAME_HEADER_BYTES, FRAME_MAGIC, FrameType, zeroConfigCredentials } from '@mirai-ts/core/plugin';
import { wsTransport } from '@mirai-ts/transport-ws';
import { currentSpec, requireBuiltPackages, runDaemon, until } from './support.js';

/** A task that sleeps `ms` on its daemon, then answers `done`: work in flight during an attack. */
const sleeper = (ms: number): Mirai<string> =>
  mirai(({ ms }: { ms: number }) => new Promise<string>((done) => setTimeout(() => done('done'), ms)), { ms });

/** Opens a raw WebSocket to the host, sends `message`, and resolves with how the host ended it. */
function sendRaw(url: string, ca: string | undefined, message: Buffer | string): Promise<{ code: number; ms: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, ...(ca ? { ca } : {}) });
    ws.on('open', () => ws.send(message));
    ws.on('error', () => {}); // the close below says what happened
    ws.on('close', (code) => resolve({ code, ms: Date.now() - started }));
    setTimeout(() => reject(new Error('the host did not close the connection within 10 s')), 10_000).unref();
  });
}

function frameHead(segmentLengths: number[]): Buffer {
  const head = Buffer.alloc(FRAME_HEADER_BYTES + 4 * segmentLengths.length);
  head[0] = FRAME_MAGIC;
  head[1] = FrameType.Hello;
  head.writeUInt32LE(segmentLengths.length, 8);
  segmentLengths.forEach((len, i) => head.writeUInt32LE(len, FRAME_HEADER_BYTES + 4 * i));
  return head;
}

describe.each(['ws', 'wss'] as const)('%s:// end to end (real daemons)', (scheme) => {
  const secret = `ws-e2e-${Math.random().toString(36).slice(2)}`;
  const logs: string[] = [];
  let h: DaemonsHandle;
  let spec: LaunchSpec;
  const ca = (): string | undefined => spec.dialOptions?.ca as string | undefined;
  const rejected = (): number => status()!.rejected;

  beforeAll(async () => {
    requireBuiltPackages();
    h = await daemons(2, {
      url: `${scheme}://127.0.0.1:0/mirai/e2e`,
      transports: [wsTransport()],
      secret,
      handshakeTimeout: 1_000,
      log: (_level, message) => logs.push(message),
    });
    spec = await currentSpec();
  }, 60_000);

  afterAll(async () => {
    expect(logs.join('\n')).not.toContain(secret);
    await daemons(0);
  });

  it('runs tasks, everywhere() and a map on daemons that dialled in', async () => {
    expect(h.connections).toBe(2);
    expect(h.url).toMatch(new RegExp(`^${scheme}://127\\.0\\.0\\.1:\\d+/mirai/e2e$`));
    expect(spec.transport).toEqual({ specifier: '@mirai-ts/transport-ws', exportName: 'wsTransport', options: {} });
    // Zero-config TLS: the CA reaches daemons in their dial options; plain ws has none.
    if (scheme === 'wss') expect(ca()).toMatch(/^-----BEGIN CERTIFICATE-----/);
    else expect(spec.dialOptions).toBeUndefined();
    expect(await mirai(({ a, b }: { a: number; b: number }) => a + b, { a: 100, b: 42 })).toBe(142);
    const pids = await everywhere(() => process.pid);
    expect(new Set(pids).size).toBe(2);
    expect(await miraiMap([1, 2, 3, 4, 5, 6, 7, 8], (x: number) => x * x)).toEqual([1, 4, 9, 16, 25, 36, 49, 64]);
    // A large argument and result: one WebSocket message each way, several MB.
    const big = Float64Array.from({ length: 1_000_000 }, (_, i) => i);
    const back = await mirai(({ v }: { v: Float64Array }) => v.map((x) => x * 2), { v: big });
    expect(back[999_999]).toBe(1_999_998);
    expect(status()!.url).toBe(h.url);
  }, 60_000);

  it('a daemon with the wrong secret is refused and exits with AuthFailed', async () => {
    const work = sleeper(1_500);
    const before = rejected();
    const { code, stderr } = await runDaemon(spec, 'not-the-secret');
    expect(code).toBe(DaemonExit.AuthFailed);
    expect(stderr).toMatch(/handshake|secret/i);
    expect(await until(() => rejected() === before + 1)).toBe(true);
    expect(logs.some((l) => l.includes('wrong secret'))).toBe(true);
    expect(await work).toBe('done');
    expect(h.connections).toBe(2);
  }, 30_000);

  it('garbage, a text message, an oversized message and a frame claiming more than it holds close only their own connection', async () => {
    const work = sleeper(2_000);
    const before = rejected();
    const garbage = await sendRaw(h.url, ca(), Buffer.from('this is not a mirai-ts frame at all'));
    const text = await sendRaw(h.url, ca(), 'hello');
    // Over the handshake limit: ws refuses it (1009) from its header, before buffering it.
    const oversized = await sendRaw(h.url, ca(), Buffer.alloc(256 * 1024, 7));
    // Declares a 1 GiB segment in a 24-byte message: refused without allocating the claim.
    const liar = await sendRaw(h.url, ca(), Buffer.concat([frameHead([0x40000000]), Buffer.alloc(4)]));
    expect(oversized.code).toBe(1009);
    for (const r of [garbage, text, liar]) {
      expect(r.code).not.toBe(1000);
      expect(r.ms).toBeLessThan(5_000);
    }
    expect(await until(() => rejected() >= before + 4)).toBe(true);
    expect(logs.join('\n')).toMatch(/exceeds the limit/);
    expect(logs.join('\n')).toMatch(/declares a frame of 1073741844 bytes/);
    expect(await work).toBe('done');
    expect(h.connections).toBe(2);
    expect(await miraiMap([1, 2, 3], (x: number) => -x)).toEqual([-1, -2, -3]);
  }, 30_000);

  it('an upgrade at another path gets 404, a plain request 426; neither becomes a connection', async () => {
    const base = h.url.replace(/^ws/, 'http').replace(/\/mirai\/e2e$/, '');
    if (scheme === 'ws') expect((await fetch(`${base}/mirai/e2e`)).status).toBe(426);
    const elsewhere = await new Promise<number>((resolve) => {
      const ws = new WebSocket(h.url.replace(/\/mirai\/e2e$/, '/other'), { ...(ca() ? { ca: ca()! } : {}) });
      ws.on('unexpected-response', (_req, res) => {
        resolve(res.statusCode ?? 0);
        ws.terminate();
      });
      ws.on('error', () => {});
    });
    expect(elsewhere).toBe(404);
    expect(h.connections).toBe(2);
  });

  if (scheme === 'wss') {
    it('a daemon given the wrong CA refuses the host', async () => {
      const stranger = zeroConfigCredentials('127.0.0.1').caPem;
      const { code, stderr, ms } = await runDaemon({ ...spec, dialOptions: { ca: stranger } }, secret);
      expect(code).toBe(DaemonExit.ConnectFailed);
      expect(stderr).toMatch(/certificate is not trusted here.*'ca'/);
      expect(ms).toBeLessThan(10_000);
      expect(h.connections).toBe(2);
    }, 30_000);

    it('a plain ws:// daemon dialling the wss:// host fails fast with a clear error', async () => {
      const plainUrl = h.url.replace(/^wss:/, 'ws:');
      const { dialOptions: _ca, ...rest } = spec;
      const { code, stderr, ms } = await runDaemon({ ...rest, url: plainUrl }, secret);
      expect(code).toBe(DaemonExit.ConnectFailed);
      expect(stderr).toMatch(/hung up during the WebSocket upgrade.*dial wss:\/\//);
      expect(ms).toBeLessThan(5_000);
      expect(h.connections).toBe(2);
    }, 30_000);
  }
});

describe('ws:// daemons with a watchdog', () => {
  it('a daemon stuck in a cancelled synchronous task is replaced through its watchdog connection', async () => {
    requireBuiltPackages();
    // The watchdog is a second WebSocket from a worker thread, rebuilt from the plugin reference.
    await daemons(1, { url: 'ws://127.0.0.1:0/watched', transports: [wsTransport()], watchdog: true });
    try {
      const before = status()!.daemons[0]!.pid;
      const stuck = mirai(() => {
        const end = Date.now() + 30_000;
        while (Date.now() < end); // cannot hear the cancel
      });
      await new Promise((r) => setTimeout(r, 300));
      expect(stopMirai(stuck)).toBe(true);
      const outcome = await stuck.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isMiraiError(outcome) && outcome.errorValue).toBe(20);
      expect(await mirai(() => process.pid, undefined, { timeout: 20_000 })).not.toBe(before);
      expect(status()!.connections).toBe(1);
    } finally {
      await daemons(0);
    }
  }, 60_000);
});
