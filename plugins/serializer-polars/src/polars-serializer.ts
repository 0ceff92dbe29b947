/**
 * The Polars serializer: DataFrames and Series as Arrow IPC (file format) bytes.
 *
 * Wire form (tag {@link POLARS_TAG}): segment 0 is one byte naming the kind of value,
 * segment 1 the IPC bytes exactly as Polars wrote them (one buffer from Rust, not copied
 * again). The file format is used because Polars reads it back without another pass over
 * the data; it keeps every dtype, including Categorical, Datetime time zones, List, Struct
 * and nulls.
 */
import pl from 'nodejs-polars';
import { DeserializationError, type Serializer } from '@mirai-ts/core';
import { checkOptions, is } from '@mirai-ts/core/daemon';
import { checkIpcFile, type IpcLimits } from '@mirai-ts/serializer-arrow/validate';

/** Wire tag of this serializer's bytes. */
export const POLARS_TAG = 'polars.ipc/1';

/** The Polars values this serializer carries. */
export type PolarsValue = pl.DataFrame | pl.Series;

/** Options of {@link polarsSerializer}. They travel to daemons, which use them too. */
export interface PolarsSerializerOptions {
  /** Compress the IPC body: worth it over slow networks, a loss on one machine. Default none. */
  readonly compression?: 'uncompressed' | 'lz4' | 'zstd';
}

const enum Kind {
  DataFrame = 0,
  Series = 1,
}

/** The rules of {@link PolarsSerializerOptions}, in core's style (see `checkOptions`). */
const OPTION_RULES = {
  compression: is.oneOf('uncompressed', 'lz4', 'zstd'),
} as const;

/**
 * Polars counts a frame's rows in 32 bits (its `IdxSize`): a file claiming 2^32 rows or more
 * would give a frame whose height overflows (and `String(df)` panics), so it is refused, as are
 * more rows than the received bytes allow (see `@mirai-ts/serializer-arrow/validate`).
 */
const POLARS_LIMITS: IpcLimits = { maxRows: 2 ** 32 - 1, maxRowsReason: '(Polars counts the rows of a frame in 32 bits)' };

/**
 * A serializer for Polars DataFrames and Series, wherever they sit in a task's arguments or
 * result. Round trips keep column names, dtypes (Categorical, Datetime with time zone, List,
 * Struct, ...), nulls and the Series name.
 *
 * ```ts
 * await daemons(2, { serializers: [polarsSerializer()] });
 * const out = await mirai(({ df }) => df.filter(pl.col('x').gt(0)), { df });
 * ```
 */
export function polarsSerializer(options: PolarsSerializerOptions = {}): Serializer<PolarsValue> {
  checkOptions('polarsSerializer()', options, OPTION_RULES);
  const compression = options.compression ?? 'uncompressed';
  return {
    tag: POLARS_TAG,
    claims(value: unknown): value is PolarsValue {
      return pl.DataFrame.isDataFrame(value) || pl.Series.isSeries(value);
    },
    encode(value: PolarsValue): Uint8Array[] {
      // Methods of the value itself: works for frames made by another copy of nodejs-polars too.
      if (pl.Series.isSeries(value)) return [Uint8Array.of(Kind.Series), value.toFrame().writeIPC({ compression })];
      return [Uint8Array.of(Kind.DataFrame), (value as pl.DataFrame).writeIPC({ compression })];
    },
    decode(buffers: Uint8Array[]): PolarsValue {
      const [head, body] = buffers;
      const kind = head?.[0];
      if (buffers.length !== 2 || head?.byteLength !== 1 || body === undefined || (kind !== Kind.DataFrame && kind !== Kind.Series)) {
        throw new DeserializationError('polars: not a Polars value: expected a kind segment and an IPC segment');
      }
      // Polars trusts the lengths in the IPC headers and aborts the process when one is forged.
      checkIpcFile(body, 'polars', POLARS_LIMITS);
      const df = pl.readIPC(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
      if (kind === Kind.DataFrame) return df;
      if (df.width !== 1) throw new DeserializationError(`polars: a Series arrived as ${df.width} columns`);
      return df.toSeries(0);
    },
    rows(value: PolarsValue): Iterable<unknown> {
      if (pl.Series.isSeries(value)) return [...value];
      return (value as pl.DataFrame).toRecords();
    },
    ref: { specifier: '@mirai-ts/serializer-polars', exportName: 'polarsSerializer', options: { ...options } },
  };
}
