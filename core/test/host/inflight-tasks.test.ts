/** The tasks in flight to one daemon: sending order kept through in-order and out-of-order answers. */
import { describe, expect, it } from 'vitest';
import type { HostTask } from '../../src/host/host-task.js';
import { InflightTasks } from '../../src/host/inflight-tasks.js';

const task = (id: number): HostTask => ({ id }) as HostTask;
const ids = (tasks: InflightTasks): number[] => tasks.values().map((t) => t.id);

describe('InflightTasks', () => {
  it('hands back the answered task and keeps the rest in sending order, answered in order', () => {
    const inflight = new InflightTasks();
    // Many rounds of a few tasks: the ring wraps around its slots again and again.
    let next = 1;
    for (let round = 0; round < 50; round++) {
      const sent = [next++, next++, next++];
      for (const id of sent) inflight.add(task(id));
      expect(inflight.size).toBe(3);
      expect(inflight.first()?.id).toBe(sent[0]);
      for (const id of sent) {
        expect(inflight.take(id)?.id).toBe(id);
        expect(inflight.has(id)).toBe(false);
      }
      expect(inflight.size).toBe(0);
      expect(inflight.first()).toBeUndefined();
    }
  });

  it('serves answers out of order without losing or reordering the others', () => {
    const inflight = new InflightTasks();
    for (let id = 1; id <= 3; id++) inflight.add(task(id));
    inflight.take(1); // the head moves on: the next tasks wrap around the end of the ring
    for (let id = 4; id <= 6; id++) inflight.add(task(id)); // grows past 4 slots while wrapped
    expect(ids(inflight)).toEqual([2, 3, 4, 5, 6]);
    expect(inflight.take(5)?.id).toBe(5);
    expect(ids(inflight)).toEqual([2, 3, 4, 6]);
    expect(inflight.take(6)?.id).toBe(6); // the last one
    expect(inflight.take(3)?.id).toBe(3);
    expect(ids(inflight)).toEqual([2, 4]);
    expect(inflight.first()?.id).toBe(2);
    inflight.add(task(7));
    expect(ids(inflight)).toEqual([2, 4, 7]);
    expect(inflight.ids()).toEqual([2, 4, 7]);
  });

  it('answers undefined for a task it does not hold, and changes nothing', () => {
    const inflight = new InflightTasks();
    expect(inflight.take(1)).toBeUndefined();
    inflight.add(task(1));
    expect(inflight.take(2)).toBeUndefined();
    expect(inflight.take(1)?.id).toBe(1);
    expect(inflight.take(1)).toBeUndefined(); // answered twice
    expect(inflight.size).toBe(0);
  });

  it('holds any number of tasks (a large prefetch), and clears', () => {
    const inflight = new InflightTasks();
    for (let id = 1; id <= 1000; id++) inflight.add(task(id));
    expect(inflight.size).toBe(1000);
    expect(ids(inflight)).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    // values() is a copy: taking tasks while walking it is safe.
    for (const t of inflight.values()) if (t.id % 2 === 0) inflight.take(t.id);
    expect(ids(inflight)).toEqual(Array.from({ length: 500 }, (_, i) => 2 * i + 1));
    inflight.clear();
    expect(inflight.size).toBe(0);
    expect(inflight.values()).toEqual([]);
    inflight.add(task(9));
    expect(ids(inflight)).toEqual([9]);
  });
});
