/**
 * Arrow IPC metadata (the flatbuffer `Message`s and the file `Footer`) parsed into plain
 * records with every length checked, and only what the body checks need: each field's
 * physical layout, each record batch's nodes, buffers and variadic counts.
 *
 * Field ids follow format/Message.fbs, Schema.fbs and File.fbs of the Arrow project.
 */
import { FlatbufferReader, MAX_DEPTH, type Table } from './flatbuffer-reader.js';

/** The physical layout of a column, which decides its buffers and child nodes. */
export type IpcType =
  | { readonly kind: 'null' }
  /** Fixed-width values (bool is 1 bit). */
  | { readonly kind: 'fixed'; readonly bits: number }
  | { readonly kind: 'binary'; readonly offsetBytes: 4 | 8 }
  | { readonly kind: 'view' }
  /** List, LargeList and Map. */
  | { readonly kind: 'list'; readonly offsetBytes: 4 | 8; readonly child: IpcField }
  | { readonly kind: 'fixedList'; readonly size: number; readonly child: IpcField }
  | { readonly kind: 'struct'; readonly children: readonly IpcField[] }
  | { readonly kind: 'union'; readonly dense: boolean; readonly typeIds: readonly number[]; readonly children: readonly IpcField[] };

export interface IpcField {
  /** The value type (for a dictionary-encoded field: the dictionary's values). */
  readonly type: IpcType;
  /** Set when the column holds dictionary indices. */
  readonly dictionary?: { readonly id: number; readonly indexBits: number };
}

export interface IpcSchema {
  readonly fields: readonly IpcField[];
  /** Value type of each dictionary id. */
  readonly dictionaries: ReadonlyMap<number, IpcField>;
}

export interface IpcRecordBatch {
  readonly length: number;
  readonly nodes: readonly { readonly length: number; readonly nullCount: number }[];
  readonly buffers: readonly { readonly offset: number; readonly length: number }[];
  readonly compressed: boolean;
  readonly variadicCounts: readonly number[];
}

export type IpcMessage =
  | { readonly kind: 'schema'; readonly bodyLength: number; readonly version: number; readonly schema: IpcSchema }
  | { readonly kind: 'dictionary'; readonly bodyLength: number; readonly version: number; readonly id: number; readonly isDelta: boolean; readonly batch: IpcRecordBatch }
  | { readonly kind: 'batch'; readonly bodyLength: number; readonly version: number; readonly batch: IpcRecordBatch };

/** MetadataVersion V4: older layouts (with page ids in buffers) are refused. */
export const METADATA_V4 = 3;
const METADATA_V5 = 4;

const enum Header {
  Schema = 1,
  DictionaryBatch = 2,
  RecordBatch = 3,
}

/** Type ids of Schema.fbs's `Type` union. */
const enum T {
  NONE = 0, Null, Int, FloatingPoint, Binary, Utf8, Bool, Decimal, Date, Time, Timestamp, Interval, List, Struct,
  Union, FixedSizeBinary, FixedSizeList, Map, Duration, LargeBinary, LargeUtf8, LargeList, RunEndEncoded, BinaryView,
  Utf8View, ListView, LargeListView,
}

const TYPE_NAMES = [
  'NONE', 'Null', 'Int', 'FloatingPoint', 'Binary', 'Utf8', 'Bool', 'Decimal', 'Date', 'Time', 'Timestamp', 'Interval',
  'List', 'Struct', 'Union', 'FixedSizeBinary', 'FixedSizeList', 'Map', 'Duration', 'LargeBinary', 'LargeUtf8',
  'LargeList', 'RunEndEncoded', 'BinaryView', 'Utf8View', 'ListView', 'LargeListView',
];

/** Largest FixedSizeBinary width or FixedSizeList size accepted (Arrow stores them as int32). */
const MAX_WIDTH = 0x7fffffff;

/** Parses one `Message` flatbuffer (the bytes between a message's length prefix and its body). */
export function parseMessage(bytes: Uint8Array, what: string): IpcMessage {
  const reader = new FlatbufferReader(bytes, what);
  if (bytes.byteLength < 8) reader.fail(`a message header of ${bytes.byteLength} bytes`);
  const message = reader.root();
  const version = message.i16(0);
  if (version < METADATA_V4 || version > METADATA_V5) reader.fail(`unsupported metadata version ${version}`);
  const headerType = message.u8(1);
  const bodyLength = message.i64(3);
  if (bodyLength < 0 || !Number.isSafeInteger(bodyLength)) reader.fail(`a message claims a body of ${bodyLength} bytes`);
  keyValues(message, 4);
  const header = message.table(2) ?? reader.fail('a message without a header');
  switch (headerType) {
    case Header.Schema:
      return { kind: 'schema', bodyLength, version, schema: parseSchema(header) };
    case Header.RecordBatch:
      return { kind: 'batch', bodyLength, version, batch: parseRecordBatch(header) };
    case Header.DictionaryBatch: {
      const data = header.table(1) ?? reader.fail('a dictionary batch without data');
      return { kind: 'dictionary', bodyLength, version, id: header.i64(0), isDelta: header.bool(2), batch: parseRecordBatch(data) };
    }
    default:
      return reader.fail(`unexpected message type ${headerType}`);
  }
}

export interface IpcBlock {
  readonly offset: number;
  readonly metadataLength: number;
  readonly bodyLength: number;
}

export interface IpcFooter {
  readonly schema: IpcSchema;
  readonly dictionaries: readonly IpcBlock[];
  readonly recordBatches: readonly IpcBlock[];
}

/** Parses the `Footer` flatbuffer of the IPC file format. */
export function parseFooter(bytes: Uint8Array, what: string): IpcFooter {
  const reader = new FlatbufferReader(bytes, what);
  const footer = reader.root();
  keyValues(footer, 4);
  const schema = footer.table(1) ?? reader.fail('a file footer without a schema');
  const blocks = (id: number): IpcBlock[] => {
    const { start, length } = footer.vector(id, 24);
    const out: IpcBlock[] = [];
    for (let i = 0; i < length; i++) {
      const at = start + 24 * i;
      out.push({ offset: reader.i64(at), metadataLength: reader.i32(at + 8), bodyLength: reader.i64(at + 16) });
    }
    return out;
  };
  return { schema: parseSchema(schema), dictionaries: blocks(2), recordBatches: blocks(3) };
}

function keyValues(table: Table, id: number): void {
  for (const kv of table.tables(id)) {
    kv.string(0);
    kv.string(1);
  }
}

function parseSchema(schema: Table): IpcSchema {
  keyValues(schema, 2);
  schema.vector(3, 8);
  const dictionaries = new Map<number, IpcField>();
  const fields = schema.tables(1).map((f) => parseField(f, dictionaries, 0));
  return { fields, dictionaries };
}

function parseField(field: Table, dictionaries: Map<number, IpcField>, depth: number): IpcField {
  const reader = field.reader;
  if (depth > MAX_DEPTH) reader.fail(`fields nested deeper than ${MAX_DEPTH}`);
  field.string(0);
  keyValues(field, 6);
  const encoding = field.table(4);
  const children = field.tables(5).map((c) => parseField(c, dictionaries, depth + 1));
  const type = parseType(field, children);
  if (encoding === undefined) return { type };
  const id = encoding.i64(0);
  const index = encoding.table(1);
  const indexBits = index === undefined ? 32 : index.i32(0);
  if (![8, 16, 32, 64].includes(indexBits)) reader.fail(`dictionary ${id} has ${indexBits}-bit indices`);
  const known = dictionaries.get(id);
  if (known === undefined) dictionaries.set(id, { type });
  else if (!sameType(known.type, type)) reader.fail(`dictionary ${id} is declared with two different value types`);
  return { type, dictionary: { id, indexBits } };
}

function parseType(field: Table, children: IpcField[]): IpcType {
  const reader = field.reader;
  const typeId = field.u8(2);
  const name = TYPE_NAMES[typeId] ?? `type ${typeId}`;
  const wantChildren = (n: number): void => {
    if (children.length !== n) reader.fail(`a ${name} field with ${children.length} children`);
  };
  const spec = (): Table => field.table(3) ?? reader.fail(`a ${name} field without its type parameters`);
  const fixed = (bits: number): IpcType => {
    wantChildren(0);
    return { kind: 'fixed', bits };
  };
  switch (typeId) {
    case T.NONE:
    case T.Null:
      wantChildren(0);
      return { kind: 'null' };
    case T.Bool:
      return fixed(1);
    case T.Int: {
      const bits = spec().i32(0);
      if (![8, 16, 32, 64].includes(bits)) reader.fail(`an Int of ${bits} bits`);
      return fixed(bits);
    }
    case T.FloatingPoint: {
      const precision = spec().i16(0);
      if (precision < 0 || precision > 2) reader.fail(`a FloatingPoint of precision ${precision}`);
      return fixed(16 << precision);
    }
    case T.Decimal: {
      const bits = spec().i32(2, 128);
      if (![32, 64, 128, 256].includes(bits)) reader.fail(`a Decimal of ${bits} bits`);
      return fixed(bits);
    }
    case T.Date:
      return fixed(spec().i16(0, 1) === 0 ? 32 : 64);
    case T.Time: {
      const bits = spec().i32(1, 32);
      if (bits !== 32 && bits !== 64) reader.fail(`a Time of ${bits} bits`);
      return fixed(bits);
    }
    case T.Timestamp:
      spec().string(1);
      return fixed(64);
    case T.Duration:
      return fixed(64);
    case T.Interval: {
      const unit = spec().i16(0);
      if (unit < 0 || unit > 2) reader.fail(`an Interval of unit ${unit}`);
      return fixed([32, 64, 128][unit]!);
    }
    case T.FixedSizeBinary: {
      const width = spec().i32(0);
      if (width < 0 || width > MAX_WIDTH / 8) reader.fail(`a FixedSizeBinary of ${width} bytes`);
      return fixed(width * 8);
    }
    case T.Binary:
    case T.Utf8:
      wantChildren(0);
      return { kind: 'binary', offsetBytes: 4 };
    case T.LargeBinary:
    case T.LargeUtf8:
      wantChildren(0);
      return { kind: 'binary', offsetBytes: 8 };
    case T.BinaryView:
    case T.Utf8View:
      wantChildren(0);
      return { kind: 'view' };
    case T.List:
    case T.Map:
      wantChildren(1);
      return { kind: 'list', offsetBytes: 4, child: children[0]! };
    case T.LargeList:
      wantChildren(1);
      return { kind: 'list', offsetBytes: 8, child: children[0]! };
    case T.FixedSizeList: {
      wantChildren(1);
      const size = spec().i32(0);
      if (size < 0) reader.fail(`a FixedSizeList of size ${size}`);
      return { kind: 'fixedList', size, child: children[0]! };
    }
    case T.Struct:
      return { kind: 'struct', children };
    case T.Union: {
      const union = spec();
      const mode = union.i16(0);
      if (mode !== 0 && mode !== 1) reader.fail(`a Union of mode ${mode}`);
      const { start, length } = union.vector(1, 4);
      const typeIds = length === 0 ? children.map((_, i) => i) : Array.from({ length }, (_, i) => reader.i32(start + 4 * i));
      if (typeIds.length !== children.length) reader.fail(`a Union with ${typeIds.length} type ids for ${children.length} children`);
      if (typeIds.some((t) => t < 0 || t > 127)) reader.fail('a Union type id outside 0–127');
      return { kind: 'union', dense: mode === 1, typeIds, children };
    }
    default:
      // RunEndEncoded and list views: no writer this plugin meets produces them.
      return reader.fail(`unsupported column type ${name}`);
  }
}

function parseRecordBatch(batch: Table): IpcRecordBatch {
  const reader = batch.reader;
  const length = batch.i64(0);
  const nodesAt = batch.vector(1, 16);
  const buffersAt = batch.vector(2, 16);
  const nodes = Array.from({ length: nodesAt.length }, (_, i) => ({
    length: reader.i64(nodesAt.start + 16 * i),
    nullCount: reader.i64(nodesAt.start + 16 * i + 8),
  }));
  const buffers = Array.from({ length: buffersAt.length }, (_, i) => ({
    offset: reader.i64(buffersAt.start + 16 * i),
    length: reader.i64(buffersAt.start + 16 * i + 8),
  }));
  const countsAt = batch.vector(4, 8);
  const variadicCounts = Array.from({ length: countsAt.length }, (_, i) => reader.i64(countsAt.start + 8 * i));
  return { length, nodes, buffers, compressed: batch.table(3) !== undefined, variadicCounts };
}

/** Whether two layouts are the same (dictionary ids and index widths included). */
export function sameType(a: IpcType, b: IpcType): boolean {
  if (a.kind !== b.kind) return false;
  const fields = (x: readonly IpcField[], y: readonly IpcField[]): boolean =>
    x.length === y.length && x.every((f, i) => sameField(f, y[i]!));
  switch (a.kind) {
    case 'null':
    case 'view':
      return true;
    case 'fixed':
      return a.bits === (b as typeof a).bits;
    case 'binary':
      return a.offsetBytes === (b as typeof a).offsetBytes;
    case 'list':
      return a.offsetBytes === (b as typeof a).offsetBytes && sameField(a.child, (b as typeof a).child);
    case 'fixedList':
      return a.size === (b as typeof a).size && sameField(a.child, (b as typeof a).child);
    case 'struct':
      return fields(a.children, (b as typeof a).children);
    case 'union': {
      const u = b as typeof a;
      return a.dense === u.dense && a.typeIds.join() === u.typeIds.join() && fields(a.children, u.children);
    }
  }
}

export function sameField(a: IpcField, b: IpcField): boolean {
  return a.dictionary?.id === b.dictionary?.id && a.dictionary?.indexBits === b.dictionary?.indexBits && sameType(a.type, b.type);
}
