/** Arrow values of every type, shared by the round-trip and the fuzz tests. */
import {
  Binary,
  BinaryView,
  Bool,
  DateDay,
  Decimal,
  Dictionary,
  DurationMillisecond,
  Field,
  FixedSizeList,
  Float16,
  Float32,
  Float64,
  Int32,
  Int64,
  IntervalYearMonth,
  LargeUtf8,
  List,
  Map_,
  Null,
  Struct,
  TimeMillisecond,
  TimestampMicrosecond,
  Uint64,
  Utf8,
  Utf8View,
  type DataType,
} from 'apache-arrow';

/** Map<Utf8, Int32>, spelled out for the type checker. */
export const stringToInt = () =>
  new Map_<Utf8, Int32>(new Field('entries', new Struct<{ key: Utf8; value: Int32 }>([new Field('key', new Utf8(), false), new Field('value', new Int32(), true)]), false));

/** One column per Arrow type, each with a null. */
export function everyType(): [string, DataType, unknown[]][] {
  return [
    ['utf8', new Utf8(), ['a', null, 'é\u{1F600}']],
    ['large_utf8', new LargeUtf8(), ['a', null, 'b']],
    ['utf8_view', new Utf8View(), ['inline', null, 'a string longer than the twelve inline bytes']],
    ['binary', new Binary(), [Uint8Array.of(1, 2), null, new Uint8Array(0)]],
    ['binary_view', new BinaryView(), [Uint8Array.of(1), null, new Uint8Array(20).fill(9)]],
    ['float16', new Float16(), [1.5, null, -2]],
    ['float32', new Float32(), [1.5, null, Number.NaN]],
    ['int64', new Int64(), [-(2n ** 63n), null, 2n ** 63n - 1n]],
    ['uint64', new Uint64(), [0n, null, 2n ** 64n - 1n]],
    ['bool', new Bool(), [true, null, false]],
    ['null', new Null(), [null, null, null]],
    ['date', new DateDay(), [new Date(0), null, new Date(86_400_000 * 365)]],
    ['timestamp_tz', new TimestampMicrosecond('America/New_York'), [0, null, 1_700_000_000_000]],
    ['time', new TimeMillisecond(), [1, null, 86_399_999]],
    ['duration', new DurationMillisecond(), [1n, null, -5n]],
    ['interval', new IntervalYearMonth(), [Int32Array.of(1, 2), null, Int32Array.of(0, 11)]],
    ['decimal', new Decimal(2, 10, 128), [Uint32Array.of(12345, 0, 0, 0), null, Uint32Array.of(1, 0, 0, 0)]],
    ['dictionary', new Dictionary(new Utf8(), new Int32()), ['x', null, 'x']],
    ['list', new List(new Field('item', new Int32(), true)), [[1, null], null, []]],
    ['fixed_list', new FixedSizeList(2, new Field('v', new Float64(), true)), [[1, 2], null, [3, 4]]],
    ['struct', new Struct([new Field('a', new Int32(), true), new Field('b', new Utf8(), true)]), [{ a: 1, b: 'x' }, null, { a: null, b: null }]],
    [
      'map',
      stringToInt(),
      [new Map([['k', 1]]), null, new Map()],
    ],
  ];
}

