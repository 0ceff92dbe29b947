import pl from 'nodejs-polars';
import { describe, expect, it } from 'vitest';
import { POLARS_TAG, polarsSerializer } from '../src/index.js';
import { everyDtype } from './cases.js';

const ser = polarsSerializer();
const roundTrip = <T>(v: T): T => ser.decode(ser.encode(v as never) as Uint8Array[]) as T;

describe('polarsSerializer', () => {
  it('has a ref daemons can rebuild it from, options included', () => {
    expect(ser.tag).toBe(POLARS_TAG);
    expect(ser.ref).toEqual({ specifier: '@mirai-ts/serializer-polars', exportName: 'polarsSerializer', options: {} });
    expect(polarsSerializer({ compression: 'zstd' }).ref?.options).toEqual({ compression: 'zstd' });
    expect(() => polarsSerializer({ compression: 'gzip' as never })).toThrow(/compression/);
  });

  it('round-trips every dtype exactly, nulls included', () => {
    const df = everyDtype();
    const back = roundTrip(df);
    expect(back.columns).toEqual(df.columns);
    expect(back.dtypes.map(String)).toEqual(df.dtypes.map(String));
    expect(back.dtypes.map(String)).toContain('DataType(Datetime(ns,Asia/Tokyo))');
    expect(back.dtypes.map(String)).toContain('DataType(Categorical)');
    expect(back.nullCount().row(0)).toEqual(df.nullCount().row(0));
    expect(back.frameEqual(df, true)).toBe(true);
  });

  it('keeps a Series a Series, with its name and dtype', () => {
    const s = pl.Series('temps', [20.5, null, -3], pl.Float32);
    const back = roundTrip(s);
    expect(pl.Series.isSeries(back)).toBe(true);
    expect([back.name, String(back.dtype)]).toEqual(['temps', 'DataType(Float32)']);
    expect(back.seriesEqual(s, true, true)).toBe(true);
    const cat = roundTrip(pl.Series('c', ['b', 'a', null, 'b']).cast(pl.Categorical));
    expect(String(cat.dtype)).toBe('DataType(Categorical)');
    expect(cat.toArray()).toEqual(['b', 'a', null, 'b']);
  });

  it('round-trips frames with no rows and with no columns', () => {
    const noRows = everyDtype().head(0);
    const back = roundTrip(noRows);
    expect([back.height, back.dtypes.map(String)]).toEqual([0, noRows.dtypes.map(String)]);
    expect(roundTrip(pl.DataFrame({})).shape).toEqual({ height: 0, width: 0 });
  });

  it('compresses when asked, and the daemon side reads it either way', () => {
    const df = pl.DataFrame({ x: Array.from({ length: 100_000 }, (_, i) => i % 10) });
    const plain = ser.encode(df) as Uint8Array[];
    const zstd = polarsSerializer({ compression: 'zstd' });
    const packed = zstd.encode(df) as Uint8Array[];
    expect(packed[1]!.byteLength * 10).toBeLessThan(plain[1]!.byteLength);
    expect((ser.decode(packed) as pl.DataFrame).frameEqual(df)).toBe(true);
  });

  it('decodes from a view at any offset', () => {
    const df = pl.DataFrame({ a: [1, 2, 3] });
    const [kind, body] = ser.encode(df) as Uint8Array[];
    const shifted = new Uint8Array(body!.byteLength + 5).subarray(5);
    shifted.set(body!);
    expect((ser.decode([kind!, shifted]) as pl.DataFrame).frameEqual(df)).toBe(true);
  });

  it('throws on garbage or truncated input', () => {
    const [kind, body] = ser.encode(pl.DataFrame({ a: [1, 2, 3] })) as Uint8Array[];
    const bad: Uint8Array[][] = [
      [],
      [kind!],
      [Uint8Array.of(7), body!],
      [kind!, body!.subarray(0, body!.byteLength - 1)],
      [kind!, Uint8Array.from({ length: 300 }, (_, i) => (i * 37) & 255)],
      [Uint8Array.of(1), (ser.encode(pl.DataFrame({ a: [1], b: [2] })) as Uint8Array[])[1]!], // a "Series" of two columns
    ];
    for (const buffers of bad) expect(() => ser.decode(buffers)).toThrow();
  });

  it('claims DataFrames and Series only', () => {
    const df = pl.DataFrame({ a: [1] });
    expect([ser.claims(df), ser.claims(df.getColumn('a'))]).toEqual([true, true]);
    expect([ser.claims({}), ser.claims(df.lazy()), ser.claims([1]), ser.claims(undefined)]).toEqual([false, false, false, false]);
  });

  it('splits a frame into rows of plain objects for miraiMap', () => {
    const df = pl.DataFrame({ a: [1, null], s: ['x', 'y'] });
    const rows = [...ser.rows!(df)];
    expect(rows).toEqual([
      { a: 1, s: 'x' },
      { a: null, s: 'y' },
    ]);
    expect(() => structuredClone(rows)).not.toThrow();
    expect([...ser.rows!(df.getColumn('s'))]).toEqual(['x', 'y']);
  });
});
