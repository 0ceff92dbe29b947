/**
 * Checks an Arrow IPC stream a peer sent before anything is built from it: every message
 * header is parsed with bounds checks, and every length, count and offset it claims is held
 * against the bytes that actually arrived. Arrow's reader and Polars' reader both trust these
 * numbers and allocate what they dictate; a forged one must cost the task, not the process.
 *
 * What is checked, per record batch (and dictionary batch):
 * - the body lies inside the received bytes, every buffer inside the body;
 * - exactly as many field nodes and buffers as the schema's columns consume;
 * - each node's length and null count against its buffers: validity ⌈length/8⌉ bytes,
 *   fixed-width length×width, offsets (length+1)×4 or ×8, views length×16;
 * - offsets non-decreasing and within their data (or child column), view references within
 *   their variadic buffers, dictionary indices within their dictionary, union type ids known;
 * - no node longer than 8 rows per received byte (plus 1 Mi rows), no compressed buffer that
 *   would decompress past 256× the received bytes (plus 64 MiB).
 *
 * And over the whole stream: the rows of all its batches, record and dictionary batches
 * (deltas and replacements) alike, stay within that same 8 rows per received byte (plus 1 Mi
 * rows). A batch counts as its longest column, nested ones included (a list's child can be
 * longer than the list): a Null column needs no body bytes, so a bound per batch alone would
 * let N batches claim N times it.
 */
import { invalid } from './flatbuffer-reader.js';
import { parseMessage, type IpcField, type IpcMessage, type IpcRecordBatch, type IpcSchema } from './ipc-metadata.js';

/** Received bytes, possibly split over several segments. */
export interface IpcBytes {
  readonly length: number;
  /** Bytes `[start, end)`; throws outside the received bytes. */
  range(start: number, end: number): Uint8Array;
}

/** A checked message and where it sits. */
export interface CheckedMessage {
  readonly message: IpcMessage;
  /** Where the message (its length prefix) starts. */
  readonly start: number;
  readonly metadata: Uint8Array;
  readonly bodyStart: number;
  /** Where the next message starts. */
  readonly end: number;
}

const CONTINUATION = -1;
const ROWS_FREE = 1 << 20;
const DECODED_FREE = 64 * 1024 * 1024;
const DECODED_PER_BYTE = 256;

/** The bytes of one Uint8Array as {@link IpcBytes}. */
export function contiguous(bytes: Uint8Array): IpcBytes {
  return {
    length: bytes.byteLength,
    range: (start, end) => {
      if (!(start >= 0 && end >= start && end <= bytes.byteLength)) invalid(`bytes ${start}–${end} are outside the ${bytes.byteLength} received`);
      return bytes.subarray(start, end);
    },
  };
}

/** Limits a reader adds to the checker's own. */
export interface IpcLimits {
  /**
   * The most rows the stream's batches may claim in all (record and dictionary batches), when
   * the reader holds fewer than the received bytes would allow (Polars: fewer than 2^32).
   */
  readonly maxRows?: number;
  /** Why the reader holds at most `maxRows`, for the error message ("Polars counts rows in 32 bits"). */
  readonly maxRowsReason?: string;
}

/** Walks and checks the messages of one IPC stream, in order. */
export class IpcChecker {
  private schemaMessage?: IpcSchema;
  private readonly dictionaryLengths = new Map<number, number>();
  private readonly maxRows: number;
  private readonly maxTotalRows: number;
  private readonly maxDecoded: number;
  private decoded = 0;
  /** Rows claimed so far by the stream's batches (each counted as its longest column). */
  private totalRows = 0;
  private batches = 0;

  /**
   * @param what names the serializer in error messages ("arrow", "polars").
   * @param file the stream part of an IPC file, where a dictionary may grow (delta) but not be
   *   replaced: file readers load every dictionary before any batch.
   * @param limits what the reader holds at most, below the checker's own bounds.
   */
  constructor(
    private readonly bytes: IpcBytes,
    private readonly what: string,
    private readonly file = false,
    private readonly limits: IpcLimits = {},
  ) {
    this.maxRows = 8 * bytes.length + ROWS_FREE;
    this.maxTotalRows = Math.min(this.maxRows, limits.maxRows ?? Number.POSITIVE_INFINITY);
    this.maxDecoded = DECODED_PER_BYTE * bytes.length + DECODED_FREE;
  }

  /** Rows the stream's batches have claimed so far, each batch counted as its longest column. */
  get rows(): number {
    return this.totalRows;
  }

  get schema(): IpcSchema | undefined {
    return this.schemaMessage;
  }

  private fail(message: string): never {
    return invalid(`${this.what}: ${message}`);
  }

  private int32(at: number): number {
    if (at + 4 > this.bytes.length) this.fail(`the stream ends at byte ${this.bytes.length} without an end-of-stream marker`);
    const b = this.bytes.range(at, at + 4);
    return new DataView(b.buffer, b.byteOffset, 4).getInt32(0, true);
  }

  /** Reads and checks the message at `at`; undefined at the end-of-stream marker. */
  next(at: number): CheckedMessage | undefined {
    const start = at;
    let length = this.int32(at);
    at += 4;
    if (length === CONTINUATION) {
      length = this.int32(at);
      at += 4;
    }
    if (length === 0) return undefined;
    if (length < 0 || length > this.bytes.length - at) {
      this.fail(`a message header claims ${length} bytes at byte ${at - 4} but ${this.bytes.length - at} follow`);
    }
    const metadata = this.bytes.range(at, at + length);
    const message = parseMessage(metadata, this.what);
    const bodyStart = at + length;
    if (message.bodyLength > this.bytes.length - bodyStart) {
      this.fail(`a message claims a body of ${message.bodyLength} bytes but ${this.bytes.length - bodyStart} follow`);
    }
    this.check(message, bodyStart);
    return { message, start, metadata, bodyStart, end: bodyStart + message.bodyLength };
  }

  private check(message: IpcMessage, bodyStart: number): void {
    if (message.kind === 'schema') {
      if (this.schemaMessage !== undefined) this.fail('the stream has a second schema');
      this.schemaMessage = message.schema;
      return;
    }
    const schema = this.schemaMessage ?? this.fail('the stream does not start with a schema');
    if (message.kind === 'dictionary') {
      const field = schema.dictionaries.get(message.id) ?? this.fail(`a dictionary batch for unknown id ${message.id}`);
      const walk = new BatchWalk(this, message.batch, message.bodyLength, bodyStart, message.version, 'dictionary batch');
      this.count(walk.top([{ type: field.type }]));
      const known = this.dictionaryLengths.get(message.id);
      if (this.file && known !== undefined && !message.isDelta) this.fail(`replaces dictionary ${message.id}, which a file may not`);
      const before = message.isDelta ? (known ?? 0) : 0;
      this.dictionaryLengths.set(message.id, before + message.batch.length);
    } else {
      const walk = new BatchWalk(this, message.batch, message.bodyLength, bodyStart, message.version, 'record batch');
      this.count(walk.top(schema.fields));
    }
  }

  /** Adds one batch's rows to the stream's and holds the total to the bound. */
  private count(rows: number): void {
    this.batches++;
    this.totalRows += rows;
    if (this.totalRows > this.maxTotalRows) {
      const why =
        this.maxTotalRows < this.maxRows && this.limits.maxRowsReason !== undefined
          ? this.limits.maxRowsReason
          : `for the ${this.bytes.length} bytes received`;
      this.fail(`the stream's batches claim ${this.totalRows} rows in all by batch ${this.batches}, more than the ${this.maxTotalRows} allowed ${why}`);
    }
  }

  /** @internal used by {@link BatchWalk}. */
  context(): { bytes: IpcBytes; what: string; maxRows: number; dictionaryLength(id: number): number | undefined; decode(n: number): void } {
    return {
      bytes: this.bytes,
      what: this.what,
      maxRows: this.maxRows,
      dictionaryLength: (id) => this.dictionaryLengths.get(id),
      decode: (n) => {
        this.decoded += n;
        if (this.decoded > this.maxDecoded) {
          this.fail(`compressed buffers claim ${this.decoded} bytes once decompressed, more than ${this.maxDecoded} allowed for ${this.bytes.length} received`);
        }
      },
    };
  }
}

interface Buffer {
  /** Its size once decompressed. */
  readonly size: number;
  /** Its bytes when they can be read as they are (not compressed). */
  readonly bytes?: Uint8Array;
}

/** The nodes and buffers of one batch, consumed in the order Arrow's loaders consume them. */
class BatchWalk {
  private node = 0;
  private buffer = 0;
  private variadic = 0;
  /** The longest column (node) seen. */
  private longest = 0;
  private readonly ctx: ReturnType<IpcChecker['context']>;

  constructor(
    checker: IpcChecker,
    private readonly batch: IpcRecordBatch,
    private readonly bodyLength: number,
    private readonly bodyStart: number,
    private readonly version: number,
    private readonly kind: string,
  ) {
    this.ctx = checker.context();
  }

  private fail(message: string): never {
    return invalid(`${this.ctx.what}: ${this.kind} ${message}`);
  }

  /** Checks the whole batch; returns its rows, counted as its longest column (nested ones included). */
  top(fields: readonly IpcField[]): number {
    const { batch } = this;
    if (!(batch.length >= 0 && batch.length <= this.ctx.maxRows)) {
      this.fail(`claims ${batch.length} rows but only ${this.ctx.bytes.length} bytes arrived`);
    }
    for (const field of fields) {
      const length = this.field(field);
      if (length !== batch.length) this.fail(`claims ${batch.length} rows but a column has ${length}`);
    }
    if (this.node !== batch.nodes.length) this.fail(`has ${batch.nodes.length} field nodes, its schema uses ${this.node}`);
    if (this.buffer !== batch.buffers.length) this.fail(`has ${batch.buffers.length} buffers, its schema uses ${this.buffer}`);
    if (this.variadic < batch.variadicCounts.length) {
      this.fail(`has ${batch.variadicCounts.length} variadic buffer counts for ${this.variadic} view columns`);
    }
    return Math.max(batch.length, this.longest);
  }

  private nextNode(): { length: number; nullCount: number } {
    const node = this.batch.nodes[this.node++] ?? this.fail(`has ${this.batch.nodes.length} field nodes, fewer than its schema needs`);
    if (!(node.length >= 0 && node.length <= this.ctx.maxRows)) {
      this.fail(`claims a column of ${node.length} rows but only ${this.ctx.bytes.length} bytes arrived`);
    }
    this.longest = Math.max(this.longest, node.length);
    if (!(node.nullCount >= 0 && node.nullCount <= node.length)) this.fail(`claims ${node.nullCount} nulls in ${node.length} rows`);
    return node;
  }

  private nextBuffer(what: string, needed: number): Buffer {
    const region = this.batch.buffers[this.buffer++] ?? this.fail(`has ${this.batch.buffers.length} buffers, fewer than its schema needs`);
    const { offset, length } = region;
    if (!(offset >= 0 && length >= 0 && offset + length <= this.bodyLength)) {
      this.fail(`claims a ${what} buffer at bytes ${offset}–${offset + length} of a ${this.bodyLength}-byte body`);
    }
    let buffer: Buffer;
    if (!this.batch.compressed) {
      buffer = { size: length, bytes: length === 0 ? new Uint8Array(0) : this.ctx.bytes.range(this.bodyStart + offset, this.bodyStart + offset + length) };
    } else if (length === 0) {
      buffer = { size: 0 };
    } else {
      // Compressed: an int64 uncompressed size first (-1: stored uncompressed).
      if (length < 8) this.fail(`has a compressed ${what} buffer of ${length} bytes`);
      const head = this.ctx.bytes.range(this.bodyStart + offset, this.bodyStart + offset + 8);
      const size = Number(new DataView(head.buffer, head.byteOffset, 8).getBigInt64(0, true));
      if (size === -1) buffer = { size: length - 8 };
      else if (size < 0) this.fail(`has a compressed ${what} buffer claiming ${size} bytes`);
      else {
        this.ctx.decode(size);
        buffer = { size };
      }
    }
    if (buffer.size < needed) this.fail(`claims ${needed} bytes of ${what} but its buffer holds ${buffer.size} bytes`);
    return buffer;
  }

  private validity(length: number, nullCount: number): void {
    this.nextBuffer('validity', nullCount > 0 ? Math.ceil(length / 8) : 0);
  }

  /** Checks one column (and its children); returns its length. */
  private field(field: IpcField): number {
    const { length, nullCount } = this.nextNode();
    const { type } = field;
    if (field.dictionary !== undefined) {
      this.validity(length, nullCount);
      const { id, indexBits } = field.dictionary;
      const indices = this.nextBuffer('dictionary index', Math.ceil((length * indexBits) / 8));
      const size = this.ctx.dictionaryLength(id) ?? this.fail(`uses dictionary ${id} before it arrived`);
      if (indices.bytes !== undefined) checkIndices(indices.bytes, length, indexBits, size, (m) => this.fail(m));
      return length;
    }
    switch (type.kind) {
      case 'null':
        return length;
      case 'fixed':
        this.validity(length, nullCount);
        this.nextBuffer('value', Math.ceil((length * type.bits) / 8));
        return length;
      case 'binary': {
        this.validity(length, nullCount);
        const offsets = this.nextBuffer('offset', length === 0 ? 0 : (length + 1) * type.offsetBytes);
        const data = this.nextBuffer('data', 0);
        if (offsets.bytes !== undefined && length > 0) checkOffsets(offsets.bytes, length, type.offsetBytes, data.size, 'data bytes', (m) => this.fail(m));
        return length;
      }
      case 'view': {
        this.validity(length, nullCount);
        const views = this.nextBuffer('view', length * 16);
        const count = this.batch.variadicCounts[this.variadic++] ?? 0;
        if (!(count >= 0 && count <= this.batch.buffers.length - this.buffer)) {
          this.fail(`claims ${count} variadic buffers but ${this.batch.buffers.length - this.buffer} remain`);
        }
        const sizes: number[] = [];
        for (let i = 0; i < count; i++) sizes.push(this.nextBuffer('variadic data', 0).size);
        if (views.bytes !== undefined) checkViews(views.bytes, length, sizes, (m) => this.fail(m));
        return length;
      }
      case 'list': {
        this.validity(length, nullCount);
        const offsets = this.nextBuffer('offset', length === 0 ? 0 : (length + 1) * type.offsetBytes);
        const child = this.field(type.child);
        if (offsets.bytes !== undefined && length > 0) checkOffsets(offsets.bytes, length, type.offsetBytes, child, 'child rows', (m) => this.fail(m));
        return length;
      }
      case 'fixedList': {
        this.validity(length, nullCount);
        const child = this.field(type.child);
        if (child < length * type.size) this.fail(`claims ${length} lists of ${type.size} but the child column has ${child} rows`);
        return length;
      }
      case 'struct': {
        this.validity(length, nullCount);
        for (const c of type.children) {
          const child = this.field(c);
          if (child < length) this.fail(`claims a struct of ${length} rows but a child has ${child}`);
        }
        return length;
      }
      case 'union': {
        if (this.version < 4) this.validity(length, nullCount); // V4 unions still had a validity buffer
        const ids = this.nextBuffer('union type id', length);
        const offsets = type.dense ? this.nextBuffer('union offset', length * 4) : undefined;
        const lengths = type.children.map((c) => this.field(c));
        if (!type.dense && lengths.some((l) => l < length)) this.fail(`claims a sparse union of ${length} rows but a child is shorter`);
        if (ids.bytes !== undefined) checkUnion(ids.bytes, offsets?.bytes, length, type.typeIds, lengths, (m) => this.fail(m));
        return length;
      }
    }
  }
}

type Fail = (message: string) => never;

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

type Typed = Int32Array | BigInt64Array | Uint8Array | Uint16Array | Uint32Array | BigUint64Array;

/** `count` values of `ctor` over `bytes`: a view when aligned (the usual case, and fast), else a copy. */
function typed<T extends Typed>(bytes: Uint8Array, count: number, ctor: { new (b: ArrayBufferLike, o: number, n: number): T; BYTES_PER_ELEMENT: number }): T {
  const size = ctor.BYTES_PER_ELEMENT;
  // A copy (Buffer#slice would return a view, still misaligned).
  const source = bytes.byteOffset % size === 0 ? bytes : new Uint8Array(bytes.subarray(0, count * size));
  return new ctor(source.buffer, source.byteOffset, count);
}

/** Offsets must not decrease and must stay within `limit` (the data bytes or the child rows). */
function checkOffsets(bytes: Uint8Array, length: number, width: 4 | 8, limit: number, of: string, fail: Fail): void {
  const offsets = width === 4 ? typed(bytes, length + 1, Int32Array) : typed(bytes, length + 1, BigInt64Array);
  if (offsets instanceof Int32Array) {
    if (offsets[0]! < 0) fail(`has a negative first offset ${offsets[0]}`);
    for (let i = 1; i <= length; i++) {
      if (offsets[i]! < offsets[i - 1]!) fail(`has offsets that decrease (${offsets[i - 1]} then ${offsets[i]}) at row ${i - 1}`);
    }
  } else {
    if (offsets[0]! < 0n) fail(`has a negative first offset ${offsets[0]}`);
    for (let i = 1; i <= length; i++) {
      if (offsets[i]! < offsets[i - 1]!) fail(`has offsets that decrease (${offsets[i - 1]} then ${offsets[i]}) at row ${i - 1}`);
    }
  }
  const last = Number(offsets[length]!);
  if (last > limit) fail(`has offsets up to ${last} but only ${limit} ${of}`);
}

/** Views longer than 12 bytes point into a variadic buffer: it must exist and hold them. */
function checkViews(bytes: Uint8Array, length: number, sizes: readonly number[], fail: Fail): void {
  const dv = view(bytes);
  for (let i = 0; i < length; i++) {
    const size = dv.getInt32(i * 16, true);
    if (size < 0) fail(`has a view of ${size} bytes at row ${i}`);
    if (size <= 12) continue;
    const index = dv.getInt32(i * 16 + 8, true);
    const offset = dv.getInt32(i * 16 + 12, true);
    const available = sizes[index];
    if (available === undefined || offset < 0 || offset + size > available) {
      fail(`has a view at row ${i} of bytes ${offset}–${offset + size} in variadic buffer ${index}, which ${available === undefined ? 'does not exist' : `holds ${available}`}`);
    }
  }
}

function checkIndices(bytes: Uint8Array, length: number, bits: number, size: number, fail: Fail): void {
  // Signed and unsigned read alike: a negative signed index shows up as a huge unsigned one.
  const indices =
    bits === 8 ? bytes : bits === 16 ? typed(bytes, length, Uint16Array) : bits === 32 ? typed(bytes, length, Uint32Array) : typed(bytes, length, BigUint64Array);
  for (let i = 0; i < length; i++) {
    const index = Number(indices[i]!);
    if (index >= size) fail(`has dictionary index ${index} at row ${i} but the dictionary holds ${size} values`);
  }
}

function checkUnion(ids: Uint8Array, offsets: Uint8Array | undefined, length: number, typeIds: readonly number[], lengths: readonly number[], fail: Fail): void {
  const child = new Map(typeIds.map((t, i) => [t, i]));
  const dv = offsets === undefined ? undefined : view(offsets);
  for (let i = 0; i < length; i++) {
    const c = child.get(ids[i]!) ?? fail(`has union type id ${ids[i]} at row ${i}, which the schema does not declare`);
    if (dv !== undefined) {
      const offset = dv.getInt32(i * 4, true);
      if (offset < 0 || offset >= lengths[c]!) fail(`has union offset ${offset} at row ${i} but its child has ${lengths[c]} rows`);
    }
  }
}
