/**
 * Serializer conformance suite: one set of tests that every serializer setup must pass,
 * the default one (V8 structured serialization, no plugins) and each plugin.
 *
 * A setup is described by a {@link SerializerCase}: the profile's serializers, sample values
 * and how to compare them. The suite checks, in process and then through real daemons:
 * exact round trips at the top level and at any depth (objects, arrays, Map keys and
 * values, Sets, several in one payload), shared references and cycles, company of large
 * typed arrays, bytes sent without copies, and the typed errors for a receiver that lacks
 * the serializer, corrupted bytes and a failing encoder.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  daemons,
  DeserializationError,
  mirai,
  SerializationError,
  type Serializer,
} from '@mirai-ts/core';
import { decodePayload, encodePayload } from '@mirai-ts/core/plugin';

export interface SerializerCase {
  /** Name in test titles; also names the daemons' profile. */
  readonly name: string;
  /** The profile's serializers: `[]` for the default serializer. */
  serializers(): Serializer[];
  /** Values that must travel exactly, by name (at least two). */
  samples(): Record<string, unknown>;
  /** Throws unless `actual` is an exact copy of `expected`. */
  expectSame(actual: unknown, expected: unknown): void;
  /**
   * Describes a value using its methods; runs here and on a daemon (as source: it may only
   * use its argument), so equal answers prove the value arrived alive, not as a husk.
   */
  describe(value: any): unknown;
  /** A large value (megabytes) whose memory should reach the socket uncopied. */
  large?(): unknown;
  /** The buffers backing a value, to check that segments share memory with it. */
  buffersOf?(value: unknown): ArrayBufferLike[];
  /** Whether decoded values are views of the received bytes (not true for Polars: Rust copies). */
  readonly decodesAsViews?: boolean;
}

const roundTrip = async (value: unknown, serializers: readonly Serializer[], root = 'args'): Promise<any> =>
  decodePayload(await encodePayload(value, serializers, root), 0, serializers);

/** Registers the conformance tests for one setup. */
export function serializerConformance(make: () => SerializerCase): void {
  const c = make();
  const serializers = c.serializers();
  const samples = c.samples();
  const names = Object.keys(samples);
  const plugin = serializers[0];

  describe(`serializer conformance: ${c.name}`, () => {
    it('has samples to check', () => {
      expect(names.length).toBeGreaterThanOrEqual(2);
    });

    it('round-trips every sample at the top level', async () => {
      for (const name of names) c.expectSame(await roundTrip(samples[name], serializers), samples[name]);
    });

    it('claims values wherever they sit: objects, arrays, Map keys and values, Sets, many in one payload', async () => {
      const [a, b] = [samples[names[0]!], samples[names[1]!]];
      const value = {
        deep: { list: [1, [a], { b }] },
        map: new Map<unknown, unknown>([
          ['k', b],
          [a, 'as a key'],
        ]),
        set: new Set([b]),
        all: { ...samples },
      };
      const back = await roundTrip(value, serializers);
      c.expectSame(back.deep.list[1][0], a);
      c.expectSame(back.deep.list[2].b, b);
      c.expectSame(back.map.get('k'), b);
      const keys = [...back.map.keys()];
      expect(back.map.get(keys[1])).toBe('as a key');
      c.expectSame(keys[1], a);
      c.expectSame([...back.set][0], b);
      for (const name of names) c.expectSame(back.all[name], samples[name]);
    });

    it('keeps shared references shared and cycles cyclic', async () => {
      const a = samples[names[0]!];
      const cyclic: Record<string, unknown> = { a, list: [a] };
      cyclic.self = cyclic;
      (cyclic.list as unknown[]).push(cyclic);
      const back = await roundTrip(cyclic, serializers);
      expect(back.self).toBe(back);
      expect(back.list[1]).toBe(back);
      c.expectSame(back.a, a);
      if (typeof a === 'object' && a !== null) expect(back.list[0]).toBe(back.a);
    });

    it('travels beside large typed arrays (out-of-band segments)', async () => {
      const floats = Float64Array.from({ length: 100_000 }, (_, i) => i / 3);
      const bytes = new Uint8Array(70_000).fill(7);
      const back = await roundTrip({ floats, first: samples[names[0]!], bytes, second: samples[names[1]!] }, serializers);
      expect(back.floats).toBeInstanceOf(Float64Array);
      expect(back.bytes).toBeInstanceOf(Uint8Array);
      expect(sameBytes(back.floats, floats) && sameBytes(back.bytes, bytes)).toBe(true);
      c.expectSame(back.first, samples[names[0]!]);
      c.expectSame(back.second, samples[names[1]!]);
    });

    if (c.large && c.buffersOf) {
      it('sends large data as segments that share its memory (no copy), and decodes from them', async () => {
        const large = c.large!();
        const segments = await encodePayload({ large }, serializers, 'args');
        const mine = new Set(c.buffersOf!(large));
        expect(segments.some((s) => mine.has(s.buffer))).toBe(true);
        const back = decodePayload(segments, 0, serializers);
        // Exactness is checked on the samples; deep-comparing millions of elements only costs time.
        expect(c.describe((back as { large: unknown }).large)).toEqual(c.describe(large));
        if (c.decodesAsViews) {
          const received = new Set(segments.map((s) => s.buffer));
          expect(c.buffersOf!((back as { large: unknown }).large).some((b) => received.has(b))).toBe(true);
        }
      });
    }

    if (plugin === undefined) {
      it('names the path of a value it cannot carry', async () => {
        const err = await Promise.resolve()
          .then(() => encodePayload({ ok: samples[names[0]!], deep: [{ fn: () => 1 }] }, serializers, 'args'))
          .then(
            () => undefined,
            (e: unknown) => e,
          );
        expect(err).toBeInstanceOf(SerializationError);
        expect((err as SerializationError).path).toBe('args.deep[0].fn');
      });
    } else {
      it('gives a DeserializationError naming the serializer and the path when the receiver lacks it', async () => {
        const segments = await encodePayload({ x: [0, samples[names[0]!]] }, serializers, 'args');
        const err = await settle(() => decodePayload(segments, 0, []));
        expect(err).toBeInstanceOf(DeserializationError);
        expect(String((err as Error).message)).toContain(`'${plugin.tag}'`);
        expect(String((err as Error).message)).toContain('args.x[1]');
      });

      it('rejects truncated bytes with a DeserializationError naming the serializer and the path', async () => {
        for (const name of names) {
          for (const damage of [truncate, lastByte, drop]) {
            const tampered: Serializer = { ...plugin, decode: (buffers) => plugin.decode(damage(buffers)) };
            const segments = await encodePayload({ v: samples[name] }, serializers, 'result');
            const err = await settle(() => decodePayload(segments, 0, [tampered, ...serializers.slice(1)]));
            expect(err, `${name} after ${damage.name}`).toBeInstanceOf(DeserializationError);
            expect(String((err as Error).message)).toContain(`'${plugin.tag}'`);
            expect(String((err as Error).message)).toContain('result.v');
          }
        }
      });

      it('reports a failing encoder as a SerializationError naming the serializer and the path', async () => {
        const failing: Serializer = {
          ...plugin,
          encode: () => {
            throw new Error('encoder broke');
          },
        };
        const err = await settle(() => encodePayload({ a: { b: samples[names[0]!] } }, [failing], 'args'));
        expect(err).toBeInstanceOf(SerializationError);
        expect((err as SerializationError).path).toBe('args.a.b');
        expect((err as Error).message).toContain(`'${plugin.tag}'`);
        expect((err as Error).message).toContain('encoder broke');
      });
    }

    describe('through real daemons', () => {
      const profile = `conformance-${c.name.replace(/[^a-z0-9]+/gi, '-')}`;
      beforeAll(async () => {
        await daemons(2, { profile, serializers });
      }, 60_000);
      afterAll(async () => {
        await daemons(0, { profile });
      });

      it('echoes every sample exactly', async () => {
        for (const name of names) {
          const back = await mirai(({ v }: { v: unknown }) => v, { v: samples[name] }, { profile, timeout: 30_000 });
          c.expectSame(back, samples[name]);
        }
      });

      it('hands the daemon live values (their methods work there)', async () => {
        const source = c.describe.toString();
        for (const name of names) {
          const there = await mirai(
            ({ v, source }: { v: unknown; source: string }) => (0, eval)(`(${source})`)(v),
            { v: samples[name], source },
            { profile, timeout: 30_000 },
          );
          expect(there, name).toEqual(c.describe(samples[name]));
        }
      });

      it('carries many values nested in one payload both ways, and values made on the daemon', async () => {
        const back = await mirai(
          ({ all }: { all: Record<string, unknown> }) => {
            const keys = Object.keys(all);
            return { again: new Map(keys.map((k) => [k, [all[k]]])), first: all[keys[0]!] };
          },
          { all: samples },
          { profile, timeout: 30_000 },
        );
        for (const name of names) c.expectSame((back.again.get(name) as unknown[])[0], samples[name]);
        c.expectSame(back.first, samples[names[0]!]);
      });
    });
  });
}

async function settle(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
    return undefined;
  } catch (err) {
    return err;
  }
}

function sameBytes(a: ArrayBufferView, b: ArrayBufferView): boolean {
  const view = (v: ArrayBufferView) => new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  return Buffer.compare(view(a), view(b)) === 0;
}

/** Keeps the first segment, halves the others (halves the only one). */
function truncate(buffers: Uint8Array[]): Uint8Array[] {
  const out =
    buffers.length === 1
      ? [buffers[0]!.subarray(0, buffers[0]!.byteLength >> 1)]
      : buffers.map((b, i) => (i === 0 ? b : b.subarray(0, b.byteLength >> 1)));
  const bytes = (list: Uint8Array[]): number => list.reduce((n, b) => n + b.byteLength, 0);
  return bytes(out) < bytes(buffers) ? out : lastByte(buffers); // nothing to halve: lose a byte instead
}

/** The very last byte lost. */
function lastByte(buffers: Uint8Array[]): Uint8Array[] {
  const out = [...buffers];
  let i = out.length - 1;
  while (i > 0 && out[i]!.byteLength === 0) i--;
  out[i] = out[i]!.subarray(0, Math.max(0, out[i]!.byteLength - 1));
  return out;
}

/** The last segment lost (all of it when there is only one). */
function drop(buffers: Uint8Array[]): Uint8Array[] {
  return buffers.length === 1 ? [new Uint8Array(0)] : buffers.slice(0, -1);
}
