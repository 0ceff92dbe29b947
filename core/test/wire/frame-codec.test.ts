import { describe, expect, it, vi } from 'vitest';
import { encodeFrame, encodeFrames, FrameDecoder } from '../../src/wire/frame-codec.js';
import { DEFAULT_LIMITS, frame, FrameFlag, FrameType, HANDSHAKE_LIMITS, MAX_CONTROL_BYTES, type Frame } from '../../src/wire/frame.js';
import { ProtocolError } from '../../src/errors.js';

function decodeAll(bytes: Buffer, chunkSizes: number[], limits = DEFAULT_LIMITS): Frame[] {
  const out: Frame[] = [];
  const decoder = new FrameDecoder(limits, (f) => out.push(f));
  let offset = 0;
  let i = 0;
  while (offset < bytes.length) {
    const size = chunkSizes[i++ % chunkSizes.length]!;
    decoder.push(bytes.subarray(offset, offset + size));
    offset += size;
  }
  return out;
}

const concat = (f: Frame): Buffer => Buffer.concat(encodeFrame(f));

describe('frame codec: control frames', () => {
  it('refuses a control frame over maxControlBytes from its length table, before its bytes are buffered; results and tasks may be large', () => {
    const limits = { ...DEFAULT_LIMITS, maxControlBytes: MAX_CONTROL_BYTES };
    // A Bye that claims 1.5 GB: only its header and length table are sent.
    const header = encodeFrame(frame(FrameType.Bye, 0, [new Uint8Array(4)]))[0]!;
    const claim = Buffer.from(header.subarray(0, 20));
    claim.writeUInt32LE(1_500_000_000, 16);
    const decoder = new FrameDecoder(limits, () => {});
    const before = process.memoryUsage().arrayBuffers;
    expect(() => decoder.push(claim)).toThrow(/a frame of type 8 holds 1500000000 bytes; only results and tasks may hold more than 65536/);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(1 << 20);
    // A large result passes the same limits.
    const big = new Uint8Array(200_000).fill(3);
    expect(decodeAll(Buffer.concat(encodeFrame(frame(FrameType.Result, 1, [big]))), [4096], limits)[0]!.segments[0]!.byteLength).toBe(200_000);
  });
});

describe('frame codec', () => {
  const big = new Uint8Array(100_000).map((_, i) => i % 251);
  const frames = [
    frame(FrameType.Task, 7, [Buffer.from('source'), new Uint8Array(0), big, Buffer.from('tail')], 4),
    frame(FrameType.Exit, 0, []),
    frame(FrameType.Result, 0xffffffff, [Buffer.from('x')], 3),
  ];
  const bytes = Buffer.concat(frames.map(concat));

  for (const chunks of [[bytes.length], [1], [7, 13, 4096], [65_536]]) {
    it(`decodes frames split into chunks of ${chunks.join('/')} bytes`, () => {
      const out = decodeAll(bytes, chunks);
      expect(out).toHaveLength(3);
      expect(out.map((f) => [f.type, f.flags, f.id])).toEqual([
        [FrameType.Task, 4, 7],
        [FrameType.Exit, 0, 0],
        [FrameType.Result, 3, 0xffffffff],
      ]);
      expect(Buffer.from(out[0]!.segments[0]!).toString()).toBe('source');
      expect(out[0]!.segments[1]!.byteLength).toBe(0);
      expect(Buffer.compare(Buffer.from(out[0]!.segments[2]!), Buffer.from(big))).toBe(0);
      expect(Buffer.from(out[0]!.segments[3]!).toString()).toBe('tail');
    });
  }

  it('keeps copies, not views, when the caller reuses its read buffer (copyChunks), however the reads split; reads only the bytes it is given', () => {
    const seg = (n: number, fill: number): Uint8Array => new Uint8Array(n).fill(fill);
    const sent = Array.from({ length: 40 }, (_, k) => frame(FrameType.Task, k, [seg(3 + (k % 5), k), seg(0, 0), seg(70_000 * (k % 13 === 0 ? 1 : 0), k), seg(9, 255 - k)]));
    const all = Buffer.concat(sent.map(concat));
    for (const readBytes of [all.length, 4096, 7, 65_536]) {
      const out: Frame[] = [];
      const decoder = new FrameDecoder(DEFAULT_LIMITS, (f) => out.push(f), true);
      const reused = Buffer.alloc(readBytes);
      for (let at = 0; at < all.length; at += readBytes) {
        const n = all.copy(reused, 0, at, at + readBytes);
        // The whole buffer and the count, as a reused read buffer is passed: a short last read
        // leaves the previous read's bytes (0xee) after `n`, which must not be decoded.
        decoder.push(reused, n);
        reused.fill(0xee); // the next read overwrites the buffer
      }
      expect(out.map((f) => f.id)).toEqual(sent.map((f) => f.id));
      out.forEach((f, k) => expect(f.segments.map((x) => Buffer.from(x).toString('hex'))).toEqual(sent[k]!.segments.map((x) => Buffer.from(x).toString('hex'))));
    }
  });

  it('lays out the header little-endian as documented (flags above one byte, ids above 2^31)', () => {
    const [bytes] = encodeFrame(frame(FrameType.Result, 0x89abcdef, [Buffer.from('ab'), new Uint8Array(0)], 0x1234));
    expect(Buffer.from(bytes!).toString('hex')).toBe('a7' + FrameType.Result.toString(16).padStart(2, '0') + '3412' + 'efcdab89' + '02000000' + '00000000' + '02000000' + '00000000' + '6162');
    const [back] = decodeAll(Buffer.from(bytes!), [5]);
    expect([back!.flags, back!.id]).toEqual([0x1234, 0x89abcdef]);
  });

  it('decodes frames whose segment counts grow and shrink (length tables reused or not)', () => {
    const seg = (n: number, fill: number): Uint8Array => new Uint8Array(n).fill(fill);
    const shapes = [[3, 0, 5], Array.from({ length: 100 }, (_, i) => i % 7), [2], [0, 0], [9, 1, 0, 4]];
    const sent = shapes.map((lengths, k) => frame(FrameType.Result, k, lengths.map((n, i) => seg(n, (k * 31 + i) % 256))));
    const all = Buffer.concat(sent.map(concat));
    for (const chunks of [[all.length], [3, 11]]) {
      const out = decodeAll(all, chunks);
      expect(out.map((f) => f.id)).toEqual([0, 1, 2, 3, 4]);
      out.forEach((f, k) => {
        expect(f.segments.map((s) => s.byteLength)).toEqual(shapes[k]);
        f.segments.forEach((s, i) => expect([...s].every((b) => b === (k * 31 + i) % 256)).toBe(true));
      });
    }
  });

  it('hands large segments to the socket as they are (gather write, no copy)', () => {
    const chunks = encodeFrame(frames[0]!);
    expect(chunks).toHaveLength(3); // head with small segments, the large one, the tail
    expect(chunks[1]).toBe(big);
  });

  it('encodes a run of frames into one buffer, large segments in their place and not copied', () => {
    const chunks = encodeFrames(frames);
    // The packed bytes before the large segment, the segment itself, and the packed rest.
    expect(chunks).toHaveLength(3);
    expect(chunks[1]).toBe(big);
    const decoded = decodeAll(Buffer.concat(chunks), [4096]);
    expect(decoded.map((f) => [f.type, f.id, f.flags, f.segments.map((s) => Buffer.from(s).toString('hex'))])).toEqual(
      frames.map((f) => [f.type, f.id, f.flags, f.segments.map((s) => Buffer.from(s).toString('hex'))]),
    );
    // Small frames only: one chunk, the same bytes as encoding each on its own.
    const small = [frame(FrameType.Result, 1, [Buffer.from('a')]), frame(FrameType.Result, 2, [Buffer.from('bc'), new Uint8Array(0)])];
    const packed = encodeFrames(small);
    expect(packed).toHaveLength(1);
    expect(Buffer.from(packed[0]!)).toEqual(Buffer.concat(small.map(concat)));
  });

  it('rejects garbage, a non-zero reserved field, too many segments and oversized frames', () => {
    expect(() => decodeAll(Buffer.from('GET / HTTP/1.1\r\n\r\n'), [64])).toThrow(ProtocolError);
    const reserved = concat(frames[1]!);
    reserved.writeUInt32LE(1, 12);
    expect(() => decodeAll(reserved, [64])).toThrow(/reserved/);
    const many = concat(frame(FrameType.Hello, 0, Array.from({ length: 5 }, () => Buffer.from('a'))));
    expect(() => decodeAll(many, [64], HANDSHAKE_LIMITS)).toThrow(/5 segments; the limit is 4/);
    const huge = concat(frame(FrameType.Hello, 0, [new Uint8Array(20_000)]));
    expect(() => decodeAll(huge.subarray(0, 20), [20], HANDSHAKE_LIMITS)).toThrow(/exceeds the limit/);
  });

  describe('a result over maxResultBytes', () => {
    const limits = { ...DEFAULT_LIMITS, maxResultBytes: 10_000 };
    const over = frame(FrameType.Result, 41, [new Uint8Array(6_000).fill(1), new Uint8Array(0), new Uint8Array(300_000).fill(2)], FrameFlag.Error | FrameFlag.Final);
    const stream = Buffer.concat([
      concat(frame(FrameType.Result, 40, [Buffer.from('before')])),
      concat(over),
      concat(frame(FrameType.Result, 42, [new Uint8Array(10_000).fill(3)])), // exactly the limit
      concat(frame(FrameType.Task, 43, [new Uint8Array(50_000).fill(4)])), // not a result: no limit of its own
    ]);

    for (const chunks of [[stream.length], [1], [7, 13, 4096], [65_536]]) {
      it(`is handed on as its stand-in and read past, in chunks of ${chunks.join('/')}, never allocated`, () => {
        const slow = vi.spyOn(Buffer, 'allocUnsafeSlow');
        try {
          const out = decodeAll(stream, chunks, limits);
          expect(out.map((f) => [f.type, f.id])).toEqual([
            [FrameType.Result, 40],
            [FrameType.OversizedResult, 41],
            [FrameType.Result, 42],
            [FrameType.Task, 43],
          ]);
          expect(out[1]).toEqual({ type: FrameType.OversizedResult, id: 41, flags: FrameFlag.Error | FrameFlag.Final, segments: [], bytes: 306_000 });
          expect(Buffer.from(out[2]!.segments[0]!).equals(Buffer.alloc(10_000, 3))).toBe(true);
          expect(Buffer.from(out[3]!.segments[0]!).equals(Buffer.alloc(50_000, 4))).toBe(true);
          // Spanning segments get buffers of their own: never one for the skipped result's.
          expect(slow.mock.calls.some(([n]) => n === 6_000 || n === 300_000)).toBe(false);
        } finally {
          slow.mockRestore();
        }
      });
    }

    it('still closes the connection over maxFrameBytes, and refuses the stand-in type from the wire', () => {
      expect(() => decodeAll(concat(over), [65_536], { ...limits, maxFrameBytes: 100_000 })).toThrow(/frame of 306000 bytes exceeds the limit/);
      const forged = concat(frame(FrameType.Result, 1, [Buffer.from('x')]));
      forged[1] = FrameType.OversizedResult;
      expect(() => decodeAll(forged, [forged.length], limits)).toThrow(/type 255 is not sent on the wire/);
    });
  });
});
