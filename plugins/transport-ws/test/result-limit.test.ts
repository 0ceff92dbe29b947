/**
 * `maxResultBytes` over WebSockets: an honest daemon's oversized result costs its own task
 * only; a daemon that sends one anyway is refused from the WebSocket frame header, so the host
 * never holds more than the result limit and a little room of it.
 */
import { describe, expect, it } from 'vitest';
import { daemons, isMiraiError, mirai, ResultTooLargeError, status, type Channel } from '@mirai-ts/core';
import { DEFAULT_LIMITS, frame, FrameType, type Frame } from '@mirai-ts/core/plugin';
import type WebSocket from 'ws';
import { wsTransport } from '@mirai-ts/transport-ws';
import { requireBuiltPackages } from './support.js';

describe('maxResultBytes over WebSockets', () => {
  it('an honest daemon sends a ResultTooLargeError in place of an oversized result: one task fails, the connection serves on', async () => {
    requireBuiltPackages();
    await daemons(1, { url: 'ws://127.0.0.1:0/results', transports: [wsTransport()], maxResultBytes: 100_000, repair: false });
    try {
      const err = await mirai(() => new Float64Array(1_000_000)).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ResultTooLargeError);
      expect((err as ResultTooLargeError).limit).toBe(100_000);
      expect((err as Error).message).toMatch(/it was not sent/);
      expect(await mirai(() => new Float64Array(1_000).length)).toBe(1_000);
      expect(status()!.connections).toBe(1);
      expect(status()!.cumulative).toBe(1);
    } finally {
      await daemons(0);
    }
  }, 60_000);

  it('a daemon that sends a result over maxResultBytes anyway is refused before the host holds it, and loses its connection', async () => {
    const t = wsTransport({ heartbeatMs: 0 });
    const listener = await t.listen('ws://127.0.0.1:0/hostile', { handshakeLimits: DEFAULT_LIMITS });
    try {
      const accepted = new Promise<Channel>((resolve) => (listener.onChannel = resolve));
      const daemon = await t.dial(listener.url, { limits: DEFAULT_LIMITS });
      const host = await accepted;
      // As the dispatcher does after the handshake, for a profile with maxResultBytes.
      host.setLimits({ ...DEFAULT_LIMITS, maxResultBytes: 1_000 });
      // What ws hands on as a whole message: nothing near the result's size may get that far.
      let largestMessage = 0;
      (host as unknown as { ws: WebSocket }).ws.on('message', (data: Buffer[] | Buffer) => {
        const bytes = Array.isArray(data) ? data.reduce((n, part) => n + part.length, 0) : data.length;
        largestMessage = Math.max(largestMessage, bytes);
      });
      const frames: Frame[] = [];
      host.onFrame = (f) => frames.push(f);
      const hostClosed = new Promise<Error | undefined>((resolve) => (host.onClose = resolve));
      daemon.onClose = () => {};
      daemon.send(frame(FrameType.Result, 7, [new Uint8Array(32 * 1024 * 1024)]));
      const reason = await Promise.race([hostClosed, new Promise<'open'>((resolve) => setTimeout(() => resolve('open'), 15_000).unref())]);
      expect(largestMessage).toBeLessThan(1024 * 1024);
      expect(frames).toEqual([]);
      expect(reason).not.toBe('open');
      expect(isMiraiError(reason) && reason.kind).toBe('protocol');
      expect((reason as Error).message).toMatch(/exceeds the limit of \d+ bytes \(the profile's maxResultBytes \(1000\)/);
    } finally {
      await listener.close();
    }
  }, 60_000);
});
