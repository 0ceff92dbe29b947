/** Channel edge cases the shared conformance suite cannot reach. */
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { isMiraiError, type Channel, type Listener } from '@mirai-ts/core';
import type { Frame } from '@mirai-ts/core/plugin';
import WebSocket from 'ws';
import { createCertificateAuthority, DEFAULT_LIMITS, encodeFrame, frame, FrameType, issueServerCertificate } from '@mirai-ts/core/plugin';
import { MAX_MESSAGE_BYTES, wsTransport } from '@mirai-ts/transport-ws';

const closed = (channel: Channel): Promise<Error | undefined> => new Promise((resolve) => (channel.onClose = resolve));

const ca = createCertificateAuthority({ commonName: 'channel test CA' });
const leaf = issueServerCertificate(ca, ['127.0.0.1'], { commonName: '127.0.0.1' });
const tls = { cert: leaf.certPem + ca.certPem, key: leaf.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string };

/** A listener at `path` on 127.0.0.1 and one daemon dialled to it: both ends' channels. */
async function connected(path: string, scheme: 'ws' | 'wss' = 'ws'): Promise<{ listener: Listener; host: Channel; daemon: Channel }> {
  const t = wsTransport(scheme === 'wss' ? { ca: ca.certPem } : {});
  const listener = await t.listen(`${scheme}://127.0.0.1:0${path}`, { handshakeLimits: DEFAULT_LIMITS, ...(scheme === 'wss' ? tls : {}) });
  const accepted = new Promise<Channel>((resolve) => (listener.onChannel = resolve));
  const daemon = await t.dial(listener.url, { limits: DEFAULT_LIMITS });
  return { listener, host: await accepted, daemon };
}

describe('WebSocket channel', () => {
  it('a frame over 2 GiB - 1 (the ws message limit) closes the sender with a ProtocolError; the peer is told', async () => {
    const { listener, host, daemon } = await connected('/big');
    try {
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

  for (const scheme of ['ws', 'wss'] as const) {
    it(`${scheme}://: both ends read into the shared buffer, with no 'data' event per read, and frames cut across reads arrive whole`, async () => {
      const { listener, host, daemon } = await connected('/shared', scheme);
      try {
        host.setLimits(DEFAULT_LIMITS);
        expect((host as unknown as { readsShared: boolean }).readsShared).toBe(true);
        expect((daemon as unknown as { readsShared: boolean }).readsShared).toBe(true);
        const hostSocket = (host as unknown as { socket: Socket }).socket;
        let dataEvents = 0;
        hostSocket.on('data', () => dataEvents++);
        // 300 000 bytes: several reads, each copied out before the shared buffer is reused.
        const big = new Uint8Array(300_000).map((_, i) => i % 251);
        const sent = [frame(FrameType.Result, 1, [big]), frame(FrameType.Result, 2, [Buffer.from('after')])];
        const got: Frame[] = [];
        const both = new Promise<void>((resolve) => {
          host.onFrame = (f) => {
            got.push(f);
            if (got.length === 2) resolve();
          };
        });
        for (const f of sent) daemon.send(f);
        await both;
        expect(got.map((f) => f.id)).toEqual([1, 2]);
        expect(Buffer.compare(Buffer.from(got[0]!.segments[0]!), Buffer.from(big))).toBe(0);
        expect(Buffer.from(got[1]!.segments[0]!).toString()).toBe('after');
        expect(dataEvents).toBe(0);
        daemon.close();
      } finally {
        await listener.close();
      }
    });
  }

  it('frames of every size in a row arrive whole and in order (one decoder per channel, fragments corked)', async () => {
    const { listener, host, daemon } = await connected('/mixed');
    try {
      host.setLimits(DEFAULT_LIMITS);
      // Small frames go as one buffer; 64 KiB segments make multi-fragment messages.
      const sizes = [0, 1, 40, 70_000, 3, 200_000, 16, 65_536, 0, 9];
      const sent = sizes.map((n, i) => frame(FrameType.Result, i + 1, n === 0 ? [] : [new Uint8Array(n).fill(i + 1), new Uint8Array(5).fill(i)]));
      const got: { id: number; lengths: number[]; first: number | undefined; last: number | undefined }[] = [];
      const all = new Promise<void>((resolve) => {
        host.onFrame = (f) => {
          got.push({ id: f.id, lengths: f.segments.map((s) => s.byteLength), first: f.segments[0]?.[0], last: f.segments[1]?.[4] });
          if (got.length === sent.length) resolve();
        };
      });
      for (const f of sent) daemon.send(f);
      await all;
      expect(got).toEqual(
        sent.map((f, i) => ({ id: i + 1, lengths: f.segments.map((s) => s.byteLength), first: f.segments.length > 0 ? i + 1 : undefined, last: f.segments.length > 0 ? i : undefined })),
      );
      expect(host.closed).toBe(false);
      daemon.close();
    } finally {
      await listener.close();
    }
  });

  it('writes what was sent during a read when flushed, and the rest of the read at its end', async () => {
    const { listener, host, daemon } = await connected('/flush');
    try {
      host.setLimits(DEFAULT_LIMITS);
      const socketOf = (c: Channel) => (c as unknown as { socket: Socket }).socket;
      const hostSocket = socketOf(host);
      let writes = 0;
      const write = hostSocket._write.bind(hostSocket);
      const writev = hostSocket._writev!.bind(hostSocket);
      hostSocket._write = (...args: Parameters<Socket['_write']>) => (writes++, write(...args));
      hostSocket._writev = (...args: Parameters<NonNullable<Socket['_writev']>>) => (writes++, writev(...args));
      // As the dispatcher does: given the first frame of a read, it answers and flushes at once.
      const writesAtFlush: number[] = [];
      host.onFrame = (f) => {
        host.send(frame(FrameType.Task, f.id, [Buffer.from(`answer ${f.id}`)]));
        if (f.id === 1) {
          host.flush?.();
          writesAtFlush.push(writes);
        }
      };
      const answers: string[] = [];
      const all = new Promise<void>((resolve) => {
        daemon.onFrame = (f) => {
          answers.push(Buffer.from(f.segments[0]!).toString());
          if (answers.length === 3) resolve();
        };
      });
      // Three messages in one TCP write: the host reads them together.
      const daemonSocket = socketOf(daemon);
      daemonSocket.cork();
      for (const id of [1, 2, 3]) daemon.send(frame(FrameType.Result, id, [Buffer.from('x')]));
      daemonSocket.uncork();
      await all;
      expect(answers).toEqual(['answer 1', 'answer 2', 'answer 3']);
      // The first answer left at the flush; the other two together at the end of the read.
      expect(writesAtFlush).toEqual([1]);
      expect(writes).toBe(2);
      daemon.close();
    } finally {
      await listener.close();
    }
  });

  // Past the handshake (limits at their largest), a peer still cannot make this side allocate
  // what a frame claims, nor slip two frames, or half of one, into a message.
  const lies: [string, () => Buffer, RegExp][] = [
    ['a 24-byte message declaring a 3 GiB frame', () => lengthsOnly([0xc0000000]), /declares a frame of 3221225492 bytes/],
    ['two frames in one message', () => Buffer.concat([one(1), one(2)]), /declares a frame of \d+ bytes/],
    ['half a frame', () => one(3).subarray(0, 30), /declares a frame of \d+ bytes/],
  ];
  for (const [name, message, expected] of lies) {
    it(`refuses ${name} with a ProtocolError, closing only that connection`, async () => {
      const listener = await wsTransport().listen('ws://127.0.0.1:0/raw', { handshakeLimits: DEFAULT_LIMITS });
      try {
        const accepted = new Promise<Channel>((resolve) => (listener.onChannel = resolve));
        const raw = new WebSocket(listener.url, { perMessageDeflate: false });
        raw.on('error', () => {});
        await new Promise((resolve) => raw.once('open', resolve));
        const host = await accepted;
        const hostClosed = closed(host);
        raw.send(message());
        const reason = await hostClosed;
        expect((reason as { kind?: string }).kind).toBe('protocol');
        expect(reason!.message).toMatch(expected);
      } finally {
        await listener.close();
      }
    });
  }
});

/** One small frame's bytes. */
function one(id: number): Buffer {
  return Buffer.concat(encodeFrame(frame(FrameType.Result, id, [new Uint8Array(40).fill(id)])));
}

/** A frame header and length table with no segment bytes behind them. */
function lengthsOnly(lengths: number[]): Buffer {
  const head = Buffer.concat(encodeFrame(frame(FrameType.Result, 1, [])));
  const table = Buffer.alloc(4 * lengths.length);
  lengths.forEach((len, i) => table.writeUInt32LE(len, 4 * i));
  head.writeUInt32LE(lengths.length, 8);
  return Buffer.concat([head, table]);
}
