/**
 * Flat records (an object of scalars, short Latin-1 strings and large typed arrays) are written
 * and read by core itself, in V8's format: the same values as V8's path, bytes V8 reads, V8's
 * own bytes read back, every other shape left to V8, and hostile bytes never worse than V8's path.
 */
import { describe, expect, it, vi } from 'vitest';
import v8 from 'node:v8';
import { DeserializationError, SerializationError } from '../../src/errors.js';
import { MAX_CHARS, MAX_KEYS } from '../../src/wire/flat-record.js';
import { decodePayload, encodePayload, OUT_OF_BAND_BYTES } from '../../src/wire/payload.js';

const encode = (value: unknown): Uint8Array[] => encodePayload(value, [], 'args') as Uint8Array[];
const decode = (segments: Uint8Array[]): unknown => decodePayload(segments, 0, []);
const EMPTY = new Uint8Array(0);

/** Calls of V8's serializer and deserializer while `run` runs. */
function v8Calls(run: () => void): { serialized: number; deserialized: number } {
  const ser = vi.spyOn(v8.Serializer.prototype, 'writeValue');
  const des = vi.spyOn(v8.Deserializer.prototype, 'readValue');
  try {
    run();
    return { serialized: ser.mock.calls.length, deserialized: des.mock.calls.length };
  } finally {
    ser.mockRestore();
    des.mockRestore();
  }
}

const scalarRecords: Record<string, unknown>[] = [
  {},
  { n: 5 },
  { zero: 0, minusZero: -0, nan: NaN, inf: -Infinity, big: 2 ** 53, max: 2 ** 31 - 1, min: -(2 ** 31), over: 2 ** 31, half: 1.5, tiny: 5e-324 },
  { t: true, f: false, nil: null, undef: undefined },
  { empty: '', ascii: 'abc', latin1: 'caf\u00e9 \u00ff\u0000', long: 'x'.repeat(MAX_CHARS), ['k\u00e9y ' + 'y'.repeat(20)]: 1, constructor: 'own', toString: 2 },
  { a: 1, b: 'two', c: true, d: null, e: undefined, f: 0.1 },
];

describe('flat records', () => {
  it('encode to the bytes V8 writes, which V8 reads back, without V8 on either side', () => {
    for (const record of scalarRecords) {
      let skeleton: Uint8Array | undefined;
      let table: Uint8Array | undefined;
      let back: Record<string, unknown> = {};
      const calls = v8Calls(() => {
        [skeleton, table] = encode(record);
        back = decode([skeleton!, EMPTY]) as Record<string, unknown>;
      });
      expect(calls).toEqual({ serialized: 0, deserialized: 0 });
      expect(table).toEqual(EMPTY);
      // Byte for byte what V8 writes: any peer, with or without this path, reads it.
      expect(Buffer.from(skeleton!)).toEqual(v8.serialize(record));
      expect(Object.keys(back)).toEqual(Object.keys(record));
      for (const key of Object.keys(record)) expect(Object.is(back[key], record[key])).toBe(true);
      expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
    }
  });

  it("read V8's own bytes of a flat record to the value V8's deserializer gives", () => {
    for (const record of scalarRecords) {
      const bytes = v8.serialize(record);
      let back: unknown;
      expect(v8Calls(() => (back = decode([bytes, EMPTY]))).deserialized).toBe(0);
      expect(back).toStrictEqual(v8.deserialize(bytes));
    }
  });

  it('carry large typed arrays of every type out of band, as views of the received segments', () => {
    const bytes = OUT_OF_BAND_BYTES + 16;
    const arrays = [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array, Float64Array, BigInt64Array, BigUint64Array].map(
      (Type, i) => new Type(bytes / Type.BYTES_PER_ELEMENT).fill((Type === BigInt64Array || Type === BigUint64Array ? BigInt(i + 1) : i + 1) as never),
    );
    const record = { label: 'arrays', ...Object.fromEntries(arrays.map((a, i) => [`a${i}`, a])), buffer: Buffer.alloc(bytes, 3), view: new DataView(new ArrayBuffer(bytes)), n: 7 };
    let segments: Uint8Array[] = [];
    let back: Record<string, unknown> = {};
    const calls = v8Calls(() => {
      segments = encode(record);
      back = decode(segments) as Record<string, unknown>;
    });
    expect(calls).toEqual({ serialized: 0, deserialized: 0 });
    expect(segments).toHaveLength(2 + arrays.length + 2);
    expect(segments[2]!.buffer).toBe(arrays[0]!.buffer); // not copied
    expect(Object.keys(back)).toEqual(Object.keys(record));
    arrays.forEach((a, i) => {
      const got = back[`a${i}`] as typeof a;
      expect(got.constructor).toBe(a.constructor);
      expect(got.buffer).toBe(segments[2 + i]!.buffer); // a view of the received bytes
      expect(got[got.length - 1]).toBe(a[a.length - 1]);
    });
    expect(Buffer.isBuffer(back.buffer)).toBe(true);
    expect(back.view).toBeInstanceOf(DataView);
    expect(back.n).toBe(7);
    // A segment missing: a typed error, not a record with a hole.
    expect(() => decode(segments.slice(0, 3))).toThrow(DeserializationError);
  });

  it("write one large array alone in V8's bytes too, and read it without V8 from the first", () => {
    // V8 itself, with the payload's host-object record (kind 1: out of band, view type, segment 0).
    const types = [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array, Float64Array, DataView, Buffer, BigInt64Array, BigUint64Array];
    class Reference extends v8.DefaultSerializer {
      _writeHostObject(view: ArrayBufferView): void {
        this.writeUint32(1);
        this.writeUint32(view instanceof Buffer ? 10 : types.indexOf(view.constructor as (typeof types)[number]));
        this.writeUint32(0);
      }
    }
    for (const Type of types) {
      const view = Type === DataView ? new DataView(new ArrayBuffer(OUT_OF_BAND_BYTES)) : Type === Buffer ? Buffer.alloc(OUT_OF_BAND_BYTES) : new (Type as Float64ArrayConstructor)(OUT_OF_BAND_BYTES / (Type as Float64ArrayConstructor).BYTES_PER_ELEMENT);
      const reference = new Reference();
      reference.writeHeader();
      reference.writeValue(view);
      let segments: Uint8Array[] = [];
      let back: unknown;
      const calls = v8Calls(() => {
        segments = encode(view);
        back = decode(segments);
      });
      expect(calls).toEqual({ serialized: 0, deserialized: 0 });
      expect(Buffer.from(segments[0]!)).toEqual(reference.releaseBuffer());
      expect((back as ArrayBufferView).constructor).toBe(view.constructor);
      expect((back as ArrayBufferView).buffer).toBe(segments[2]!.buffer);
    }
  });

  it('leave every other shape to V8, which gives the value it always gave', () => {
    const withProto = JSON.parse('{"__proto__": 1, "a": 2}') as object;
    const getterCalls = { n: 0 };
    const others: unknown[] = [
      { nested: { a: 1 } },
      { list: [1, 2] },
      { when: new Date(0) },
      { small: new Float64Array(4) }, // below OUT_OF_BAND_BYTES: inside the skeleton
      { 1: 'index', b: 2 },
      withProto,
      { emoji: '\u{1F600}' },
      { long: 'x'.repeat(MAX_CHARS + 1) },
      Object.fromEntries(Array.from({ length: MAX_KEYS + 1 }, (_, i) => [`k${i}`, i])),
      Object.assign(Object.create(null) as object, { a: 1 }),
      new (class Point {
        x = 1;
      })(),
      { big: 2n ** 70n },
    ];
    for (const value of others) {
      let back: unknown;
      const calls = v8Calls(() => (back = decode(encode(value))));
      expect(calls.serialized).toBe(1);
      expect(back).toStrictEqual(v8.deserialize(v8.serialize(value)));
    }
    // The own "__proto__" key stays an own data property; the prototype is untouched.
    const back = decode(encode(withProto)) as Record<string, unknown>;
    expect(Object.getOwnPropertyDescriptor(back, '__proto__')?.value).toBe(1);
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
    // A Proxy of a flat record is refused, as V8 refuses it.
    expect(() => encode(new Proxy({ a: 1 }, {}))).toThrow(SerializationError);
    // A getter of a flat record is read once, and arrives as its value.
    const withGetter = Object.defineProperty({ a: 1 }, 'b', { enumerable: true, get: () => ++getterCalls.n });
    expect(decode(encode(withGetter))).toEqual({ a: 1, b: 1 });
    expect(getterCalls.n).toBe(1);
  });

  it('fall back to V8 on bytes they do not read, so a mutated record costs one payload a typed error at worst', () => {
    const [skeleton] = encode({ n: -7, s: 'text', d: 2.5, t: true, x: new Float64Array(OUT_OF_BAND_BYTES / 8) });
    const segment = new Uint8Array(OUT_OF_BAND_BYTES);
    let decoded = 0;
    let refused = 0;
    const attempt = (bytes: Uint8Array): void => {
      try {
        decode([bytes, EMPTY, segment]);
        decoded++;
      } catch (err) {
        expect(err).toBeInstanceOf(DeserializationError);
        refused++;
      }
    };
    for (let cut = 0; cut < skeleton!.byteLength; cut++) attempt(skeleton!.subarray(0, cut));
    for (let at = 0; at < skeleton!.byteLength; at++) {
      for (const b of [0x00, 0x01, 0x22, 0x49, 0x4e, 0x5c, 0x6f, 0x7b, 0x7f, 0x80, 0xff]) {
        const bytes = Uint8Array.from(skeleton!);
        bytes[at] = b;
        attempt(bytes);
      }
    }
    // A key or string longer than the bytes left is refused before anything is made of it.
    const header = skeleton!.subarray(0, 3); // 0xFF, version, 'o'
    expect(() => decode([Uint8Array.from([...header, 0x22, 0xff, 0xff, 0xff, 0xff, 0x0f]), EMPTY])).toThrow(DeserializationError);
    expect(() => decode([Uint8Array.from([...header, 0x22, 0x01, 0x6b, 0x22, 0x05, 0x61, 0x62]), EMPTY])).toThrow(DeserializationError);
    // A count that is not the number of entries read.
    expect(() => decode([Uint8Array.from([...header, 0x22, 0x01, 0x6b, 0x54, 0x7b, 0x02]), EMPTY])).toThrow(DeserializationError);
    expect(decode([Uint8Array.from([...header, 0x22, 0x01, 0x6b, 0x54, 0x7b, 0x01]), EMPTY])).toEqual({ k: true });
    expect(refused).toBeGreaterThan(0);
    expect(decoded).toBeGreaterThan(0);
  });
});
