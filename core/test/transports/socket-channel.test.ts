import { createServer, connect, type Server, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SocketChannel } from '../../src/transports/socket-channel.js';
import { encodeFrame } from '../../src/wire/frame-codec.js';
import { DEFAULT_LIMITS, frame, FrameType, type Frame } from '../../src/wire/frame.js';

/** A connected pair of real Unix sockets, each end wrapped in a SocketChannel. */
async function pair(): Promise<{ a: SocketChannel; b: SocketChannel; aSocket: Socket; close: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'mirai-channel-'));
  const path = join(dir, 's');
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(path, resolve));
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
  const dialled = connect(path);
  await new Promise<void>((resolve) => dialled.once('connect', resolve));
  const aSocket = await accepted;
  const a = new SocketChannel(aSocket, DEFAULT_LIMITS, 'a');
  const b = new SocketChannel(dialled, DEFAULT_LIMITS, 'b');
  return {
    a,
    b,
    aSocket,
    close: () => {
      a.close();
      b.close();
      server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Counts the writes a socket is asked to make, as they are made. */
function countWrites(socket: Socket): { count: number } {
  const counter = { count: 0 };
  const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
  socket.write = ((...args: unknown[]) => {
    counter.count++;
    return write(...args);
  }) as Socket['write'];
  return counter;
}

const received = (channel: SocketChannel): Frame[] => {
  const frames: Frame[] = [];
  channel.onFrame = (f) => frames.push(f);
  return frames;
};

const until = async (predicate: () => boolean): Promise<void> => {
  const start = Date.now();
  while (!predicate()) {
    if (Date.now() - start > 5_000) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 2));
  }
};

describe('SocketChannel', () => {
  let cleanup: (() => void) | undefined;
  afterEach(() => cleanup?.());

  it('sends the frames answered during one read in one write, in order', async () => {
    const { a, b, aSocket, close } = await pair();
    cleanup = close;
    const writes = countWrites(aSocket);
    // Every frame a receives is answered with two: as a daemon answers a run of tasks.
    a.onFrame = (f) => {
      a.send(frame(FrameType.Result, f.id, [Buffer.from(`first ${f.id}`)]));
      a.send(frame(FrameType.Result, f.id, [Buffer.from(`second ${f.id}`)]));
    };
    const answers = received(b);
    // Three frames in one write of b: a reads them together.
    (b as unknown as { socket: Socket }).socket.write(
      Buffer.concat([1, 2, 3].flatMap((id) => encodeFrame(frame(FrameType.Task, id, [Buffer.from('x')])))),
    );
    await until(() => answers.length === 6);
    expect(answers.map((f) => Buffer.from(f.segments[0]!).toString())).toEqual(['first 1', 'second 1', 'first 2', 'second 2', 'first 3', 'second 3']);
    expect(writes.count).toBe(1);
  });

  it('writes what was gathered when flushed during a read, and gathers the rest of the read again', async () => {
    const { a, b, aSocket, close } = await pair();
    cleanup = close;
    const writes = countWrites(aSocket);
    const writesAtFlush: number[] = [];
    // As the host does: given the first frame, it sends its answer and flushes at once.
    a.onFrame = (f) => {
      a.send(frame(FrameType.Result, f.id, [Buffer.from(`answer ${f.id}`)]));
      if (f.id === 1) {
        a.flush();
        writesAtFlush.push(writes.count);
      }
    };
    const answers = received(b);
    (b as unknown as { socket: Socket }).socket.write(
      Buffer.concat([1, 2, 3].flatMap((id) => encodeFrame(frame(FrameType.Task, id, [Buffer.from('x')])))),
    );
    await until(() => answers.length === 3);
    expect(answers.map((f) => Buffer.from(f.segments[0]!).toString())).toEqual(['answer 1', 'answer 2', 'answer 3']);
    // The first answer left at the flush; the other two together at the end of the read.
    expect(writesAtFlush).toEqual([1]);
    expect(writes.count).toBe(2);
  });

  it('answers each read once, in order, read after read, around a burst and a large segment', async () => {
    const { a, b, close } = await pair();
    cleanup = close;
    // A 20 KiB answer goes out as its own chunk of the gather write, between packed ones.
    const large = Buffer.alloc(20 * 1024, 7);
    a.onFrame = (f) => a.send(frame(FrameType.Result, f.id, [f.id % 500 === 0 ? large : Buffer.from(`answer ${f.id}`)]));
    const answers = received(b);
    const socketOf = (c: SocketChannel) => (c as unknown as { socket: Socket }).socket;
    const sendRead = async (from: number, to: number): Promise<void> => {
      const before = answers.length;
      const ids = Array.from({ length: to - from + 1 }, (_, i) => from + i);
      socketOf(b).write(Buffer.concat(ids.flatMap((id) => encodeFrame(frame(FrameType.Task, id, [Buffer.from('x')])))));
      await until(() => answers.length === before + ids.length);
    };
    await sendRead(1, 3);
    await sendRead(4, 4);
    await sendRead(5, 2004); // more frames than the gathering keeps slots for
    await sendRead(2005, 2006);
    await new Promise((r) => setTimeout(r, 20)); // nothing arrives twice, late
    expect(answers.map((f) => f.id)).toEqual(Array.from({ length: 2006 }, (_, i) => i + 1));
    for (const f of answers) {
      const body = Buffer.from(f.segments[0]!);
      if (f.id % 500 === 0) expect(body.equals(large)).toBe(true);
      else expect(body.toString()).toBe(`answer ${f.id}`);
    }
  });

  it('writes a frame sent outside a read at once', async () => {
    const { a, b, aSocket, close } = await pair();
    cleanup = close;
    const writes = countWrites(aSocket);
    const frames = received(b);
    a.send(frame(FrameType.Task, 9, [Buffer.from('now')]));
    expect(writes.count).toBe(1);
    await until(() => frames.length === 1);
    expect(frames[0]!.id).toBe(9);
  });

  it('still sends what was answered during a read when the channel is closed in it', async () => {
    const { a, b, close } = await pair();
    cleanup = close;
    a.onFrame = (f) => {
      a.send(frame(FrameType.Exit, f.id, []));
      a.close();
    };
    const frames = received(b);
    b.send(frame(FrameType.Task, 4, [Buffer.from('x')]));
    await until(() => frames.length === 1);
    expect(frames[0]!.type).toBe(FrameType.Exit);
  });
});
