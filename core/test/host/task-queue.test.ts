import { describe, expect, it } from 'vitest';
import { TaskQueue } from '../../src/host/task-queue.js';

describe('task queue', () => {
  it('is FIFO, removes in O(1) and survives compaction', () => {
    const q = new TaskQueue<{ n: number; queuePosition: number }>();
    const items = Array.from({ length: 5000 }, (_, n) => ({ n, queuePosition: -1 }));
    items.forEach((i) => q.push(i));
    expect(q.remove(items[10]!)).toBe(true);
    expect(q.remove(items[10]!)).toBe(false);
    const out: number[] = [];
    for (let i = 0; i < 3000; i++) out.push(q.shift()!.n);
    expect(q.remove(items[4000]!)).toBe(true);
    expect(q.size).toBe(5000 - 1 - 3000 - 1);
    for (let item = q.shift(); item; item = q.shift()) out.push(item.n);
    expect(out).toHaveLength(4998);
    expect(out.includes(10) || out.includes(4000)).toBe(false);
    expect([...out].sort((a, b) => a - b)).toEqual(out);
  });

  it('pops the item pushed last, skipping removed ones, and shift still sees the rest in order', () => {
    const q = new TaskQueue<{ n: number; queuePosition: number }>();
    const items = [1, 2, 3, 4, 5].map((n) => ({ n, queuePosition: -1 }));
    items.forEach((i) => q.push(i));
    expect(q.pop()).toBe(items[4]);
    expect(q.remove(items[3]!)).toBe(true); // a hole at the end: pop skips it
    expect(q.pop()).toBe(items[2]);
    expect(q.has(items[2]!)).toBe(false);
    q.push(items[2]!); // pushed again: last once more, removable
    expect(q.remove(items[2]!)).toBe(true);
    expect([q.shift(), q.pop(), q.pop()]).toEqual([items[0], items[1], undefined]);
    expect(q.size).toBe(0);
  });

  it('puts a handed-back item first, and can still remove it', () => {
    const q = new TaskQueue<{ n: number; queuePosition: number }>();
    const [a, b, c, d] = [1, 2, 3, 4].map((n) => ({ n, queuePosition: -1 }));
    q.push(a!);
    q.push(b!);
    q.unshift(c!); // at the very front of a fresh queue
    expect(q.shift()).toBe(c);
    q.unshift(d!); // into the slot shift just freed
    expect(q.remove(a!)).toBe(true);
    expect([q.shift(), q.shift(), q.shift()]).toEqual([d, b, undefined]);
    expect(q.size).toBe(0);
  });
});
