/**
 * Crafted payloads from a peer past the handshake: small on the wire, each built to make the
 * decoder allocate or loop by a number it read. Each must cost its own task (a typed error or a
 * bounded value), never gigabytes or seconds of the host's.
 */
import v8 from 'node:v8';
import { describe, expect, it } from 'vitest';
import { DeserializationError, TaskError } from '../../src/errors.js';
import { readResult } from '../../src/host/results.js';
import type { Serializer } from '../../src/serializer.js';
import { fromErrorRecord } from '../../src/wire/error-record.js';
import { frame, FrameFlag, FrameType, textSegment } from '../../src/wire/frame.js';
import { decodePayload } from '../../src/wire/payload.js';
import { batchWholeSegments } from '../../src/wire/task-frame.js';

/** A V8 skeleton whose every typed array is written as an out-of-band reference to segment 0 (a Float64Array). */
function skeletonNaming(segment: number, references: number): Uint8Array {
  class Forge extends v8.DefaultSerializer {
    _writeHostObject(): void {
      this.writeUint32(1); // out of band
      this.writeUint32(8); // Float64Array
      this.writeUint32(segment);
    }
  }
  const s = new Forge();
  s.writeHeader();
  s.writeValue(Array.from({ length: references }, () => new Float64Array(1)));
  return s.releaseBuffer();
}

describe('decoding what a hostile peer crafts', () => {
  it('a chunk result whose array is sparse (its length alone, in a few bytes) fails its chunk instead of allocating that many items', () => {
    const sparse: unknown[] = [];
    sparse.length = 1_000_000; // 2^32 - 1 ended the host; a million shows the check without risking the test run
    const payload = [v8.serialize(sparse), new Uint8Array(0)];
    const outcome = readResult(frame(FrameType.Result, 7, batchWholeSegments(payload), FrameFlag.Batch), []);
    expect(outcome).toMatchObject({ ok: false });
    const error = (outcome as { error: Error }).error;
    expect(error).toBeInstanceOf(DeserializationError);
    expect(error.message).toMatch(/the result of chunk 7 claims 1000000 items in \d+ bytes/);
  });

  it("an error record's classes are read from their first 32 entries only: a sparse array is not walked to its length", () => {
    const classes: unknown[] = ['RangeError'];
    classes.length = 50_000_000;
    classes[49_999_999] = 'FarAway';
    const error = fromErrorRecord({ name: 'RangeError', message: 'x', classes, props: {} }) as TaskError;
    expect(error).toBeInstanceOf(TaskError);
    expect(error.remoteClass).toEqual(['RangeError']);
  });

  it('one misaligned out-of-band segment named by many references is copied once, not once per reference', () => {
    const backing = Buffer.alloc(1 + 8 * 1024);
    const misaligned = backing.subarray(1); // as the socket decoder's views of one read may be
    const views = decodePayload([skeletonNaming(0, 500), new Uint8Array(0), misaligned], 0, []) as Float64Array[];
    expect(views).toHaveLength(500);
    expect(new Set(views.map((v) => v.buffer)).size).toBe(1);
    expect(views[0]!.byteLength).toBe(8 * 1024);
  });

  it('plugin table entries must name their own segments, back to back: entries sharing bytes are refused before any is decoded', () => {
    let decoded = 0;
    const counting: Serializer = { tag: 'count', claims: (_v): _v is never => false, encode: () => [], decode: () => ++decoded };
    const skeleton = v8.serialize(null);
    const entry = (s: number, n: number) => ({ t: 'count', p: 'result', s, n });
    const table = (entries: unknown[]) => textSegment(JSON.stringify(entries));
    const seg = new Uint8Array(1024);
    // Two entries, one segment each, back to back: fine, each decoded once.
    decodePayload([skeleton, table([entry(0, 1), entry(1, 1)]), seg, seg], 0, [counting]);
    expect(decoded).toBe(2);
    decoded = 0;
    for (const entries of [[entry(0, 1), entry(0, 1)], [entry(0, 2), entry(1, 1)], [entry(1, 1)], [entry(0, 3)], [entry(0, -1)], [{ t: 'count', p: 'result', s: '0', n: 1 }], { length: 3 }]) {
      expect(() => decodePayload([skeleton, table(entries as unknown[]), seg, seg], 0, [counting]), JSON.stringify(entries)).toThrow(DeserializationError);
    }
    expect(decoded).toBe(0);
  });
});
