import { describe, expect, it, vi } from 'vitest';
import v8 from 'node:v8';
import { decodePayload, encodePayload, OUT_OF_BAND_BYTES } from '../../src/wire/payload.js';
import { DeserializationError, SerializationError } from '../../src/errors.js';
import type { Serializer } from '../../src/serializer.js';

const roundTrip = (value: unknown, serializers: Serializer[] = []): unknown =>
  decodePayload(encodePayload(value, serializers, 'args') as Uint8Array[], 0, serializers);

class Point {
  constructor(
    readonly x: number,
    readonly y: number,
  ) {}
}
const pointSerializer: Serializer<Point> = {
  tag: 'test.point/1',
  claims: (v): v is Point => v instanceof Point,
  encode: (p) => new Uint8Array(new Float64Array([p.x, p.y]).buffer),
  decode: ([bytes]) => {
    const f = new Float64Array(bytes!.slice().buffer);
    return new Point(f[0]!, f[1]!);
  },
};

describe('payloads', () => {
  it('round-trips scalars exactly, including the awkward numbers', () => {
    for (const v of [undefined, null, true, false, 0, -0, NaN, Infinity, 1.5, '', 'héllo ✓', 2n ** 80n]) {
      expect(Object.is(roundTrip(v), v) || roundTrip(v) === v).toBe(true);
    }
  });

  it('round-trips errors, Maps, Sets, Dates, BigInts and cycles', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const value = {
      err: new RangeError('bad', { cause: new TypeError('inner') }),
      map: new Map<unknown, unknown>([[1n, new Set(['a'])]]),
      when: new Date(86_400_000),
      cyclic,
    };
    const back = roundTrip(value) as typeof value;
    expect(back.err).toBeInstanceOf(RangeError);
    expect(back.err.message).toBe('bad');
    expect((back.err.cause as Error).message).toBe('inner');
    expect(back.map.get(1n)).toEqual(new Set(['a']));
    expect(back.when.getTime()).toBe(86_400_000);
    expect(back.cyclic.self).toBe(back.cyclic);
  });

  it('keeps large typed arrays out of the skeleton and returns them as views', () => {
    const big = new Float64Array(OUT_OF_BAND_BYTES / 8 + 1).fill(2.5);
    const segments = encodePayload({ big }, [], 'args') as Uint8Array[];
    expect(segments).toHaveLength(3);
    expect(segments[2]!.buffer).toBe(big.buffer); // not copied
    expect(segments[0]!.byteLength).toBeLessThan(100);
    const back = decodePayload(segments, 0, []) as { big: Float64Array };
    expect(back.big).toBeInstanceOf(Float64Array);
    expect(back.big.buffer).toBe(segments[2]!.buffer); // a view of the received bytes
    expect(back.big[back.big.length - 1]).toBe(2.5);
  });

  it('sends one large array of any view type as itself, with a skeleton made once and no memory outside the heap', () => {
    const bytes = OUT_OF_BAND_BYTES + 64;
    const views = [
      new Float64Array(bytes / 8).fill(-1.25),
      new Int32Array(bytes / 4).fill(-7),
      new Uint8Array(bytes).fill(200),
      new Uint8ClampedArray(bytes).fill(9),
      new BigUint64Array(bytes / 8).fill(5n),
      Buffer.alloc(bytes, 3),
      new DataView(new ArrayBuffer(bytes)),
      new Float32Array(new ArrayBuffer(bytes + 16), 8, bytes / 4).fill(0.5), // at an offset in its buffer
    ];
    for (const view of views) {
      const segments = encodePayload(view, [], 'result') as Uint8Array[];
      expect(segments).toHaveLength(3);
      expect(segments[2]!.buffer).toBe(view.buffer); // not copied
      expect(segments[2]!.byteOffset).toBe(view.byteOffset);
      const back = decodePayload(segments, 0, []) as ArrayBufferView;
      expect(back.constructor).toBe(view.constructor);
      expect(Buffer.from(back.buffer, back.byteOffset, back.byteLength).equals(Buffer.from(view.buffer, view.byteOffset, view.byteLength))).toBe(true);
    }
    // Again: V8's serializer is not used (core writes the skeleton, flat-record.ts), so it allocates
    // no buffer outside the heap (what its releaseBuffer() returns), while an object that is not a
    // flat record (flat-record.test.ts) still takes it.
    const released = vi.spyOn(v8.Serializer.prototype, 'releaseBuffer');
    try {
      for (const view of views) {
        const back = decodePayload(encodePayload(view, [], 'result') as Uint8Array[], 0, []) as ArrayBufferView;
        expect(back.constructor).toBe(view.constructor);
        expect(back.byteLength).toBe(view.byteLength);
      }
      expect(released).not.toHaveBeenCalled();
      encodePayload({ view: views[0], list: [1] }, [], 'args');
      expect(released).toHaveBeenCalledTimes(1);
    } finally {
      released.mockRestore();
    }
    // A serializer that claims the array still gets it.
    const claiming: Serializer<Float64Array> = {
      tag: 'test.f64/1',
      claims: (v): v is Float64Array => v instanceof Float64Array,
      encode: (f) => new Uint8Array(f.buffer, f.byteOffset, 8),
      decode: ([b]) => new Float64Array(b!.slice().buffer),
    };
    expect(roundTrip(views[0], [claiming])).toEqual(new Float64Array([-1.25]));
  });

  it('decodes a payload of one large array as a view of its segment, without a deserializer once the type is known', () => {
    const bytes = OUT_OF_BAND_BYTES + 64;
    const types = [Float64Array, Int16Array, BigInt64Array, Uint8Array] as const;
    for (const Type of types) {
      const first = new Type(bytes / Type.BYTES_PER_ELEMENT);
      // The first of a type round-trips too (core reads its skeleton from the first, flat-record.ts).
      expect(decodePayload(encodePayload(first, [], 'result') as Uint8Array[], 0, [])).toBeInstanceOf(Type);
    }
    const header = vi.spyOn(v8.Deserializer.prototype, 'readHeader');
    try {
      for (const Type of types) {
        const [skeleton, table, segment] = encodePayload(new Type(bytes / Type.BYTES_PER_ELEMENT), [], 'result') as Uint8Array[];
        // Received at an odd offset (as from a socket's read buffer): copied once, so the view is legal.
        const received = new Uint8Array(segment!.byteLength + 1).subarray(1);
        received.set(segment!);
        received[0] = 7;
        const back = decodePayload([skeleton!, table!, received], 0, []) as ArrayBufferView;
        expect(back).toBeInstanceOf(Type);
        expect(back.byteLength).toBe(segment!.byteLength);
        expect(new Uint8Array(back.buffer, back.byteOffset, 2)).toEqual(new Uint8Array([7, 0]));
        // Aligned, it is a view of the received bytes themselves.
        const aligned = decodePayload([skeleton!, table!, segment!], 0, []) as ArrayBufferView;
        expect(aligned.buffer).toBe(segment!.buffer);
        // The skeleton alone, its segment missing: a typed error, not a view of nothing.
        expect(() => decodePayload([skeleton!, table!], 0, [])).toThrow(DeserializationError);
      }
      expect(header).not.toHaveBeenCalled();
      // Anything else still goes through V8's deserializer (a flat record does not: flat-record.test.ts).
      expect(roundTrip({ a: [1] })).toEqual({ a: [1] });
      expect(header).toHaveBeenCalledTimes(1);
    } finally {
      header.mockRestore();
    }
  });

  it('keeps Buffer, DataView and BigInt64Array types, large and small', () => {
    const value = {
      small: Buffer.from('abc'),
      large: Buffer.alloc(OUT_OF_BAND_BYTES, 1),
      view: new DataView(new ArrayBuffer(OUT_OF_BAND_BYTES * 2)),
      longs: new BigInt64Array(OUT_OF_BAND_BYTES / 8).fill(-3n),
    };
    const back = roundTrip(value) as typeof value;
    expect(Buffer.isBuffer(back.small)).toBe(true);
    expect(back.small.toString()).toBe('abc');
    expect(Buffer.isBuffer(back.large)).toBe(true);
    expect(back.view).toBeInstanceOf(DataView);
    expect(back.longs[0]).toBe(-3n);
  });

  it('names the path of what cannot be serialized', () => {
    const err = (() => {
      try {
        encodePayload({ rows: [{ ok: 1 }, { cb: () => 1 }] }, [], 'args');
      } catch (e) {
        return e as SerializationError;
      }
    })();
    expect(err).toBeInstanceOf(SerializationError);
    expect(err!.path).toBe('args.rows[1].cb');
    expect(() => encodePayload(new Map([['k', Symbol('s')]]), [], 'args')).toThrow(/args\.get\("k"\)/);
  });

  it('lets a serializer claim values at any depth, once per object', () => {
    const p = new Point(1, 2);
    const value = { top: p, nested: [{ again: p }], map: new Map([['q', new Point(3, 4)]]) };
    const segments = encodePayload(value, [pointSerializer], 'args') as Uint8Array[];
    const table = JSON.parse(Buffer.from(segments[1]!).toString());
    expect(table.map((e: { p: string }) => e.p)).toEqual(['args.top', 'args.map.get("q")']);
    const back = decodePayload(segments, 0, [pointSerializer]) as typeof value;
    expect(back.top).toBeInstanceOf(Point);
    expect(back.nested[0]!.again).toBe(back.top);
    expect(back.map.get('q')).toEqual(new Point(3, 4));
    expect(value.top).toBe(p); // the caller's object was not modified
  });

  it('names the serializer and the path when one fails or is missing', () => {
    const throwing: Serializer<Point> = { ...pointSerializer, encode: () => { throw new Error('nope'); } };
    expect(() => encodePayload({ a: { b: new Point(0, 0) } }, [throwing], 'args')).toThrow(/'test\.point\/1' failed to encode args\.a\.b: nope/);
    const segments = encodePayload({ p: new Point(0, 0) }, [pointSerializer], 'result') as Uint8Array[];
    expect(() => decodePayload(segments, 0, [])).toThrow(DeserializationError);
    expect(() => decodePayload(segments, 0, [])).toThrow(/result\.p was encoded by serializer 'test\.point\/1'/);
  });

  it('rejects corrupt bytes with a typed error', () => {
    expect(() => decodePayload([Buffer.from([0xff, 0x0f, 0x99]), new Uint8Array(0)], 0, [])).toThrow(DeserializationError);
    expect(() => decodePayload([Buffer.from([0x07]), new Uint8Array(0)], 0, [])).toThrow(DeserializationError);
  });
});

describe('long strings', () => {
  it('travel in V8 form, not as a UTF-8 scalar whose decoding could exceed the string limit', () => {
    const long = 'é'.repeat((1 << 20) + 1);
    const segments = encodePayload(long, [], 'args') as Uint8Array[];
    expect(segments[0]![0]).toBe(0xff); // V8's version tag, not the scalar string tag
    expect(decodePayload(segments, 0, [])).toBe(long);
    const short = encodePayload('é'.repeat(10), [], 'args') as Uint8Array[];
    expect(short[0]![0]).not.toBe(0xff);
  });
});
