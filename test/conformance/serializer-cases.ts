/**
 * The setups the serializer conformance suite runs against: the default serializer and
 * each plugin, with sample values that exercise their edge cases and exact comparisons.
 */
import {
  Bool,
  Dictionary,
  Field,
  Float64,
  Int16,
  Int32,
  Int64,
  List,
  RecordBatch,
  Schema,
  Struct,
  Table,
  TimestampMillisecond,
  Utf8,
  Utf8View,
  Vector,
  vectorFromArray,
} from 'apache-arrow';
import pl from 'nodejs-polars';
import ort from 'onnxruntime-node';
import { expect } from 'vitest';
import { arrowRows, arrowSerializer } from '@mirai-ts/serializer-arrow';
import { onnxSerializer } from '@mirai-ts/serializer-onnx';
import { polarsSerializer } from '@mirai-ts/serializer-polars';
import { Temperature, temperatureSerializer } from '../../docs/examples/temperature.mjs';
import type { SerializerCase } from './serializer.js';

// ---------------------------------------------------------------- default (no plugins)

export const defaultCase = (): SerializerCase => ({
  name: 'default',
  serializers: () => [],
  samples: () => ({
    map: new Map<unknown, unknown>([
      ['a', 1],
      [2, { deep: [3n] }],
    ]),
    set: new Set(['x', 1]),
    date: new Date(1234),
    big: -(2n ** 70n),
    floats: Float32Array.of(1.5, Number.NaN, -0),
    text: 'héllo \u{1F600} \ud800',
    nested: { a: [1, { b: null, u: undefined }], negativeZero: -0 },
    regexp: /ab+c/gi,
  }),
  expectSame: (actual, expected) => expect(actual).toStrictEqual(expected),
  describe: (v: any) => Object.prototype.toString.call(v) + (v instanceof Map || v instanceof Set ? v.size : ''),
  large: () => Float64Array.from({ length: 2_000_000 }, (_, i) => i),
  buffersOf: (v) => [(v as Float64Array).buffer],
  decodesAsViews: true,
});

// ---------------------------------------------------------------- Apache Arrow

function arrowTable(): Table {
  const columns = (offset: number) => ({
    int: vectorFromArray([1 + offset, null, 3], new Int32()),
    float: vectorFromArray([1.5, Number.NaN, null], new Float64()),
    text: vectorFromArray(['a', null, 'é\u{1F600}'], new Utf8()),
    dict: vectorFromArray(offset ? ['z', 'x', null] : ['x', 'y', 'x'], new Dictionary(new Utf8(), new Int32())),
    view: vectorFromArray(['short', null, 'a string longer than twelve bytes'], new Utf8View()),
    big: vectorFromArray([2n ** 62n, null, -1n], new Int64()),
    flag: vectorFromArray([true, null, false], new Bool()),
    when: vectorFromArray([0, 1e12, null], new TimestampMillisecond('Europe/Paris')),
    list: vectorFromArray([[1, 2], null, []], new List(new Field('item', new Int32(), true))),
    rec: vectorFromArray([{ x: 1 }, null, { x: null }], new Struct([new Field('x', new Int16(), true)])),
  });
  const first = new Table(columns(0));
  const second = new Table(columns(10));
  const fields = first.schema.fields.map((f) =>
    f.name === 'int' ? new Field(f.name, f.type, false, new Map([['unit', 'apples']])) : f,
  );
  const schema = new Schema(fields, new Map([['source', 'conformance']]));
  // Two batches, each with its own dictionary: the second is a replacement or a delta.
  const batches = [...first.batches, ...second.batches].map((b) => new RecordBatch(schema, b.data));
  return new Table(schema, batches);
}

function expectSameArrow(actual: unknown, expected: unknown): void {
  expect((actual as object)?.constructor).toBe((expected as object).constructor);
  if (expected instanceof Vector) {
    const a = actual as Vector;
    expect(String(a.type)).toBe(String(expected.type));
    expect([a.length, a.nullCount]).toEqual([expected.length, expected.nullCount]);
    expect(Array.from(a as Iterable<unknown>)).toEqual(Array.from(expected as Iterable<unknown>));
    return;
  }
  const a = actual as Table | RecordBatch;
  const e = expected as Table | RecordBatch;
  const fields = (s: Schema) => s.fields.map((f) => [f.name, String(f.type), f.nullable, [...f.metadata]]);
  expect(fields(a.schema)).toEqual(fields(e.schema));
  expect([...a.schema.metadata]).toEqual([...e.schema.metadata]);
  expect(a.numRows).toBe(e.numRows);
  if (e instanceof Table) expect((a as Table).batches.map((b) => b.numRows)).toEqual(e.batches.map((b) => b.numRows));
  for (let i = 0; i < e.numCols; i++) expect(a.getChildAt(i)?.nullCount).toBe(e.getChildAt(i)?.nullCount);
  expect(arrowRows(a)).toEqual(arrowRows(e));
}

export const arrowCase = (): SerializerCase => ({
  name: 'arrow',
  serializers: () => [arrowSerializer()],
  samples: () => {
    const table = arrowTable();
    return {
      table,
      batch: table.batches[1]!,
      vector: table.getChild('dict')!,
      empty: new Table(table.schema),
    };
  },
  expectSame: expectSameArrow,
  describe: (v: any) =>
    `${v.constructor.name}|${v.schema ? v.schema.fields.map((f: any) => `${f.name}:${f.type}`).join(',') : String(v.type)}|${
      v.numRows ?? v.length
    }|${v.schema ? JSON.stringify(v.get(0)?.toJSON(), (_k, x) => (typeof x === 'bigint' ? String(x) : x)) : v.get(0)}`,
  large: () => new Table({ x: vectorFromArray(Float64Array.from({ length: 1_000_000 }, (_, i) => i)) }),
  buffersOf: (v) => (v as Table).batches.flatMap((b) => b.data.children.map((c) => c.values.buffer as ArrayBufferLike)),
  decodesAsViews: true,
});

// ---------------------------------------------------------------- Polars

function polarsFrame(): pl.DataFrame {
  const base = pl.DataFrame({ a: [1, 2, null], s: ['x', null, 'z'], b: [true, false, null] });
  return base.withColumns(
    pl.col('a').cast(pl.Int8).alias('i8'),
    pl.col('a').cast(pl.Int64).alias('i64'),
    pl.col('a').cast(pl.UInt32).alias('u32'),
    pl.col('a').cast(pl.UInt64).alias('u64'),
    pl.col('a').cast(pl.Float32).alias('f32'),
    pl.col('s').cast(pl.Categorical).alias('cat'),
    pl.col('a').cast(pl.Date).alias('date'),
    pl.col('a').cast(pl.Datetime('us', 'Europe/Paris')).alias('when'),
    pl.col('a').cast(pl.Duration('ms')).alias('took'),
    pl.concatList([pl.col('a'), pl.col('a')]).alias('list'),
    pl.struct([pl.col('a'), pl.col('s')]).alias('rec'),
    pl.lit(null).alias('nothing'),
  );
}

function expectSamePolars(actual: unknown, expected: unknown): void {
  if (pl.Series.isSeries(expected)) {
    expect(pl.Series.isSeries(actual)).toBe(true);
    const a = actual as pl.Series;
    expect([a.name, String(a.dtype), a.len(), a.nullCount()]).toEqual([expected.name, String(expected.dtype), expected.len(), expected.nullCount()]);
    expect(a.seriesEqual(expected, true, true)).toBe(true);
    return;
  }
  expect(pl.DataFrame.isDataFrame(actual)).toBe(true);
  const a = actual as pl.DataFrame;
  const e = expected as pl.DataFrame;
  expect(a.columns).toEqual(e.columns);
  expect(a.dtypes.map(String)).toEqual(e.dtypes.map(String));
  expect(a.height).toBe(e.height);
  expect(a.frameEqual(e, true)).toBe(true);
}

export const polarsCase = (): SerializerCase => ({
  name: 'polars',
  serializers: () => [polarsSerializer()],
  samples: () => {
    const frame = polarsFrame();
    return {
      frame,
      series: pl.Series('counts', [1, null, 3], pl.Int16),
      categories: frame.getColumn('cat'),
      noRows: frame.head(0),
    };
  },
  expectSame: expectSamePolars,
  describe: (v: any) =>
    v.dtypes ? `${v.height}x${v.width}|${v.dtypes.map(String).join(',')}` : `${v.name}|${String(v.dtype)}|${v.len()}|${v.nullCount()}`,
});

// ---------------------------------------------------------------- ONNX Runtime tensors

function expectSameTensor(actual: unknown, expected: unknown): void {
  expect(actual).toBeInstanceOf(ort.Tensor);
  const a = actual as ort.Tensor;
  const e = expected as ort.Tensor;
  expect([a.type, [...a.dims], a.size]).toEqual([e.type, [...e.dims], e.size]);
  expect(a.data.constructor).toBe(e.data.constructor);
  expect(Array.from(a.data as ArrayLike<unknown>)).toEqual(Array.from(e.data as ArrayLike<unknown>));
}

export const onnxCase = (): SerializerCase => ({
  name: 'onnx',
  serializers: () => [onnxSerializer()],
  samples: () => ({
    float32: new ort.Tensor('float32', Float32Array.of(1.5, -0, Number.NaN, 4, 5, 6), [2, 3]),
    int64: new ort.Tensor('int64', BigInt64Array.of(-(2n ** 63n), 0n, 2n ** 63n - 1n), [3]),
    strings: new ort.Tensor('string', ['a', '', 'é\u{1F600}', 'lone \ud800'], [2, 2]),
    bool: new ort.Tensor('bool', Uint8Array.of(1, 0, 1), [3, 1]),
    scalar: new ort.Tensor('float64', Float64Array.of(Math.PI), []),
    empty: new ort.Tensor('int32', new Int32Array(0), [0, 3]),
    float16: new ort.Tensor('float16', Uint16Array.of(0x3c00, 0xc000), [2]),
    uint64: new ort.Tensor('uint64', BigUint64Array.of(2n ** 64n - 1n), [1, 1, 1]),
    int8: new ort.Tensor('int8', Int8Array.of(-128, 127), [2]),
  }),
  expectSame: expectSameTensor,
  describe: (v: any) => `${v.type}|${JSON.stringify(v.dims)}|${v.size}|${v.data.constructor.name}|${String(v.data[0])}`,
  large: () => new ort.Tensor('float32', new Float32Array(4_000_000).fill(0.5), [2_000, 2_000]),
  buffersOf: (v) => [((v as ort.Tensor).data as Float32Array).buffer],
  decodesAsViews: true,
});

// ---------------------------------------------------------------- a user's own: the docs example

export const temperatureCase = (): SerializerCase => ({
  name: 'docs example (Temperature)',
  serializers: () => [temperatureSerializer()],
  samples: () => ({ lyon: new Temperature(21.5, 'Lyon'), oslo: new Temperature(-3, 'Oslo \u{1F976}') }),
  expectSame: (actual, expected) => {
    expect(actual).toBeInstanceOf(Temperature);
    expect({ ...(actual as Temperature) }).toEqual({ ...(expected as Temperature) });
  },
  describe: (v: any) => `${v.constructor.name}|${v.place}|${v.fahrenheit}`,
});
