/**
 * The IPC checker refuses each kind of lie with a DeserializationError that names the claim.
 * Each case forges one field of a valid stream, found by its (distinctive) value.
 */
import { Dictionary, Field, Int32, List, makeData, Null, RecordBatch, Schema, Struct, Table, Utf8, vectorFromArray } from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { DeserializationError } from '@mirai-ts/core';
import { arrowSerializer } from '../src/index.js';
import { checkIpcFile, contiguous, IpcChecker } from '../src/validate/index.js';

const ser = arrowSerializer();

/** The stream of `table` as one buffer, and a decoder for edited copies of it. */
function stream(table: Table): { bytes: Uint8Array; decode: (b: Uint8Array) => unknown } {
  const [kind, ...rest] = ser.encode(table) as Uint8Array[];
  return { bytes: new Uint8Array(Buffer.concat(rest)), decode: (b) => ser.decode([kind!, b]) };
}

/** Positions of a little-endian integer of `size` bytes. */
function find(bytes: Uint8Array, value: number, size: 4 | 8, from = 0): number[] {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: number[] = [];
  for (let i = from; i + size <= bytes.byteLength; i++) {
    if (size === 4 ? dv.getInt32(i, true) === value : dv.getBigInt64(i, true) === BigInt(value)) out.push(i);
  }
  return out;
}

function edit(bytes: Uint8Array, at: number, value: number, size: 4 | 8): Uint8Array {
  const copy = new Uint8Array(bytes);
  const dv = new DataView(copy.buffer);
  if (size === 4) dv.setInt32(at, value, true);
  else dv.setBigInt64(at, BigInt(value), true);
  return copy;
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

/** 77 rows of int32: 77 is the batch length and the field node length. */
const ints = () => stream(new Table({ i: vectorFromArray(Int32Array.from({ length: 77 }, (_, k) => k * 1000)) }));

/** The field node {length 77, nullCount 0}: a 16-byte struct whose length is 77. */
function fieldNode(bytes: Uint8Array): number {
  return find(bytes, 77, 8).find((at) => find(bytes, 0, 8, at + 8)[0] === at + 8 && bytes[at - 4] === 1)!;
}

/** A table of `batches` record batches of `rows` rows each, in one Null column: no body bytes at all. */
function nullBatches(batches: number, rows: number): Table {
  const schema = new Schema([new Field('n', new Null(), true)]);
  const batch = () => new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: rows, nullCount: 0, children: [makeData({ type: new Null(), length: rows })] }));
  return new Table(Array.from({ length: batches }, batch));
}

/** The checker's bound for a stream of `bytes` bytes: 8 rows per byte plus 1 Mi rows. */
const rowBound = (bytes: number) => 8 * bytes + (1 << 20);

describe('the Arrow IPC checker', () => {
  it('refuses a column longer than the received bytes could hold, before anything allocates it', () => {
    const { bytes, decode } = ints();
    refused(() => decode(edit(bytes, fieldNode(bytes), 0x7fffffff, 8)), /^arrow: record batch claims a column of 2147483647 rows but only \d+ bytes arrived$/);
    refused(() => decode(edit(bytes, fieldNode(bytes), 1000, 8)), /^arrow: record batch claims 4000 bytes of value but its buffer holds \d+ bytes$/);
  });

  it('refuses a flatbuffer vector longer than its header', () => {
    const { bytes, decode } = ints();
    // The nodes vector's length (1) sits just before its first element.
    refused(() => decode(edit(bytes, fieldNode(bytes) - 4, 0x7fffffff, 4)), /a vector claims 2147483647 elements of 16 bytes but only \d+ bytes follow/);
  });

  it('refuses a buffer outside the body, and a body beyond the received bytes', () => {
    const { bytes, decode } = ints();
    // The data buffer's region {offset, length} (length 77 × 4, padded to 8) is the last of the
    // buffers vector, which Arrow's writer lays out just before the nodes vector.
    const region = fieldNode(bytes) - 16;
    expect(find(bytes, 312, 8)).toContain(region);
    refused(() => decode(edit(bytes, region - 8, 1 << 30, 8)), /claims a value buffer at bytes 1073741824–\d+ of a \d+-byte body/);
    refused(() => decode(bytes.subarray(0, bytes.byteLength - 100)), /a message claims a body of \d+ bytes but \d+ follow/);
  });

  it('refuses offsets that decrease or run past their data', () => {
    const { bytes, decode } = stream(new Table({ s: vectorFromArray(['aa', 'bbb', 'c'], new Utf8()) }));
    const offsets = find(bytes, 2, 4).find((at) => find(bytes, 5, 4, at + 4)[0] === at + 4 && find(bytes, 6, 4, at + 8)[0] === at + 8)!;
    refused(() => decode(edit(bytes, offsets, 6, 4)), /offsets that decrease \(6 then 5\) at row 1/);
    refused(() => decode(edit(bytes, offsets + 8, 4096, 4)), /has offsets up to 4096 but only \d+ data bytes/);
  });

  it('refuses a dictionary index past its dictionary', () => {
    const values = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
    const { bytes, decode } = stream(new Table({ d: vectorFromArray(values, new Dictionary(new Utf8(), new Int32())) }));
    // The record batch's indices 4, 5, 6 (the dictionary's own offsets 4, 5, 6 come earlier).
    const last = find(bytes, 6, 4).filter((at) => find(bytes, 5, 4, at - 4)[0] === at - 4 && find(bytes, 4, 4, at - 8)[0] === at - 8).pop()!;
    refused(() => decode(edit(bytes, last, 99, 4)), /dictionary index 99 at row 6 but the dictionary holds 7 values/);
  });

  it('checks offsets and indices that arrive at misaligned offsets of a Node Buffer', () => {
    const table = new Table({
      s: vectorFromArray(['aa', 'bbb', null, 'c'], new Utf8()),
      d: vectorFromArray(['x', 'y', 'x', null], new Dictionary(new Utf8(), new Int32())),
    });
    const { bytes, decode } = stream(table);
    const odd = Buffer.concat([Buffer.alloc(3), bytes]).subarray(3); // Buffer#slice and #subarray are views
    expect((decode(odd) as Table).getChild('s')!.toArray()).toEqual(['aa', 'bbb', null, 'c']);
    expect((decode(odd) as Table).getChild('d')!.toArray()).toEqual(['x', 'y', 'x', null]);
  });

  it('refuses a file whose footer does not fit, or points at no message', () => {
    const file = new Uint8Array(Buffer.from('ARROW1\0\0' + '\0'.repeat(16) + '\xff\xff\xff\x7fARROW1', 'latin1'));
    refused(() => checkIpcFile(file, 'polars'), /^polars: the file footer claims 2147483647 bytes/);
    refused(() => checkIpcFile(new Uint8Array(20), 'polars'), /^polars: not an Arrow IPC file/);
  });

  it('bounds the rows of the whole stream, not of each batch: many Null batches are refused', () => {
    // Each batch claims as many rows as a stream of this size allows one batch; a Null column
    // needs no body bytes, so without a running total N batches would give N times the bound.
    const bytes = stream(nullBatches(500, 1)).bytes.byteLength; // lengths are int64s: the size does not depend on them
    const perBatch = rowBound(bytes);
    const { bytes: forged, decode } = stream(nullBatches(500, perBatch));
    expect(forged.byteLength).toBe(bytes);
    refused(
      () => decode(forged),
      new RegExp(`^arrow: the stream's batches claim ${2 * perBatch} rows in all by batch 2, more than the ${perBatch} allowed for the ${bytes} bytes received$`),
    );
    // Within the bound, spread over batches, is fine.
    const fits = stream(nullBatches(500, Math.floor(perBatch / 500)));
    expect((fits.decode(fits.bytes) as Table).numRows).toBe(500 * Math.floor(perBatch / 500));
  });

  it('counts a batch as its longest column: lists of many Nulls in many batches are refused', () => {
    const schema = new Schema([new Field('l', new List(new Field('n', new Null(), true)), true)]);
    const lists = (batches: number, nulls: number) =>
      new Table(
        Array.from({ length: batches }, () => {
          const child = makeData({ type: new Null(), length: nulls, nullCount: nulls });
          const list = makeData({ type: schema.fields[0]!.type, length: 1, nullCount: 0, valueOffsets: Int32Array.of(0, nulls), child });
          return new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: 1, nullCount: 0, children: [list] }));
        }),
      );
    const bytes = stream(lists(300, 1)).bytes.byteLength;
    const { bytes: written, decode } = stream(lists(300, rowBound(bytes)));
    expect(written.byteLength).toBe(bytes);
    // Arrow's writer gives a list's Null child an unknown (-1) null count: all its values are null.
    let forged = written;
    for (const at of find(written, -1, 8)) if (find(written, rowBound(bytes), 8, at - 8)[0] === at - 8) forged = edit(forged, at, rowBound(bytes), 8);
    refused(() => decode(forged), new RegExp(`^arrow: the stream's batches claim ${2 * rowBound(bytes)} rows in all by batch 2, more than the ${rowBound(bytes)} allowed`));
  });

  it("counts dictionary batches in the stream's rows, and holds them to a reader's own limit", () => {
    /** Walks a whole stream with a reader's limit of `maxRows`. */
    const walk = (bytes: Uint8Array, maxRows: number) => () => {
      const checker = new IpcChecker(contiguous(bytes), 'arrow', false, { maxRows, maxRowsReason: '(a test reader)' });
      for (let at: number | undefined = 0; at !== undefined; ) at = checker.next(at)?.end;
      return checker.rows;
    };
    const nulls = stream(nullBatches(3, 10)).bytes;
    expect(walk(nulls, 30)()).toBe(30);
    refused(walk(nulls, 25), /^arrow: the stream's batches claim 30 rows in all by batch 3, more than the 25 allowed \(a test reader\)$/);
    // Two record batches of 2 and 3 rows, each with its own dictionary of 2 values.
    const dict = () => new Dictionary(new Utf8(), new Int32());
    const { bytes, decode } = stream(new Table({ d: vectorFromArray(['x', 'y'], dict()) }).concat(new Table({ d: vectorFromArray(['z', 'x', 'z'], dict()) })));
    expect((decode(bytes) as Table).numRows).toBe(5);
    expect(walk(bytes, 9)()).toBe(9);
    refused(walk(bytes, 8), /^arrow: the stream's batches claim 9 rows in all by batch 4, more than the 8 allowed/);
  });

  it('still round-trips a legitimate multi-batch table', () => {
    const parts = Array.from({ length: 50 }, (_, b) => new Table({ i: vectorFromArray(Int32Array.from({ length: 1000 }, (_, k) => b * 1000 + k)), n: vectorFromArray(new Array(1000).fill(null), new Null()) }));
    const table = parts.reduce((a, t) => a.concat(t));
    const { bytes, decode } = stream(table);
    const back = decode(bytes) as Table;
    expect(back.batches.map((b) => b.numRows)).toEqual(new Array(50).fill(1000));
    expect(back.getChild('i')!.get(49_999)).toBe(49_999);
    expect(back.getChild('n')!.nullCount).toBe(50_000);
  });
});
