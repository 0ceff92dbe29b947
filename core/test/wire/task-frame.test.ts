import { describe, expect, it } from 'vitest';
import { DeserializationError } from '../../src/errors.js';
import { frame, FrameType } from '../../src/wire/frame.js';
import { buildTaskFrame, decodeTaskParams } from '../../src/wire/task-frame.js';
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
});
