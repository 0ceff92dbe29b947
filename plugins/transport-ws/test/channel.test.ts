/** Channel edge cases the shared conformance suite cannot reach. */
import { describe, expect, it } from 'vitest';
import { isMiraiError, type Channel } from '@mirai-ts/core';
import { DEFAULT_LIMITS, frame, FrameType } from '@mirai-ts/core/plugin';
import { MAX_MESSAGE_BYTES, wsTransport } from '@mirai-ts/transport-ws';

const closed = (channel: Channel): Promise<Error | undefined> => new Promise((resolve) => (channel.onClose = resolve));

describe('WebSocket channel', () => {
  it('a frame over 2 GiB - 1 (the ws message limit) closes the sender with a ProtocolError; the peer is told', async () => {
    const t = wsTransport();
    const listener = await t.listen('ws://127.0.0.1:0/big', { handshakeLimits: DEFAULT_LIMITS });
    try {
      const accepted = new Promise<Channel>((resolve) => (listener.onChannel = resolve));
      const daemon = await t.dial(listener.url, { limits: DEFAULT_LIMITS });
      const host = await accepted;
      const hostClosed = closed(host);
      const daemonClosed = closed(daemon);
      // Segment lengths are all the encoder reads of large segments before they are sent:
      // stand-ins of 1 GiB each make the size check fire without allocating 3 GiB.
      const huge = { byteLength: 2 ** 30 } as Uint8Array;
      host.send(frame(FrameType.Task, 1, [huge, huge, huge]));
      const reason = await hostClosed;
      expect(isMiraiError(reason)).toBe(true);
      expect((reason as { kind?: string }).kind).toBe('protocol');
      expect(reason!.message).toContain(`limit of ${MAX_MESSAGE_BYTES} bytes per frame`);
      await daemonClosed;
      expect(daemon.closed).toBe(true);
    } finally {
      await listener.close();
    }
  });
});
