/**
 * The Arrow serializer: Tables, RecordBatches and Vectors as IPC stream bytes.
 *
 * Wire form (tag {@link ARROW_TAG}): segment 0 is one byte naming the kind of value, the
 * rest is an Arrow IPC stream (schema, dictionary batches, record batches, end marker)
 * split so that large column buffers travel as their own segments, uncopied.
 */
import { createRequire } from 'node:module';
import { makeData, RecordBatch, Table, Vector, type Schema } from 'apache-arrow';
import { ConfigError, DeserializationError, type Serializer } from '@mirai-ts/core';
import { checkOptions, show } from '@mirai-ts/core/daemon';
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
  checkNoOptions('arrowSerializer()', options);
  return {
    tag: ARROW_TAG,
    claims(value: unknown): value is ArrowValue {
      // Arrow's own instanceof also says yes to values of other copies (Symbol.hasInstance):
      // they are claimed, and encode() refuses them by name.
      return value instanceof Table || value instanceof RecordBatch || value instanceof Vector || isForeignArrow(value);
    },
    encode(value: ArrowValue): Uint8Array[] {
      // By prototype, not instanceof: this copy's writer reads another copy's values wrongly
      // (broken bytes, or a multi-batch table of Null columns that silently loses rows).
      if (Table.prototype.isPrototypeOf(value)) return [Uint8Array.of(Kind.Table), ...writeIpcChunks(value as Table)];
      if (RecordBatch.prototype.isPrototypeOf(value)) return [Uint8Array.of(Kind.RecordBatch), ...writeIpcChunks(value as RecordBatch)];
      if (Vector.prototype.isPrototypeOf(value)) return [Uint8Array.of(Kind.Vector), ...writeIpcChunks(new Table({ [VECTOR_FIELD]: value as Vector }))];
      throw foreignArrow(value);
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
      if (Vector.prototype.isPrototypeOf(value)) return Array.from(value as Iterable<unknown>);
      if (Table.prototype.isPrototypeOf(value) || RecordBatch.prototype.isPrototypeOf(value)) return arrowRows(value as Table | RecordBatch);
      throw foreignArrow(value);
    },
    ref: { specifier: '@mirai-ts/serializer-arrow', exportName: 'arrowSerializer', options: {} },
  };
}

function vectorOf(schema: Schema, batches: readonly RecordBatch[]): Vector {
  const field = schema.fields[0];
  if (schema.fields.length !== 1 || field === undefined) throw new DeserializationError('arrow: a Vector arrived with more than one column');
  const chunks = batches.map((b) => b.data.children[0]!);
  return new Vector(chunks.length > 0 ? chunks : [makeData({ type: field.type, length: 0, nullCount: 0 })]);
}

/** Refuses options: none are known yet, and a typo must not travel to daemons unnoticed. */
function checkNoOptions(where: string, options: unknown): void {
  if (typeof options === 'object' && options !== null && !Array.isArray(options)) {
    for (const [key, value] of Object.entries(options)) throw new ConfigError(`${where}: unknown option '${key}' (got ${show(value)}); it takes no options yet`);
  }
  checkOptions(where, options, {}); // anything but an object (or undefined)
}

/**
 * The error for a value of another copy of apache-arrow: most often its CommonJS build, which
 * `require('apache-arrow')` loads while this plugin `import`s the ES module build, each with its
 * own classes; or another installed version.
 */
function foreignArrow(value: unknown): TypeError {
  const name = (value as object | null)?.constructor?.name ?? 'value';
  const fix = 'load apache-arrow one way in the whole program: import it (ESM) everywhere, as the plugin does, and keep one version installed (21.x)';
  if (fromCommonJsBuild(value)) {
    return new TypeError(
      `this ${name} comes from the CommonJS build of apache-arrow (require('apache-arrow')), while @mirai-ts/serializer-arrow ` +
        `uses its ES module build (import): two copies of apache-arrow, whose values the other cannot write correctly. Fix: ${fix}`,
    );
  }
  return new TypeError(
    `this ${name} comes from another copy of apache-arrow than the one @mirai-ts/serializer-arrow uses (its CommonJS build, ` +
      `loaded with require(), or another installed version), whose values this one cannot write correctly. Fix: ${fix}`,
  );
}

/** Whether `value` is made by the CommonJS build of the apache-arrow this plugin resolves, if something loaded it. */
function fromCommonJsBuild(value: unknown): boolean {
  try {
    const require = createRequire(import.meta.url);
    const cjs = require.cache[require.resolve('apache-arrow')]?.exports as { Table?: { prototype: object }; RecordBatch?: { prototype: object }; Vector?: { prototype: object } } | undefined;
    if (cjs === undefined) return false;
    return [cjs.Table, cjs.RecordBatch, cjs.Vector].some((c) => c !== undefined && Object.prototype.isPrototypeOf.call(c.prototype, value as object));
  } catch {
    return false; // not resolvable from here: say what it may be
  }
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
