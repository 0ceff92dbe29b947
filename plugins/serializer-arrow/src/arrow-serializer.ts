/**
 * The Arrow serializer: Tables, RecordBatches and Vectors as IPC stream bytes.
 *
 * Wire form (tag {@link ARROW_TAG}): segment 0 is one byte naming the kind of value, the
 * rest is an Arrow IPC stream (schema, dictionary batches, record batches, end marker)
 * split so that large column buffers travel as their own segments, uncopied.
 */
import { makeData, RecordBatch, Table, Vector, type Schema } from 'apache-arrow';
import { DeserializationError, type Serializer } from '@mirai-ts/core';
import { arrowRows } from './arrow-rows.js';
import { writeIpcChunks } from './ipc-chunks.js';
import { readIpcSegments } from './ipc-segments.js';

/** Wire tag of this serializer's bytes. */
export const ARROW_TAG = 'arrow.ipc/1';

/** The Arrow values this serializer carries. */
export type ArrowValue = Table | RecordBatch | Vector;

/** Options of {@link arrowSerializer} (none yet; kept for forward compatibility). */
export type ArrowSerializerOptions = Record<string, never>;

const enum Kind {
  Table = 0,
  RecordBatch = 1,
  Vector = 2,
}

/** Column name used to carry a lone Vector as a one-column table. */
const VECTOR_FIELD = 'vector';

/**
 * A serializer for Apache Arrow Tables, RecordBatches and Vectors, wherever they sit in a
 * task's arguments or result. Round trips keep the schema (field names, types, nullability,
 * metadata), dictionary columns, string views, nulls and batch boundaries.
 *
 * ```ts
 * await daemons(2, { serializers: [arrowSerializer()] });
 * const rows = await mirai(({ t }) => t.numRows, { t: table });
 * ```
 */
export function arrowSerializer(options: ArrowSerializerOptions = {}): Serializer<ArrowValue> {
  return {
    tag: ARROW_TAG,
    claims(value: unknown): value is ArrowValue {
      return value instanceof Table || value instanceof RecordBatch || value instanceof Vector || isForeignArrow(value);
    },
    encode(value: ArrowValue): Uint8Array[] {
      if (value instanceof Table) return [Uint8Array.of(Kind.Table), ...writeIpcChunks(value)];
      if (value instanceof RecordBatch) return [Uint8Array.of(Kind.RecordBatch), ...writeIpcChunks(value)];
      if (value instanceof Vector) return [Uint8Array.of(Kind.Vector), ...writeIpcChunks(new Table({ [VECTOR_FIELD]: value }))];
      throw new TypeError(
        `this ${(value as object).constructor.name} comes from another copy of apache-arrow than the one ` +
          '@mirai-ts/serializer-arrow uses; install a single version (apache-arrow@21) so both share it',
      );
    },
    decode(buffers: Uint8Array[]): ArrowValue {
      const kind = buffers[0]?.[0];
      if (buffers[0]?.byteLength !== 1 || kind === undefined || kind > Kind.Vector) {
        throw new DeserializationError('arrow: not an Arrow value: the kind segment is missing or unknown');
      }
      const { schema, batches } = readIpcSegments(buffers.slice(1));
      if (kind === Kind.Table) return new Table(schema, batches);
      if (kind === Kind.RecordBatch) {
        if (batches.length !== 1) throw new DeserializationError(`arrow: a RecordBatch arrived as ${batches.length} batches`);
        return batches[0]!;
      }
      return vectorOf(schema, batches);
    },
    rows(value: ArrowValue): Iterable<unknown> {
      if (value instanceof Vector) return Array.from(value as Iterable<unknown>);
      return arrowRows(value);
    },
    ref: { specifier: '@mirai-ts/serializer-arrow', exportName: 'arrowSerializer', options },
  };
}

function vectorOf(schema: Schema, batches: readonly RecordBatch[]): Vector {
  const field = schema.fields[0];
  if (schema.fields.length !== 1 || field === undefined) throw new DeserializationError('arrow: a Vector arrived with more than one column');
  const chunks = batches.map((b) => b.data.children[0]!);
  return new Vector(chunks.length > 0 ? chunks : [makeData({ type: field.type, length: 0, nullCount: 0 })]);
}

/** A Table, RecordBatch or Vector made by a different copy of apache-arrow (instanceof fails). */
function isForeignArrow(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  const name = (value as object).constructor?.name;
  if (name === 'Table') return 'schema' in v && Array.isArray(v.batches);
  if (name === 'RecordBatch') return 'schema' in v && 'data' in v;
  if (name === 'Vector') return Array.isArray(v.data) && 'type' in v;
  return false;
}
