import pl from 'nodejs-polars';
import { describe, expect, it } from 'vitest';
import { ConfigError, DeserializationError } from '@mirai-ts/core';
import { checkIpcFile, contiguous, IpcChecker } from '@mirai-ts/serializer-arrow/validate';
import { POLARS_TAG, polarsSerializer } from '../src/index.js';
import { everyDtype } from './cases.js';

const ser = polarsSerializer();
const roundTrip = <T>(v: T): T => ser.decode(ser.encode(v as never) as Uint8Array[]) as T;

/** A frame of `chunks` chunks of `rows` rows each in one Null column: Polars writes a record batch per chunk, with no body bytes. */
function nullChunks(chunks: number, rows: number): pl.DataFrame {
  const one = pl.DataFrame({ a: [1] }).select(pl.lit(null).alias('n').extendConstant(null, rows - 1));
  return chunks === 1 ? one : pl.concat(Array.from({ length: chunks }, () => one), { how: 'vertical', rechunk: false });
}

/** The stream part of an IPC file: the bytes the checker bounds rows by (footer and magic excluded). */
function streamBytes(file: Uint8Array): number {
  return file.byteLength - 10 - new DataView(file.buffer, file.byteOffset + file.byteLength - 10, 4).getInt32(0, true);
}

function refused(run: () => unknown, message: RegExp): void {
  let error: unknown;
  try {
    run();
  } catch (err) {
    error = err;
  }
  expect(error).toBeInstanceOf(DeserializationError);
  expect((error as Error).message, String((error as Error).message)).toMatch(message);
}

describe('polarsSerializer', () => {
  it('has a ref daemons can rebuild it from, options included', () => {
    expect(ser.tag).toBe(POLARS_TAG);
    expect(ser.ref).toEqual({ specifier: '@mirai-ts/serializer-polars', exportName: 'polarsSerializer', options: {} });
    expect(polarsSerializer({ compression: 'zstd' }).ref?.options).toEqual({ compression: 'zstd' });
  });

  it('refuses unknown options and bad values with a ConfigError naming option, value and what is expected', () => {
    const refusedOptions = (options: unknown, message: RegExp) => {
      expect(() => polarsSerializer(options as never)).toThrow(ConfigError);
      expect(() => polarsSerializer(options as never)).toThrow(message);
    };
    refusedOptions({ compresion: 'zstd' }, /^polarsSerializer\(\): unknown option 'compresion'; did you mean 'compression'\? \(known: compression\)$/);
    refusedOptions({ compression: 'gzip' }, /^polarsSerializer\(\): option 'compression' must be one of 'uncompressed', 'lz4', 'zstd', got 'gzip' \(a string\)$/);
    refusedOptions({ compression: 1 }, /option 'compression' must be one of .*, got 1$/);
    refusedOptions('zstd', /^polarsSerializer\(\): options must be an object, got 'zstd' \(a string\)$/);
    refusedOptions(null, /options must be an object, got null/);
    for (const compression of ['uncompressed', 'lz4', 'zstd', undefined] as const) expect(() => polarsSerializer({ compression })).not.toThrow();
  });

  it('bounds the rows of the whole file, not of each batch: many Null batches are refused', () => {
    // Each batch claims as many rows as a file of this size allows one batch; a Null column needs
    // no body bytes, so without a running total N batches would give a frame N times that high.
    const [kind, small] = ser.encode(nullChunks(300, 1)) as Uint8Array[];
    const bytes = streamBytes(small!);
    const perBatch = 8 * bytes + (1 << 20);
    const body = (ser.encode(nullChunks(300, perBatch)) as Uint8Array[])[1]!;
    expect(streamBytes(body)).toBe(bytes); // row counts are int64s: the size does not depend on them
    refused(
      () => ser.decode([kind!, body]),
      new RegExp(`^polars: the stream's batches claim ${2 * perBatch} rows in all by batch 2, more than the ${perBatch} allowed for the ${bytes} bytes received$`),
    );
    // As many rows spread over the batches are fine.
    const fits = nullChunks(300, Math.floor(perBatch / 300));
    expect((roundTrip(fits) as pl.DataFrame).height).toBe(300 * Math.floor(perBatch / 300));
  });

  it('refuses a file whose footer lists a batch twice (a reader would read it twice)', () => {
    const [kind, body] = ser.encode(nullChunks(2, 5)) as Uint8Array[];
    expect((ser.decode([kind!, body!]) as pl.DataFrame).height).toBe(10);
    // The two batches' messages, then their footer blocks {offset: i64, metadata length: i32, pad, body length: i64}.
    const checker = new IpcChecker(contiguous(body!.subarray(0, streamBytes(body!))), 'polars', true);
    const starts: number[] = [];
    for (let at: number | undefined = 8; at !== undefined; ) {
      const message = checker.next(at);
      if (message?.message.kind === 'batch') starts.push(message.start);
      at = message?.end;
    }
    expect(starts).toHaveLength(2);
    const dv = new DataView(body!.buffer, body!.byteOffset, body!.byteLength);
    let block = -1;
    for (let i = streamBytes(body!); i + 32 <= body!.byteLength; i++) {
      if (dv.getBigInt64(i, true) === BigInt(starts[0]!) && dv.getBigInt64(i + 24, true) === BigInt(starts[1]!)) block = i;
    }
    expect(block).toBeGreaterThan(0);
    const forged = new Uint8Array(body!);
    forged.copyWithin(block + 24, block, block + 24); // the second block now points at the first batch
    refused(() => ser.decode([kind!, forged]), new RegExp(`^polars: the file footer lists the batch message at offset ${starts[0]} twice$`));
  });

  it("holds a file's rows to what a reader can hold (Polars: under 2^32)", () => {
    const [, body] = ser.encode(nullChunks(3, 10)) as Uint8Array[];
    expect(() => checkIpcFile(body!, 'polars', { maxRows: 30 })).not.toThrow();
    refused(
      () => checkIpcFile(body!, 'polars', { maxRows: 25, maxRowsReason: '(Polars counts the rows of a frame in 32 bits)' }),
      /^polars: the stream's batches claim 30 rows in all by batch 3, more than the 25 allowed \(Polars counts the rows of a frame in 32 bits\)$/,
    );
  });

  it('round-trips a frame of many chunks of data and nulls', () => {
    const part = (k: number) => pl.DataFrame({ i: Array.from({ length: 1000 }, (_, j) => k * 1000 + j), s: Array.from({ length: 1000 }, (_, j) => (j % 3 ? `v${j}` : null)) });
    const df = pl.concat(Array.from({ length: 40 }, (_, k) => part(k)), { how: 'vertical', rechunk: false }).withColumns(pl.lit(null).alias('n'));
    expect(df.nChunks()).toBe(40); // 40 record batches on the wire
    const back = roundTrip(df);
    expect(back.height).toBe(40_000);
    expect(back.frameEqual(df, true)).toBe(true);
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
