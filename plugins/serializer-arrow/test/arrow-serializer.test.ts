import {
  Dictionary,
  Field,
  Int32,
  Int64,
  List,
  RecordBatch,
  Struct,
  Table,
  tableFromIPC,
  tableToIPC,
  Utf8,
  Vector,
  vectorFromArray,
} from 'apache-arrow';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { ConfigError, SerializationError } from '@mirai-ts/core';
import { encodePayload } from '@mirai-ts/core/plugin';
import { ARROW_TAG, arrowRows, arrowSerializer } from '../src/index.js';
import { everyType, stringToInt } from './cases.js';

const ser = arrowSerializer();
const roundTrip = <T>(v: T): T => ser.decode(ser.encode(v as never) as Uint8Array[]) as T;
const json = (v: unknown): string => JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `${x}n` : ArrayBuffer.isView(x) ? Array.from(x as Uint8Array) : x));

describe('arrowSerializer', () => {
  it('has a ref daemons can rebuild it from', () => {
    expect(ser.tag).toBe(ARROW_TAG);
    expect(ser.ref).toEqual({ specifier: '@mirai-ts/serializer-arrow', exportName: 'arrowSerializer', options: {} });
  });

  it.each(everyType())('round-trips a %s column exactly (type, nulls, values)', (name, type, values) => {
    const table = new Table({ [name]: vectorFromArray(values, type) });
    const back = roundTrip(table);
    const col = back.getChild(name)!;
    expect(String(col.type)).toBe(String(type));
    expect(col.nullCount).toBe(table.getChild(name)!.nullCount);
    expect(json(arrowRows(back))).toBe(json(arrowRows(table)));
  });

  it('keeps Tables, RecordBatches and Vectors as what they were, with their metadata', () => {
    const table = new Table({ a: vectorFromArray([1, 2], new Int32()) });
    const batch = new RecordBatch(table.schema, table.batches[0]!.data, new Map([['batch', 'meta']]));
    const backBatch = roundTrip(batch);
    expect(backBatch).toBeInstanceOf(RecordBatch);
    expect([...backBatch.metadata]).toEqual([['batch', 'meta']]);
    const vector = vectorFromArray(['p', 'q'], new Dictionary(new Utf8(), new Int32()));
    const backVector = roundTrip(vector);
    expect(backVector).toBeInstanceOf(Vector);
    expect(String(backVector.type)).toBe('Dictionary<Int32, Utf8>');
    expect(backVector.toArray()).toEqual(['p', 'q']);
    const empty = roundTrip(new Table(table.schema));
    expect(empty).toBeInstanceOf(Table);
    expect([empty.numRows, empty.batches.length, String(empty.schema.fields[0]!.type)]).toEqual([0, 0, 'Int32']);
  });

  it('keeps batch boundaries and per-batch dictionaries', () => {
    const dict = () => new Dictionary(new Utf8(), new Int32());
    const t = new Table({ d: vectorFromArray(['x', 'y'], dict()) }).concat(new Table({ d: vectorFromArray(['z', 'x', 'z'], dict()) }));
    const back = roundTrip(t);
    expect(back.batches.map((b) => b.numRows)).toEqual([2, 3]);
    expect(back.getChild('d')!.toArray()).toEqual(['x', 'y', 'z', 'x', 'z']);
  });

  it('sends column buffers without copying them and decodes them as views', () => {
    const values = Float64Array.from({ length: 200_000 }, (_, i) => i);
    const table = new Table({ x: vectorFromArray(values) });
    const segments = ser.encode(table) as Uint8Array[];
    const own = segments.find((s) => s.buffer === table.getChild('x')!.data[0]!.values.buffer);
    expect(own?.byteLength).toBe(values.byteLength);
    const back = ser.decode(segments) as Table;
    expect(back.getChild('x')!.data[0]!.values.buffer).toBe(own!.buffer);
    // Together the segments are exactly Arrow's own IPC stream.
    const joined = Buffer.concat(segments.slice(1));
    expect(Buffer.compare(joined, Buffer.from(tableToIPC(table, 'stream')))).toBe(0);
  });

  it('decodes streams cut anywhere and at misaligned offsets', () => {
    const table = new Table({
      i: vectorFromArray(Int32Array.from({ length: 1000 }, (_, k) => k)),
      s: vectorFromArray(Array.from({ length: 1000 }, (_, k) => `s${k % 7}`), new Utf8()),
      b: vectorFromArray(Array.from({ length: 1000 }, (_, k) => (k % 3 ? BigInt(k) : null)), new Int64()),
    });
    const stream = tableToIPC(table, 'stream');
    for (const cut of [1, 3, 7, 13, 1000, 4099]) {
      const pieces: Uint8Array[] = [];
      for (let at = 0; at < stream.byteLength; at += cut) {
        const piece = stream.subarray(at, at + cut);
        const misaligned = new Uint8Array(piece.byteLength + 3).subarray(3); // offset 3 in its buffer
        misaligned.set(piece);
        pieces.push(misaligned);
      }
      const back = ser.decode([Uint8Array.of(0), ...pieces]) as Table;
      expect(json(arrowRows(back)), `cut every ${cut} bytes`).toBe(json(arrowRows(table)));
    }
  });

  it("reads Arrow's own tableToIPC() bytes", () => {
    const table = new Table({ a: vectorFromArray(['u', null], new Utf8()) });
    const back = ser.decode([Uint8Array.of(0), tableToIPC(table, 'stream')]) as Table;
    expect(arrowRows(back)).toEqual([{ a: 'u' }, { a: null }]);
    expect(tableFromIPC(Buffer.concat((ser.encode(table) as Uint8Array[]).slice(1))).numRows).toBe(2);
  });

  it('throws on garbage, truncated or unknown input instead of returning a wrong value', () => {
    const good = ser.encode(new Table({ a: vectorFromArray([1, 2, 3], new Int32()) })) as Uint8Array[];
    const bad: Uint8Array[][] = [
      [],
      [Uint8Array.of(9), ...good.slice(1)],
      [Uint8Array.of(0), Uint8Array.from({ length: 200 }, (_, i) => (i * 37) & 255)],
      [Uint8Array.of(0), new Uint8Array(64).fill(255)],
      [good[0]!, Buffer.concat(good.slice(1)).subarray(0, 100)],
      [Uint8Array.of(1), ...(ser.encode(new Table({ a: vectorFromArray([1], new Int32()) }).concat(new Table({ a: vectorFromArray([2], new Int32()) }))) as Uint8Array[]).slice(1)],
    ];
    for (const buffers of bad) expect(() => ser.decode(buffers)).toThrow();
  });

  it('claims Arrow values only, and refuses values from another copy of apache-arrow by name', () => {
    const table = new Table({ a: vectorFromArray([1], new Int32()) });
    expect([ser.claims(table), ser.claims(table.batches[0]), ser.claims(table.getChild('a'))]).toEqual([true, true, true]);
    expect([ser.claims({}), ser.claims([1]), ser.claims(new Uint8Array(1)), ser.claims(null)]).toEqual([false, false, false, false]);
    class Table2 {
      schema = {};
      batches = [];
    }
    Object.defineProperty(Table2, 'name', { value: 'Table' });
    const foreign = new Table2();
    expect(ser.claims(foreign)).toBe(true);
    expect(() => ser.encode(foreign as never)).toThrow(/another copy of apache-arrow/);
  });

  it("refuses values of apache-arrow's CommonJS build (a second copy) on the host, naming the cause and the fix", async () => {
    const cjs = createRequire(import.meta.url)('apache-arrow') as typeof import('apache-arrow');
    expect(cjs.Table).not.toBe(Table); // require() loads Arrow.node.js, import Arrow.node.mjs: two copies
    const table = new cjs.Table({ a: cjs.vectorFromArray([1, 2, 3], new cjs.Int32()) }).concat(new cjs.Table({ a: cjs.vectorFromArray([4], new cjs.Int32()) }));
    expect(table instanceof Table).toBe(true); // Arrow's Symbol.hasInstance: why instanceof cannot tell them apart
    const cause = /^this (Table|RecordBatch|Vector) comes from the CommonJS build of apache-arrow \(require\('apache-arrow'\)\), while @mirai-ts\/serializer-arrow uses its ES module build \(import\): two copies of apache-arrow.*Fix: load apache-arrow one way/;
    for (const value of [table, table.batches[0]!, table.getChild('a')!]) {
      expect(ser.claims(value)).toBe(true);
      expect(() => ser.encode(value)).toThrow(cause);
    }
    expect(() => ser.rows!(table)).toThrow(cause);
    // Through core, as mirai() sends arguments: a SerializationError naming where the value sat; nothing is sent.
    const error = await Promise.resolve()
      .then(() => encodePayload({ data: { t: table } }, [ser], 'args'))
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    expect(error).toBeInstanceOf(SerializationError);
    expect((error as SerializationError).path).toBe('args.data.t');
    expect((error as Error).message).toMatch(/CommonJS build of apache-arrow/);
    // The same values made by this copy still travel.
    expect(arrowRows(roundTrip(new Table({ a: vectorFromArray([1, 2, 3], new Int32()) })))).toEqual([{ a: 1 }, { a: 2 }, { a: 3 }]);
  });

  it('refuses options, as it takes none yet: a ConfigError naming the option and its value', () => {
    const refused = (options: unknown, message: RegExp) => {
      expect(() => arrowSerializer(options as never)).toThrow(ConfigError);
      expect(() => arrowSerializer(options as never)).toThrow(message);
    };
    refused({ foo: 1 }, /^arrowSerializer\(\): unknown option 'foo' \(got 1\); it takes no options yet$/);
    refused(42, /^arrowSerializer\(\): options must be an object, got 42$/);
    refused(null, /^arrowSerializer\(\): options must be an object, got null$/);
    expect(arrowSerializer(undefined).ref?.options).toEqual({});
    expect(arrowSerializer({}).ref?.options).toEqual({});
  });

  it('splits tables into rows of plain values for miraiMap', () => {
    const table = new Table({
      n: vectorFromArray([1, null], new Int32()),
      rec: vectorFromArray([{ a: 1 }, { a: 2 }], new Struct([new Field('a', new Int32(), true)])),
      list: vectorFromArray([[1, 2], [null]], new List(new Field('i', new Int32(), true))),
      m: vectorFromArray([new Map([['k', 1]]), new Map()], stringToInt()),
    });
    const rows = [...ser.rows!(table)];
    expect(rows).toEqual([
      { n: 1, rec: { a: 1 }, list: Int32Array.of(1, 2), m: new Map([['k', 1]]) },
      { n: null, rec: { a: 2 }, list: [null], m: new Map() },
    ]);
    expect(() => structuredClone(rows)).not.toThrow();
    expect(() => structuredClone([...table])).toThrow(); // what plain iteration would have sent
  });
});
