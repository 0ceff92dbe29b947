/**
 * `miraiMap(items, fn, { chunk })` with real daemons: every item gets its own mirai and its own
 * outcome, one item's error fails only that item, cancellation is per item, a timeout stops the
 * chunk, and a sync profile runs one task per item.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CancelledError, ConfigError, daemons, MiraiError, miraiMap, TimeoutError } from '@mirai-ts/core';

describe('chunked maps', () => {
  afterEach(async () => {
    await daemons(0);
  });

  it('returns every item in order, errors in place, with shared args', async () => {
    await daemons(2);
    const items = Array.from({ length: 1000 }, (_, i) => i);
    const out = await miraiMap(items, (x: number, { k }: { k: number }) => {
      if (x === 500) throw new RangeError('item 500');
      if (x === 600) return () => 'not sendable';
      return x * k;
    }, { args: { k: 3 }, chunk: 64 });
    expect(out).toHaveLength(1000);
    expect(out[0]).toBe(0);
    expect(out[999]).toBe(2997);
    expect(out[499]).toBe(1497);
    expect(out[500]).toBeInstanceOf(MiraiError);
    expect((out[500] as MiraiError).message).toMatch(/item 500/);
    expect(out[600]).toBeInstanceOf(MiraiError);
    expect(out[601]).toBe(1803);
  });

  it('awaits async items one after another and keeps object keys', async () => {
    await daemons(1);
    const out = await miraiMap({ a: 1, b: 2, c: 3 }, async (x: number) => {
      await new Promise((r) => setTimeout(r, 5));
      return x * 10;
    }, { chunk: 2 });
    expect(out).toEqual({ a: 10, b: 20, c: 30 });
  });

  it('cancels per item; a chunk is stopped once all its items are cancelled; a timeout fails a chunk', async () => {
    await daemons(1);
    const mp = miraiMap([1, 2, 3, 4], (x: number) => new Promise((r) => setTimeout(() => r(x), 100)), { chunk: 2 });
    expect(mp.items[1]!.cancel('one')).toBe(true);
    const out = await mp;
    expect(out[0]).toBe(1);
    expect(out[1]).toBeInstanceOf(CancelledError);
    expect(out.slice(2)).toEqual([3, 4]);
    const timed = await miraiMap([1, 2, 3], (x: number) => new Promise((r) => setTimeout(() => r(x), 400)), { chunk: 3, timeout: 100 });
    for (const v of timed) expect(v).toBeInstanceOf(TimeoutError);
    expect(await miraiMap([5], (x: number) => x, { chunk: 8 })).toEqual([5]);
  });

  it('rejects a bad chunk with a ConfigError, and runs per item on a sync profile', async () => {
    await daemons(1);
    for (const bad of [0, 1.5, '4']) expect(() => miraiMap([1], (x: number) => x, { chunk: bad as number })).toThrow(ConfigError);
    await daemons(0);
    await daemons(1, { sync: true });
    expect(await miraiMap([1, 2, 3], (x: number) => x + 1, { chunk: 2 })).toEqual([2, 3, 4]);
  });
});
