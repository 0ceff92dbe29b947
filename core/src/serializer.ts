/**
 * The serializer plugin contract.
 *
 * Values are encoded with V8's structured serialization (Map, Set, Date, BigInt, typed
 * arrays, cycles, errors). A profile may add {@link Serializer}s for types V8 cannot carry
 * faithfully (an Arrow Table, a Polars DataFrame, an ONNX Tensor, a class of your own):
 * each claims values by type, wherever they sit in arguments and results, and turns them
 * into bytes that travel beside the serialized skeleton without being copied.
 */
import type { PluginRef } from './transport.js';

/** Bytes for one claimed value: one buffer, or several (sent as separate segments, no copy). */
export type EncodedValue = Uint8Array | readonly Uint8Array[];

export interface Serializer<T = unknown> {
  /** Names the encoding on the wire, e.g. `'arrow.ipc/1'`. Receivers pick the decoder by it. */
  readonly tag: string;
  /** Type test used when encoding; the first serializer of the profile that claims a value wins. */
  claims(value: unknown): value is T;
  /** Value → bytes. May be async (a GPU tensor's data, say). */
  encode(value: T): EncodedValue | Promise<EncodedValue>;
  /** Bytes → value. The buffers are views the value may keep (no copy was made). */
  decode(buffers: Uint8Array[]): T | Promise<T>;
  /**
   * Optional: the elements `miraiMap()` maps over when it is given a value this serializer
   * claims, e.g. a table's rows as plain objects. Without it, `miraiMap()` iterates the value.
   */
  rows?(value: T): Iterable<unknown>;
  /**
   * How a daemon process rebuilds this serializer: `(await import(specifier))[exportName](options)`.
   * Without it, the serializer works only where it was created (sync mode).
   */
  readonly ref?: PluginRef;
}

/** Identity helper that type-checks a serializer object. */
export function defineSerializer<T>(serializer: Serializer<T>): Serializer<T> {
  return serializer;
}

/** The first serializer that claims `value` (one whose type test throws claims nothing). */
export function claimant(value: unknown, serializers: readonly Serializer[]): Serializer | undefined {
  return serializers.find((s) => {
    try {
      return s.claims(value);
    } catch {
      return false;
    }
  });
}
