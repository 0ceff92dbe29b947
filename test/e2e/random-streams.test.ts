/**
 * `seed`: the same numbers whatever runs the tasks (1 or 4 daemons, FIFO or direct, ipc or
 * tcp, sync mode), different seeds give different numbers, and without a seed each daemon
 * has a stream of its own.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { daemons, everywhere, mirai, miraiMap, type DaemonsOptions } from '@mirai-ts/core';

afterEach(async () => {
  await daemons(0);
});

const ITEMS = Array.from({ length: 12 }, (_, i) => i + 1);

async function draws(n: number, options: DaemonsOptions): Promise<number[]> {
  await daemons(n, options);
  try {
    return await miraiMap(ITEMS, () => Math.random()).flat();
  } finally {
    await daemons(0);
  }
}

describe('seed', () => {
  it('gives identical Math.random() results on 1 or 4 daemons, FIFO or direct, ipc or tcp', async () => {
    const reference = await draws(1, { seed: 1234 });
    expect(new Set(reference).size).toBe(12);
    expect(reference.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(await draws(4, { seed: 1234 })).toEqual(reference);
    expect(await draws(4, { seed: 1234, dispatcher: false })).toEqual(reference);
    expect(await draws(2, { seed: 1234, url: 'tcp://127.0.0.1:0' })).toEqual(reference);
    expect(await draws(3, { seed: 1234, url: 'tcp://127.0.0.1:0', dispatcher: false })).toEqual(reference);
    // Sync mode runs the task in this process, with the same streams.
    await daemons({ sync: true, seed: 1234 });
    expect(await miraiMap(ITEMS, () => Math.random()).flat()).toEqual(reference);
  });

  it('gives each item of a chunked map the numbers it gets as a task of its own', async () => {
    const reference = await draws(1, { seed: 4321 });
    await daemons(2, { seed: 4321 });
    // 12 items in chunks of 5: 5 + 5 + 2, each item on its own stream inside its chunk.
    expect(await miraiMap(ITEMS, () => [Math.random(), Math.random()], { chunk: 5 }).flat()).toEqual(
      await (async () => {
        await daemons(3, { seed: 4321 });
        return miraiMap(ITEMS, () => [Math.random(), Math.random()]).flat();
      })(),
    );
    await daemons(2, { seed: 4321, url: 'tcp://127.0.0.1:0' });
    expect(await miraiMap(ITEMS, () => Math.random(), { chunk: 4 }).flat()).toEqual(reference);
    // A task after the map takes the stream after the map's 12.
    const next = await mirai(() => Math.random());
    await daemons(1, { seed: 4321 });
    await miraiMap(ITEMS, () => 0).flat();
    expect(await mirai(() => Math.random())).toBe(next);
  });

  it('differs between seeds, and context.random() draws from the same stream as Math.random()', async () => {
    const a = await draws(2, { seed: 1 });
    const b = await draws(2, { seed: 2 });
    expect(a.filter((x, i) => x === b[i])).toEqual([]);
    await daemons(2, { seed: 1 });
    const viaContext = await miraiMap(ITEMS, (_i: number, _a: unknown, ctx) => ctx.random()).flat();
    expect(viaContext).toEqual(a);
  });

  it('everywhere() takes no stream: tasks draw the same with or without it', async () => {
    const plain = await draws(2, { seed: 9 });
    await daemons(2, { seed: 9 });
    await everywhere(() => Math.random());
    const after = await miraiMap(ITEMS, () => Math.random()).flat();
    expect(after).toEqual(plain);
  });

  it('mirai() calls take streams in submission order; integers and normals come from it too', async () => {
    await daemons(2, { seed: 77 });
    const first = await Promise.all([0, 1, 2].map(() => mirai((_a: undefined, ctx) => [ctx.randomInt(1, 6), ctx.randomNormal(), Math.random()])));
    await daemons(3, { seed: 77, dispatcher: false });
    const again = await Promise.all([0, 1, 2].map(() => mirai((_a: undefined, ctx) => [ctx.randomInt(1, 6), ctx.randomNormal(), Math.random()])));
    expect(again).toEqual(first);
    for (const [die] of first) expect(Number.isInteger(die) && die! >= 1 && die! <= 6).toBe(true);
  });

  it('restores Math.random after a seeded task, and without a seed gives each daemon its own stream', async () => {
    await daemons(1, { seed: 5 });
    const isNative = (): boolean => Math.random.toString().includes('native code');
    const replaced = await mirai(async () => {
      const during = Math.random.toString().includes('native code');
      await new Promise((r) => setTimeout(r, 5)); // still the task's stream after an await
      return [during, Math.random.toString().includes('native code')];
    });
    expect(replaced).toEqual([false, false]);
    // everywhere() has no stream of its own: on the same daemon it sees the native one again.
    expect(await everywhere(isNative)).toEqual([true]);
    await daemons(2);
    const rows = await everywhere((_a: undefined, ctx) => ({ id: ctx.daemonId, r: ctx.random(), native: Math.random.toString().includes('native code') }));
    expect(rows).toHaveLength(2);
    expect(rows.every((r) => r.native)).toBe(true);
    expect(rows[0]!.r).not.toBe(rows[1]!.r);
  });

  it('is checked: a seed must be a whole number', async () => {
    await expect(daemons(1, { seed: 1.5 })).rejects.toThrow(/option 'seed' must be a whole number.*got 1\.5/);
    await expect(daemons(1, { seed: '42' as unknown as number })).rejects.toThrow(/'seed'.*got '42' \(a string\)/);
  });
});
