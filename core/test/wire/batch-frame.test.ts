/**
 * Chunk frames (flag Batch): a daemon that predates the flag runs the refusal stub and fails
 * the chunk with a clear message; a chunk's Result carries one outcome per item, in order.
 */
import { describe, expect, it } from 'vitest';
import { compileSegment, loadModuleFunction } from '../../src/daemon/compiler.js';
import { readResult } from '../../src/host/results.js';
import { toErrorRecord } from '../../src/wire/error-record.js';
import { frame, FrameFlag, FrameType, readJsonSegment } from '../../src/wire/frame.js';
import { encodePayload } from '../../src/wire/payload.js';
import { batchResultSegments, batchWholeSegments, buildTaskFrame, decodeTaskParams, readTaskStream, readTraceContext, taskFunctionSegment } from '../../src/wire/task-frame.js';
import { fromModule, type ModuleFunction } from '../../src/index.js';

describe('chunk frames (flag Batch)', () => {
  it('puts the function last and a refusal stub first, which an old daemon runs and throws', () => {
    const f = buildTaskFrame(FrameType.Task, 7, (x: number) => x + 1, [{ value: [1, 2, 3], name: 'items' }, { value: undefined, name: 'args' }], [], { batch: true });
    if (f instanceof Promise) throw new Error('sync frame expected');
    expect(f.flags & FrameFlag.Batch).toBe(FrameFlag.Batch);
    // A new daemon: the function and the items.
    expect(compileSegment(taskFunctionSegment(f)!)(41)).toBe(42);
    expect(decodeTaskParams(f, [])).toEqual([[1, 2, 3], undefined]);
    // An old daemon compiles segment 0, as it always did, and calls it with the parameters.
    expect(() => compileSegment(f.segments[0]!)([1, 2, 3], undefined)).toThrow(/does not support chunked maps \(frame flag Batch\)/);
  });

  it('keeps the function, trace context and stream apart when a chunk carries all three', () => {
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const stream = [1, -2, 3, -4] as const;
    const f = buildTaskFrame(FrameType.Task, 11, (x: number) => x * 2, [{ value: [5, 6], name: 'items' }, { value: 'a', name: 'args' }], [], {
      batch: true,
      inMap: true,
      trace: { traceparent },
      stream,
    });
    if (f instanceof Promise) throw new Error('sync frame expected');
    expect(f.flags & (FrameFlag.Batch | FrameFlag.InMap | FrameFlag.TraceContext | FrameFlag.Stream)).toBe(
      FrameFlag.Batch | FrameFlag.InMap | FrameFlag.TraceContext | FrameFlag.Stream,
    );
    expect(compileSegment(taskFunctionSegment(f)!)(21)).toBe(42);
    expect(decodeTaskParams(f, [])).toEqual([[5, 6], 'a']);
    expect(readTraceContext(f)).toEqual({ traceparent });
    expect(readTaskStream(f)).toEqual([...stream]);
  });

  it('refuses a module-function chunk on an old daemon the same way', async () => {
    const f = buildTaskFrame(FrameType.Task, 8, fromModule('./x.mjs', 'f') as ModuleFunction, [{ value: [1], name: 'items' }], [], { batch: true });
    if (f instanceof Promise) throw new Error('sync frame expected');
    expect(readJsonSegment<ModuleFunction>(taskFunctionSegment(f)!).export).toBe('f');
    await expect(loadModuleFunction(readJsonSegment<ModuleFunction>(f.segments[0]!))).rejects.toThrow(/does not support chunked maps/);
  });

  it('reads one outcome per item from a chunk Result: values and errors in place', () => {
    const segments = batchResultSegments([
      { segments: encodePayload({ a: 1 }, [], 'r') as Uint8Array[], error: false },
      { segments: encodePayload(toErrorRecord(new RangeError('bad item'), () => true), [], 'e') as Uint8Array[], error: true },
      { segments: encodePayload(new Float64Array(4096).fill(2), [], 'r') as Uint8Array[], error: false },
    ]);
    const out = readResult(frame(FrameType.Result, 9, segments, FrameFlag.Batch), []);
    if (out instanceof Promise || !out.ok) throw new Error('a sync, ok chunk outcome expected');
    const items = out.value as { ok: boolean; value?: unknown; error?: Error }[];
    expect(items).toHaveLength(3);
    expect(items[0]).toEqual({ ok: true, value: { a: 1 } });
    expect(items[1]!.ok).toBe(false);
    expect(items[1]!.error!.message).toMatch(/bad item/);
    expect((items[2]!.value as Float64Array)[4095]).toBe(2);
  });

  it('reads a chunk sent as one array of values as one outcome per item; a non-array fails the chunk', () => {
    const whole = readResult(frame(FrameType.Result, 12, batchWholeSegments(encodePayload([1, 'two', { three: 3 }], [], 'r') as Uint8Array[]), FrameFlag.Batch), []);
    if (whole instanceof Promise || !whole.ok) throw new Error('a sync, ok chunk outcome expected');
    expect(whole.value).toEqual([
      { ok: true, value: 1 },
      { ok: true, value: 'two' },
      { ok: true, value: { three: 3 } },
    ]);
    const notArray = readResult(frame(FrameType.Result, 13, batchWholeSegments(encodePayload({ a: 1 }, [], 'r') as Uint8Array[]), FrameFlag.Batch), []);
    if (notArray instanceof Promise) throw new Error('sync expected');
    expect(notArray.ok).toBe(false);
    // A whole-chunk entry beside per-item entries is malformed.
    const [table, ...payload] = batchWholeSegments(encodePayload([1], [], 'r') as Uint8Array[]);
    const mixed = new Uint8Array(8);
    mixed.set(table!, 0);
    mixed.set(table!, 4);
    const out = readResult(frame(FrameType.Result, 14, [mixed, ...payload, ...payload], FrameFlag.Batch), []);
    if (out instanceof Promise) throw new Error('sync expected');
    expect(out.ok).toBe(false);
  });

  it('fails the whole chunk, not the host, when the item table is garbage', () => {
    const out = readResult(frame(FrameType.Result, 10, [new Uint8Array([255, 255, 255, 255])], FrameFlag.Batch), []);
    if (out instanceof Promise) throw new Error('sync expected');
    expect(out.ok).toBe(false);
  });
});
