/**
 * The shared-memory ring small frames cross threads in (src/ring.ts), and the PortChannel
 * that sends through it: records wrapping at the end of the ring, a full ring, every length
 * read from the ring checked before anything is allocated, frames kept in order across the
 * ring and the port, a corrupt ring failing only its channel with a ProtocolError.
 */
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { ProtocolError } from '@mirai-ts/core';
import { DEFAULT_LIMITS, frame, FrameType, type Frame } from '@mirai-ts/core/plugin';
import { PortChannel, RING_BYTES, RING_MAX_FRAME_BYTES } from '../src/index.js';
import { COUNT, HEAD, Ring, TAIL } from '../src/ring.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
async function until(ok: () => boolean, ms = 10_000): Promise<void> {
  for (const end = Date.now() + ms; !ok(); await sleep(10)) if (Date.now() > end) throw new Error('condition not met in time');
}
/** Bytes 0..n-1 with a pattern of `seed`, so a misplaced or stale byte shows. */
const bytes = (n: number, seed: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 255);
const read = (ring: Ring): Frame => {
  expect(typeof ring.next()).toBe('number');
  const f = ring.read(DEFAULT_LIMITS);
  if (typeof f === 'string') throw new Error(f);
  return f;
};

describe('Ring', () => {
  it('wraps records at the end of the data, exactly at the end and with a wrap marker, across the Int32 wrap of its counters', () => {
    const ring = new Ring();
    // Start the byte counters just below 2^31: they pass the sign change during the test.
    Atomics.store(ring.words, HEAD, 0x7fff0000);
    Atomics.store(ring.words, TAIL, 0x7fff0000);
    // 4-byte segments make 32-byte records: 2048 fill the ring exactly, ending at its last byte.
    const wrong: number[] = [];
    for (let seq = 0; seq < 2 * (RING_BYTES / 32); seq++) {
      const ok = ring.write(frame(FrameType.Task, seq, [bytes(4, seq)], seq & 0xffff), seq) && ring.next() === seq;
      const f = ring.read(DEFAULT_LIMITS);
      if (!ok || typeof f === 'string' || f.type !== FrameType.Task || f.id !== seq || f.flags !== (seq & 0xffff) || !Buffer.from(f.segments[0]!).equals(bytes(4, seq))) wrong.push(seq);
    }
    expect(wrong).toEqual([]);
    // Odd sizes that do not divide the ring: records that do not fit before the end go to its
    // start after a wrap marker. Three records in flight at a time, several laps.
    let written = 0;
    let taken = 0;
    const sizes = (i: number): number => 1 + ((i * 977) % 3000);
    while (taken < 300) {
      while (written < 300 && written - taken < 3) {
        expect(ring.write(frame(FrameType.Result, written, [bytes(sizes(written), written), bytes(written % 5, 7)]), 1_000 + written)).toBe(true);
        written++;
      }
      expect(ring.next()).toBe(1_000 + taken);
      const f = read(ring);
      expect(f.id).toBe(taken);
      expect(Buffer.from(f.segments[0]!).equals(bytes(sizes(taken), taken))).toBe(true);
      expect(Buffer.from(f.segments[1]!).equals(bytes(taken % 5, 7))).toBe(true);
      taken++;
    }
    expect(ring.next()).toBeUndefined();
    expect(Atomics.load(ring.words, HEAD)).toBeLessThan(0); // the counters wrapped past 2^31
  });

  it('refuses a record that does not fit, writing nothing, until the reader frees space', () => {
    const ring = new Ring();
    const f = (id: number): Frame => frame(FrameType.Task, id, [bytes(1000, id)]);
    let n = 0;
    while (ring.write(f(n), n)) n++;
    expect(n).toBe(Math.floor(RING_BYTES / (8 + 16 + 4 + 1000)));
    const head = Atomics.load(ring.words, HEAD);
    expect(ring.write(f(n), n)).toBe(false);
    expect(Atomics.load(ring.words, HEAD)).toBe(head); // nothing published
    expect(read(ring).id).toBe(0);
    expect(ring.write(f(n), n)).toBe(true); // wraps into the freed start
    for (let i = 1; i <= n; i++) expect(read(ring).id).toBe(i);
    expect(ring.next()).toBeUndefined();
  });

  it('writes nothing, and does not throw, when the peer left its counters corrupt or the record is larger than the ring', () => {
    const f = frame(FrameType.Task, 1, [bytes(10, 1)]);
    for (const [head, tail] of [[6, 0], [0, 8], [RING_BYTES + 8, 0]]) {
      const ring = new Ring();
      Atomics.store(ring.words, HEAD, head!);
      Atomics.store(ring.words, TAIL, tail!);
      expect(ring.write(f, 0)).toBe(false);
      expect([Atomics.load(ring.words, HEAD), Atomics.load(ring.words, TAIL)]).toEqual([head, tail]);
    }
    // 20 000 empty segments: no bytes, but a length table of 80 000.
    expect(new Ring().write(frame(FrameType.Task, 1, Array.from({ length: 20_000 }, () => new Uint8Array(0))), 0)).toBe(false);
  });

  it('checks every length and count it reads before allocating: a corrupt ring is a reason, not a frame', () => {
    const limits = { ...DEFAULT_LIMITS, maxSegments: 4, maxFrameBytes: 10_000 };
    /** A ring holding one valid record of 3 segments, its bytes for corrupting, and the record's start. */
    const fresh = (): { ring: Ring; data: DataView } => {
      const ring = new Ring();
      ring.write(frame(FrameType.Task, 9, [bytes(5, 1), bytes(0, 0), bytes(3, 2)]), 0);
      return { ring, data: new DataView(ring.buffer, 16) };
    };
    const cases: [string, (d: DataView, ring: Ring) => void, RegExp][] = [
      ['a huge record length', (d) => d.setUint32(0, 0x7fff_fff0, true), /a ring record of 2147483632 bytes \(the ring holds 44\)/],
      ['a record length below a frame header', (d) => d.setUint32(0, 4, true), /a ring record of 4 bytes/],
      ['a bad magic', (d) => d.setUint8(8, 0x00), /a ring record that is not a frame/],
      ['a segment count over the limit', (d) => d.setUint32(8 + 8, 70_000, true), /over the limits \(70000 segments, at most 4\)/],
      ['a segment count the record cannot hold', (d) => d.setUint32(8 + 8, 4, true), /segment lengths \(\d+ bytes\) do not match/],
      ['a segment length past the record', (d) => d.setUint32(8 + 16, 0xffff_fff0, true), /segment lengths \(\d+ bytes\) do not match its size \(8\)/],
      ['a head not on a record boundary', (_, r) => Atomics.add(r.words, HEAD, 2), /a ring holding 46 bytes/],
      ['a head behind the tail', (_, r) => Atomics.store(r.words, HEAD, -8), /a ring holding -8 bytes/],
      [
        'head and tail both off a record boundary',
        (_, r) => {
          Atomics.store(r.words, TAIL, RING_BYTES - 2);
          Atomics.store(r.words, HEAD, RING_BYTES + 2);
        },
        /a ring read up to 65534, not a record boundary/,
      ],
    ];
    for (const [what, corrupt, reason] of cases) {
      const { ring, data } = fresh();
      corrupt(data, ring);
      const seq = ring.next();
      const got = typeof seq === 'string' ? seq : ring.read(limits);
      expect(got, what).toEqual(expect.stringMatching(reason));
    }
    // A frame over the byte limit, written by a peer with larger limits.
    const big = new Ring();
    big.write(frame(FrameType.Task, 1, [bytes(3000, 0)]), 0);
    big.next();
    expect(big.read({ ...limits, maxFrameBytes: 2_000 })).toMatch(/a frame over the limits \(3000 bytes, at most 2000\)/);
    // A wrap marker with nothing after it.
    const wrap = new Ring();
    new DataView(wrap.buffer, 16).setUint32(RING_BYTES - 8, 0xffff_ffff, true);
    Atomics.store(wrap.words, TAIL, RING_BYTES - 8);
    Atomics.store(wrap.words, HEAD, RING_BYTES);
    expect(wrap.next()).toMatch(/wrap marker is its last record/);
  });
});

/** Two connected channels in this thread, once each has the other's ring. */
async function pair(): Promise<{ a: PortChannel; b: PortChannel; got: Frame[] }> {
  const { port1, port2 } = new MessageChannel();
  const a = new PortChannel(port1, 'a', false);
  const b = new PortChannel(port2, 'b', false);
  const got: Frame[] = [];
  b.onFrame = (f) => got.push(f);
  await until(() => a.ringReady && b.ringReady);
  return { a, b, got };
}

describe('PortChannel over the ring', () => {
  it('keeps mixed ring and port frames in order; a frame of exactly the threshold takes the ring, one byte more the port', async () => {
    const { a, b, got } = await pair();
    const sizes = [3, RING_MAX_FRAME_BYTES, RING_MAX_FRAME_BYTES + 1, 0, 200_000, 10, 20_000, 1, RING_MAX_FRAME_BYTES + 1, RING_MAX_FRAME_BYTES];
    const sent: Frame[] = [];
    for (let i = 0; i < 200; i++) {
      const n = sizes[i % sizes.length]!;
      // The threshold counts all segments of a frame: split some across two.
      const f = i % 3 === 0 && n > 1 ? frame(FrameType.Result, i, [bytes(n - 1, i), bytes(1, i + 1)], i) : frame(FrameType.Result, i, [bytes(n, i)], i);
      const before = [a.ringFrames, a.portFrames];
      a.send(f);
      sent.push(f);
      expect([a.ringFrames - before[0]!, a.portFrames - before[1]!]).toEqual(n <= RING_MAX_FRAME_BYTES ? [1, 0] : [0, 1]);
      // A run of frames of every size in flight at once, then the receiver's turn (less than a ring each).
      if (i % sizes.length === sizes.length - 1) await until(() => got.length === i + 1);
    }
    await until(() => got.length === 200);
    expect(got.map((f) => f.id)).toEqual(sent.map((f) => f.id));
    for (let i = 0; i < 200; i++) {
      expect(got[i]!.flags).toBe(i);
      expect(got[i]!.segments.length).toBe(sent[i]!.segments.length);
      expect(got[i]!.segments.every((s, k) => Buffer.from(s).equals(sent[i]!.segments[k]!))).toBe(true);
    }
    a.close();
    b.close();
  });

  it('sends what does not fit in a full ring by the port, losing and reordering nothing', async () => {
    const { a, b, got } = await pair();
    // The receiver gets no turn while this loop runs: the ring fills, the rest overflows.
    const count = 5_000;
    for (let i = 0; i < count; i++) a.send(frame(FrameType.Task, i, [bytes(40, i)]));
    expect(a.ringFrames).toBe(Math.floor(RING_BYTES / 68)); // 8 + 16 + 4 + 40 bytes a record
    expect(a.portFrames).toBeGreaterThan(1_000);
    await until(() => got.length === count);
    expect(got.map((f) => f.id)).toEqual(Array.from({ length: count }, (_, i) => i));
    expect(got.every((f, i) => Buffer.from(f.segments[0]!).equals(bytes(40, i)))).toBe(true);
    // Space freed: small frames take the ring again.
    const ringBefore = a.ringFrames;
    a.send(frame(FrameType.Task, count, [bytes(40, 0)]));
    expect(a.ringFrames).toBe(ringBefore + 1);
    await until(() => got.length === count + 1);
    a.close();
    b.close();
  });
});

describe('a corrupt ring', () => {
  interface Report {
    answered?: number;
    closed?: string | null;
    error?: string | null;
  }
  /** An echo thread (a waiting end, test/fixtures/echo-thread.mjs) and the raw port to it. */
  function echoThread(): { port: MessagePort; worker: Worker; reports: Report[]; messages: unknown[] } {
    const { port1, port2 } = new MessageChannel();
    const worker = new Worker(new URL('./fixtures/echo-thread.mjs', import.meta.url), { workerData: { port: port2, limits: DEFAULT_LIMITS }, transferList: [port2], execArgv: [] });
    const reports: Report[] = [];
    worker.on('message', (r: Report) => reports.push(r));
    const messages: unknown[] = [];
    port1.on('message', (m: unknown) => messages.push(m));
    return { port: port1, worker, reports, messages };
  }

  it('fails that thread channel with a ProtocolError; the other thread keeps answering', async () => {
    // a: this test plays the host end by hand (writes the thread's ring); b: a real PortChannel.
    const a = echoThread();
    const { port1, port2 } = new MessageChannel();
    const bWorker = new Worker(new URL('./fixtures/echo-thread.mjs', import.meta.url), { workerData: { port: port2, limits: DEFAULT_LIMITS }, transferList: [port2], execArgv: [] });
    const b = new PortChannel(port1, 'b thread', false);
    const bGot: Frame[] = [];
    b.onFrame = (f) => bGot.push(f);
    try {
      await until(() => a.messages.length > 0);
      const [tag, buffer] = a.messages[0] as [string, SharedArrayBuffer];
      expect(tag).toBe('mirai-ts.ring');
      const ring = new Ring(buffer);
      /** Wakes the thread as a writer does: in Atomics.wait (COUNT) or in its event loop (a doorbell). */
      const wake = (): void => {
        Atomics.add(ring.words, COUNT, 1);
        Atomics.notify(ring.words, COUNT);
        a.port.postMessage(0);
      };
      await until(() => b.ringReady);
      // A valid task through the ring: the thread answers it.
      expect(ring.write(frame(FrameType.Task, 1, [bytes(8, 1)]), 0)).toBe(true);
      wake();
      await until(() => a.reports.some((r) => r.answered === 1));
      // Then a record whose length runs past what the ring holds.
      expect(ring.write(frame(FrameType.Task, 2, [bytes(8, 2)]), 1)).toBe(true);
      const tail = Atomics.load(ring.words, TAIL) & (RING_BYTES - 1);
      new DataView(buffer, 16).setUint32(tail, 60_000, true);
      wake();
      const b1 = b.send.bind(b);
      for (let id = 1; id <= 20; id++) {
        b1(frame(FrameType.Task, id, [bytes(id, id)]));
        await until(() => bGot.length === id);
      }
      await until(() => a.reports.some((r) => r.closed !== undefined));
      const closed = a.reports.find((r) => r.closed !== undefined)!;
      expect(closed.error).toBe(new ProtocolError('').name); // a typed error, reported by name from the thread
      expect(closed.closed).toMatch(/^thread channel: a ring record of 60000 bytes \(the ring holds \d+\) from echo$/);
      expect(a.reports.some((r) => r.answered === 2)).toBe(false);
      // b was unharmed, before and after a failed.
      for (let id = 21; id <= 30; id++) {
        b1(frame(FrameType.Task, id, [bytes(id, id)]));
        await until(() => bGot.length === id);
      }
      expect(bGot.map((f) => f.id)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
      expect(bGot.every((f) => Buffer.from(f.segments[0]!).equals(bytes(f.id, f.id)))).toBe(true);
      expect(b.ringFrames).toBe(30);
      expect(b.closed).toBe(false);
    } finally {
      b.close();
      await Promise.all([a.worker.terminate(), bWorker.terminate()]);
    }
  });
});

describe('a waiting end polling after a result', () => {
  /** Sends `count` tasks to an echo thread polling `spinUs`, each as soon as the last one's result arrives; what the thread reported last. */
  async function serveOneByOne(spinUs: number, count: number): Promise<{ answered?: number; waited?: number; polled?: number }> {
    const { port1, port2 } = new MessageChannel();
    const worker = new Worker(new URL('./fixtures/echo-thread.mjs', import.meta.url), { workerData: { port: port2, limits: DEFAULT_LIMITS, spinUs }, transferList: [port2], execArgv: [] });
    const reports: { answered?: number; waited?: number; polled?: number }[] = [];
    worker.on('message', (r: (typeof reports)[number]) => reports.push(r));
    const host = new PortChannel(port1, 'echo thread', false);
    let results = 0;
    host.onFrame = (f) => {
      results++;
      if (f.id < count) host.send(frame(FrameType.Task, f.id + 1, [bytes(16, f.id + 1)])); // the next task at once
    };
    try {
      await until(() => host.ringReady);
      host.send(frame(FrameType.Task, 1, [bytes(16, 1)]));
      await until(() => results === count && reports.some((r) => r.answered === count));
      return reports.find((r) => r.answered === count)!;
    } finally {
      host.close();
      await worker.terminate();
    }
  }

  it('takes a task that comes within its poll without sleeping; with spin 0 it never polls', async () => {
    // A generous poll, so a busy machine's slower turnarounds still land in it. Free, nearly
    // every task is taken by the poll; with both threads on one busy CPU the host rarely runs
    // while the thread polls, so a few runs, until one shows it.
    let polling = await serveOneByOne(1_000, 200);
    for (let run = 1; run < 4 && polling.polled === 0; run++) polling = await serveOneByOne(1_000, 200);
    expect(polling.polled).toBeGreaterThan(0);
    expect(polling.polled).toBeLessThanOrEqual(polling.waited!);
    const sleeping = await serveOneByOne(0, 200);
    expect(sleeping.polled).toBe(0);
    expect(sleeping.waited).toBeGreaterThan(0); // it still took tasks outside its event loop, woken
  });
});
