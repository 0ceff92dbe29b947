import { connect, createServer, Socket, type Server } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ipcTransport } from '../../src/transports/ipc.js';
import { tlsTransport } from '../../src/transports/tls.js';
import { readIntoSharedBuffer, sharedReadBuffer } from '../../src/transports/shared-read-buffer.js';
import { SocketChannel, StaticReader } from '../../src/transports/socket-channel.js';
import { encodeFrame } from '../../src/wire/frame-codec.js';
import { DEFAULT_LIMITS, frame, FrameType, type Frame } from '../../src/wire/frame.js';
import type { Channel, Listener } from '../../src/transport.js';

const until = async (predicate: () => boolean): Promise<void> => {
  const start = Date.now();
  while (!predicate()) {
    if (Date.now() - start > 10_000) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 2));
  }
};

/** Segment `k` of frame `id` from dialler `who`: its size and bytes both depend on all three. */
function segment(who: number, id: number, k: number): Buffer {
  const sizes = [1, 100, 5_000, 70_000, 200_000];
  const size = sizes[(id + k + who) % sizes.length]!;
  const b = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) b[i] = (who * 31 + id * 7 + k * 3 + i) & 0xff;
  return b;
}

describe('reads of accepted sockets into one shared buffer', () => {
  const cleanups: (() => void | Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function unixServer(): Promise<{ server: Server; path: string }> {
    const dir = mkdtempSync(join(tmpdir(), 'mirai-shared-read-'));
    const path = join(dir, 's');
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(path, resolve));
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          rmSync(dir, { recursive: true, force: true });
        }),
    );
    return { server, path };
  }

  it('delivers two sockets\' interleaved reads intact: the decoder copies what it keeps before the buffer is read into again', async () => {
    const { server, path } = await unixServer();
    const frames: Frame[][] = [[], []];
    const accepted: SocketChannel[] = [];
    const dataListeners: number[] = [];
    server.on('connection', (socket: Socket) => {
      const index = accepted.length;
      let channel: SocketChannel | undefined;
      expect(readIntoSharedBuffer(socket, (buffer, bytes) => channel!.read(buffer, bytes))).toBe(true);
      channel = new SocketChannel(socket, DEFAULT_LIMITS, `accepted ${index}`, true);
      // Frames are kept, not looked at, until every read of both sockets is done: a frame that
      // were a view of the shared buffer would by then hold later bytes.
      channel.onFrame = (f) => frames[index]!.push(f);
      dataListeners.push(socket.listenerCount('data'));
      accepted.push(channel);
    });
    const diallers = [connect(path), connect(path)];
    for (const d of diallers) {
      await new Promise<void>((resolve) => d.once('connect', resolve));
      cleanups.push(() => void d.destroy());
    }
    await until(() => accepted.length === 2);
    const perDialler = 60;
    // Both write at once, in pieces that split frames and segments at odd places.
    await Promise.all(
      diallers.map(async (d, who) => {
        const bytes = Buffer.concat(
          Array.from({ length: perDialler }, (_, id) => encodeFrame(frame(FrameType.Result, id, [0, 1, 2].map((k) => segment(who, id, k))))).flat(),
        );
        for (let at = 0, piece = 1; at < bytes.length; piece++) {
          const size = Math.min(bytes.length - at, (piece * 7919) % 90_000 || 1);
          d.write(bytes.subarray(at, at + size));
          at += size;
          if (piece % 5 === 0) await new Promise((r) => setImmediate(r));
        }
      }),
    );
    await until(() => frames[0]!.length === perDialler && frames[1]!.length === perDialler);
    expect(dataListeners).toEqual([0, 0]); // no 'data' events: the shared buffer is in use
    for (const who of [0, 1]) {
      expect(frames[who]!.map((f) => f.id)).toEqual(Array.from({ length: perDialler }, (_, id) => id));
      for (const f of frames[who]!) {
        expect(f.segments.length).toBe(3);
        f.segments.forEach((s, k) => expect(Buffer.from(s).equals(segment(who, f.id, k))).toBe(true));
      }
    }
    for (const c of accepted) c.close();
  });

  it('still sees the peer leave: the channel closes when the dialler ends', async () => {
    const { server, path } = await unixServer();
    let closed: (Error | undefined)[] | undefined;
    server.on('connection', (socket: Socket) => {
      let channel: SocketChannel | undefined;
      readIntoSharedBuffer(socket, (buffer, bytes) => channel!.read(buffer, bytes));
      channel = new SocketChannel(socket, DEFAULT_LIMITS, 'accepted', true);
      channel.onClose = (reason) => (closed = [reason]);
    });
    const d = connect(path);
    await new Promise<void>((resolve) => d.once('connect', resolve));
    d.end();
    await until(() => closed !== undefined);
    expect(closed).toEqual([undefined]);
  });

  it('leaves a socket it cannot use alone, which then emits data as before', async () => {
    // Not connected: no handle yet.
    expect(readIntoSharedBuffer(new Socket(), () => {})).toBe(false);
    // Dialled with its own onread: the slots are taken.
    const { path } = await unixServer();
    const own = connect({ path, onread: { buffer: Buffer.alloc(16), callback: () => true } });
    cleanups.push(() => void own.destroy());
    await new Promise<void>((resolve) => own.once('connect', resolve));
    expect(readIntoSharedBuffer(own, () => {})).toBe(false);
  });

  it('is the buffer dialled sockets read into too: two dials and their accepted ends in one process, interleaved large frames intact', async () => {
    expect(new StaticReader().options.onread.buffer).toBe(sharedReadBuffer());
    expect(new StaticReader().options.onread.buffer).toBe(new StaticReader().options.onread.buffer);
    const dir = mkdtempSync(join(tmpdir(), 'mirai-shared-read-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const listener: Listener = await ipcTransport.listen(`ipc://${join(dir, 'h')}`, { handshakeLimits: DEFAULT_LIMITS });
    cleanups.push(() => listener.close());
    const hostSides: Channel[] = [];
    listener.onChannel = (c) => hostSides.push(c);
    const daemonSides = [await ipcTransport.dial(listener.url, { limits: DEFAULT_LIMITS }), await ipcTransport.dial(listener.url, { limits: DEFAULT_LIMITS })];
    for (const d of daemonSides) cleanups.push(() => d.close());
    await until(() => hostSides.length === 2);
    // Kept, not looked at, until both directions are done: a frame that were a view of the
    // shared buffer would by then hold later bytes of another socket.
    const atDaemon: Frame[][] = [[], []];
    const atHost: Frame[][] = [[], []];
    daemonSides.forEach((d, who) => (d.onFrame = (f) => atDaemon[who]!.push(f)));
    hostSides.forEach((h, who) => (h.onFrame = (f) => atHost[who]!.push(f)));
    const perSide = 30;
    for (let id = 0; id < perSide; id++) {
      for (const who of [0, 1]) {
        hostSides[who]!.send(frame(FrameType.Task, id, [0, 1, 2].map((k) => segment(who, id, k))));
        daemonSides[who]!.send(frame(FrameType.Result, id, [0, 1, 2].map((k) => segment(who + 2, id, k))));
      }
      if (id % 4 === 0) await new Promise((r) => setImmediate(r));
    }
    await until(() => [...atDaemon, ...atHost].every((list) => list.length === perSide));
    for (const who of [0, 1]) {
      for (const [list, from] of [[atDaemon[who]!, who], [atHost[who]!, who + 2]] as const) {
        expect(list.map((f) => f.id)).toEqual(Array.from({ length: perSide }, (_, id) => id));
        for (const f of list) f.segments.forEach((s, k) => expect(Buffer.from(s).equals(segment(from, f.id, k)), `frame ${f.id} segment ${k}`).toBe(true));
      }
    }
  });

  it('is what the ipc listener uses for the daemons it accepts, and frames cross both ways', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mirai-shared-read-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const listener: Listener = await ipcTransport.listen(`ipc://${join(dir, 'h')}`, { handshakeLimits: DEFAULT_LIMITS });
    cleanups.push(() => listener.close());
    let hostSide: Channel | undefined;
    listener.onChannel = (c) => (hostSide = c);
    const daemonSide = await ipcTransport.dial(listener.url, { limits: DEFAULT_LIMITS });
    cleanups.push(() => daemonSide.close());
    await until(() => hostSide !== undefined);
    const accepted = [...(listener as unknown as { sockets: Set<Socket> }).sockets];
    expect(accepted.map((s) => s.listenerCount('data'))).toEqual([0]);
    const atHost: Frame[] = [];
    hostSide!.onFrame = (f) => {
      atHost.push(f);
      hostSide!.send(frame(FrameType.Task, f.id + 1, [Buffer.from(`task ${f.id + 1}`)]));
    };
    const atDaemon: Frame[] = [];
    daemonSide.onFrame = (f) => atDaemon.push(f);
    const big = Buffer.alloc(300_000, 9);
    daemonSide.send(frame(FrameType.Result, 1, [Buffer.from('small'), big]));
    daemonSide.send(frame(FrameType.Result, 3, [Buffer.from('next')]));
    await until(() => atDaemon.length === 2);
    expect(atHost.map((f) => f.id)).toEqual([1, 3]);
    expect(Buffer.from(atHost[0]!.segments[1]!).equals(big)).toBe(true);
    expect(Buffer.from(atHost[1]!.segments[0]!).toString()).toBe('next');
    expect(atDaemon.map((f) => Buffer.from(f.segments[0]!).toString())).toEqual(['task 2', 'task 4']);
  });

  it('is what both ends of a TLS connection read their decrypted bytes into, and large frames cross intact both ways', async () => {
    const listener: Listener = await tlsTransport.listen('tls+tcp://127.0.0.1:0', { handshakeLimits: DEFAULT_LIMITS });
    cleanups.push(() => listener.close());
    let hostSide: Channel | undefined;
    listener.onChannel = (c) => (hostSide = c);
    const daemonSide = await tlsTransport.dial(listener.url, { limits: DEFAULT_LIMITS, ...listener.dialOptions });
    cleanups.push(() => daemonSide.close());
    await until(() => hostSide !== undefined);
    // No 'data' listener on either end: the dialled socket reads through `onread`, the
    // accepted one through the same slots, both into the shared buffer.
    expect((daemonSide as unknown as { socket: Socket }).socket.listenerCount('data')).toBe(0);
    const accepted = [...(listener as unknown as { sockets: Set<Socket> }).sockets];
    expect(accepted.map((s) => s.listenerCount('data'))).toEqual([0]);
    const atDaemon: Frame[] = [];
    const atHost: Frame[] = [];
    daemonSide.onFrame = (f) => atDaemon.push(f);
    hostSide!.onFrame = (f) => atHost.push(f);
    const perSide = 12;
    // Kept, not looked at, until all have arrived (see above): views of the buffer would be overwritten.
    for (let id = 0; id < perSide; id++) {
      hostSide!.send(frame(FrameType.Task, id, [0, 1, 2].map((k) => segment(5, id, k))));
      daemonSide.send(frame(FrameType.Result, id, [0, 1, 2].map((k) => segment(6, id, k))));
      if (id % 4 === 0) await new Promise((r) => setImmediate(r));
    }
    await until(() => atDaemon.length === perSide && atHost.length === perSide);
    for (const [list, from] of [[atDaemon, 5], [atHost, 6]] as const) {
      expect(list.map((f) => f.id)).toEqual(Array.from({ length: perSide }, (_, id) => id));
      for (const f of list) f.segments.forEach((s, k) => expect(Buffer.from(s).equals(segment(from, f.id, k)), `frame ${f.id} segment ${k}`).toBe(true));
    }
  });
});
