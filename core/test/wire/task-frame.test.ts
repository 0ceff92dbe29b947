import { describe, expect, it } from 'vitest';
import { DeserializationError } from '../../src/errors.js';
import { frame, FrameType } from '../../src/wire/frame.js';
import { buildTaskFrame, decodeTaskParams, readTraceContext, traceSegment } from '../../src/wire/task-frame.js';
import type { Frame } from '../../src/wire/frame.js';

const table = (...counts: number[]): Uint8Array => new Uint8Array(new Uint32Array(counts).buffer);

describe('task frames', () => {
  it('decode the parameters they were built with, for fresh closures of the same source too', () => {
    for (let i = 0; i < 3; i++) {
      const f = buildTaskFrame(FrameType.Task, i + 1, (x: number) => x, [{ value: { n: i }, name: 'args' }, { value: 'second', name: 'more' }], []) as Frame;
      expect(decodeTaskParams(f, [])).toEqual([{ n: i }, 'second']);
    }
  });

  it('refuse a parameter table that lists more parameters than the frame has segments, before allocating for them', () => {
    const f = buildTaskFrame(FrameType.Task, 1, () => 1, [{ value: 1, name: 'args' }], []) as Frame;
    const lying = frame(FrameType.Task, 1, [f.segments[0]!, table(...new Array<number>(1000).fill(0)), ...f.segments.slice(2)]);
    expect(() => decodeTaskParams(lying, [])).toThrow(DeserializationError);
    expect(() => decodeTaskParams(lying, [])).toThrow(/lists 1000 parameters for 2 segments/);
    const outOfRange = frame(FrameType.Task, 1, [f.segments[0]!, table(7), ...f.segments.slice(2)]);
    expect(() => decodeTaskParams(outOfRange, [])).toThrow(/out of range/);
  });

  it('carry trace context in 26 bytes and back, every hex digit and the state intact', () => {
    const traceparent = '0f-0123456789abcdeffedcba9876543210-a1b2c3d4e5f60789-01';
    const segment = traceSegment({ traceparent, tracestate: 'vendor=x,other=y' });
    expect(Buffer.from(segment.subarray(0, 26)).toString('hex')).toBe(traceparent.replaceAll('-', ''));
    const f = buildTaskFrame(FrameType.Task, 1, () => 1, [{ value: 1, name: 'args' }], [], { trace: { traceparent, tracestate: 'vendor=x,other=y' } }) as Frame;
    expect(readTraceContext(f)).toEqual({ traceparent, tracestate: 'vendor=x,other=y' });
    // A malformed header from a direct caller puts zeros on the wire, never stale memory.
    for (const traceparent of ['x'.repeat(55), 'short']) expect([...traceSegment({ traceparent })].every((b) => b === 0)).toBe(true);
  });
});
