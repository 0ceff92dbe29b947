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
import { describe, expect, it } from 'vitest';
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
