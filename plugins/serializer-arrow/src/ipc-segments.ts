/**
 * Reads an Arrow IPC stream that arrives as several segments, keeping column buffers as
 * views of the received bytes.
 *
 * Arrow's own reader wants each message body as one contiguous buffer, so a body split over
 * segments would be joined (copied) first. This reader walks the messages itself and gives
 * Arrow's VectorLoader a body whose `subarray()` maps each buffer back to the segment that
 * holds it. Only buffers that straddle segments, or sit at an offset their element type
 * cannot be viewed at, are copied (both are rare: the writer keeps every large column
 * buffer whole, and large received segments are aligned).
 */
import {
  makeData,
  Message,
  MessageHeader,
  RecordBatch,
  Schema,
  Struct,
  tableFromIPC,
  Vector,
  type DataType,
} from 'apache-arrow';
// The one Arrow internal this reader uses (no public API loads a batch from separate buffers):
// test/arrow-internals.test.ts pins its shape, and the peer range pins the major version.
import { VectorLoader } from 'apache-arrow/visitor/vectorloader';
import { DeserializationError } from '@mirai-ts/core';
import { IpcChecker, type IpcBytes } from './validate/ipc-check.js';

/** Message headers, named through the public `Message` class. */
type DictionaryBatch = ReturnType<Message<MessageHeader.DictionaryBatch>['header']>;
type RecordBatchHeader = ReturnType<Message<MessageHeader.RecordBatch>['header']>;

/** What a stream holds: its schema and its record batches, in order. */
export interface IpcContents {
  readonly schema: Schema;
  readonly batches: RecordBatch[];
}

/** Views of column buffers must start at a multiple of this (64-bit values, Arrow's alignment). */
const ALIGN = 8;

/** Several byte segments read as one stream. */
class SegmentedBytes implements IpcBytes {
  private readonly starts: number[] = [];
  readonly length: number;

  constructor(private readonly segments: readonly Uint8Array[]) {
    let at = 0;
    for (const s of segments) {
      this.starts.push(at);
      at += s.byteLength;
    }
    this.length = at;
  }

  /** Bytes `[start, end)`: a view when one segment holds them (and alignment allows), else a copy. */
  range(start: number, end: number, align = 1): Uint8Array {
    if (end > this.length || start < 0 || end < start) {
      throw new DeserializationError(`arrow: the stream is truncated: wanted bytes ${start}–${end} of ${this.length}`);
    }
    if (end === start) return new Uint8Array(0);
    const i = this.segmentAt(start);
    const segment = this.segments[i]!;
    const from = start - this.starts[i]!;
    if (from + (end - start) <= segment.byteLength) {
      const view = segment.subarray(from, from + (end - start));
      if (view.byteOffset % align === 0) return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
      return new Uint8Array(view); // a copy (Buffer#slice would return a view)
    }
    const out = new Uint8Array(end - start);
    let written = 0;
    for (let j = i; written < out.byteLength; j++) {
      const s = this.segments[j]!;
      const off = j === i ? from : 0;
      const take = Math.min(s.byteLength - off, out.byteLength - written);
      out.set(s.subarray(off, off + take), written);
      written += take;
    }
    return out;
  }

  /** Index of the last non-empty segment starting at or before `at`. */
  private segmentAt(at: number): number {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= at) lo = mid;
      else hi = mid - 1;
    }
    while (lo > 0 && this.segments[lo]!.byteLength === 0) lo--;
    return lo;
  }
}

/**
 * Reads a whole IPC stream from segments. Every message is checked against the received
 * bytes first ({@link IpcChecker}); throws a `DeserializationError` on malformed input.
 */
export function readIpcSegments(segments: readonly Uint8Array[]): IpcContents {
  const bytes = new SegmentedBytes(segments);
  const checker = new IpcChecker(bytes, 'arrow');
  let schema: Schema | undefined;
  const dictionaries = new Map<number, Vector>();
  const batches: RecordBatch[] = [];
  let at = 0;
  for (;;) {
    const checked = checker.next(at);
    if (checked === undefined) break; // end-of-stream marker
    at = checked.end;
    const message = Message.decode(checked.metadata);
    const { bodyStart } = checked;
    // The loader only ever calls subarray() on its body.
    const body = { subarray: (b: number, e: number) => bytes.range(bodyStart + b, bodyStart + e, ALIGN) } as Uint8Array;
    if (message.headerType === MessageHeader.Schema) {
      schema = message.header() as Schema;
      continue;
    }
    // The checker has seen the schema first, and every dictionary id.
    const known = schema!;
    if (message.headerType === MessageHeader.DictionaryBatch) {
      const header = message.header() as DictionaryBatch;
      if (header.data.compression != null) return readWithArrow(segments);
      const type = known.dictionaries.get(header.id)!;
      const data = load(body, header.data, known, dictionaries, [type]);
      const previous = dictionaries.get(header.id);
      const vector = previous !== undefined && header.isDelta ? previous.concat(new Vector(data)) : new Vector(data);
      dictionaries.set(header.id, vector.memoize());
    } else {
      const header = message.header() as RecordBatchHeader;
      if (header.compression != null) return readWithArrow(segments);
      const children = load(body, header, known, dictionaries, known.fields);
      const data = makeData({ type: new Struct(known.fields), length: header.length, children });
      batches.push(new RecordBatch(known, data, message.metadata));
    }
  }
  if (schema === undefined) throw new DeserializationError('arrow: the stream has no schema');
  return { schema, batches };
}

function load(
  body: Uint8Array,
  header: RecordBatchHeader,
  schema: Schema,
  dictionaries: Map<number, Vector>,
  types: Parameters<VectorLoader['visitMany']>[0],
): ReturnType<VectorLoader['visitMany']> {
  return new VectorLoader(body, header.nodes, header.buffers, dictionaries, schema.metadataVersion, header.variadicBufferCounts).visitMany(
    types as DataType[],
  );
}

/** Compressed bodies (never written by this plugin): join the segments and let Arrow read them. */
function readWithArrow(segments: readonly Uint8Array[]): IpcContents {
  const total = segments.reduce((n, s) => n + s.byteLength, 0);
  const joined = new Uint8Array(total);
  let at = 0;
  for (const s of segments) {
    joined.set(s, at);
    at += s.byteLength;
  }
  const table = tableFromIPC(joined);
  return { schema: table.schema, batches: table.batches };
}
