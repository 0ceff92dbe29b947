/**
 * Prefetch (`daemons(n, { prefetch: k })`) with real daemon processes: every task settles
 * with its own value, a cancelled prefetched task leaves its daemon alone, and a daemon killed
 * with prefetched tasks re-runs them elsewhere (`retry`).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CancelledError, daemons, mirai, status, TimeoutError } from '@mirai-ts/core';

describe('prefetch with real daemons', () => {
  afterEach(async () => {
    await daemons(0);
  });

  it('runs many tiny tasks with k in flight per daemon, each settling with its own value', async () => {
    await daemons(2, { prefetch: 16 });
    const ms = Array.from({ length: 2000 }, (_, i) => mirai(({ i }: { i: number }) => i * 2, { i }));
    const values = await Promise.all(ms);
    expect(values).toEqual(Array.from({ length: 2000 }, (_, i) => i * 2));
    expect(status()?.dispatcher).toBe(true);
    expect(status()?.executing).toBe(0);
  });

  it("a prefetching profile's daemons are started with --spin=0 (no poll for the next task) unless spin is given", async () => {
    const spinArgs = async (options: { prefetch?: number; spin?: number }): Promise<string[]> => {
      await daemons(1, options);
      const args = await mirai(() => process.argv.filter((a) => a.startsWith('--spin')));
      await daemons(0);
      return args;
    };
    expect(await spinArgs({ prefetch: 4 })).toEqual(['--spin=0']);
    expect(await spinArgs({ prefetch: 4, spin: 200 })).toEqual(['--spin=200']);
    expect(await spinArgs({})).toEqual([]); // the daemon's default poll
  });

  it('cancels a task waiting behind a slow one without replacing the daemon', async () => {
    await daemons(1, { prefetch: 4, cancelGrace: 50 });
    const pid = status()!.daemons[0]!.pid;
    const slow = mirai(() => new Promise((r) => setTimeout(() => r('slow'), 300)));
    const waiting = mirai(() => 'never');
    const next = mirai(() => 'next');
    await new Promise((r) => setTimeout(r, 50));
    expect(waiting.cancel('stop')).toBe(true);
    await expect(Promise.resolve(waiting)).rejects.toBeInstanceOf(CancelledError);
    expect(await slow).toBe('slow');
    expect(await next).toBe('next');
    expect(status()!.daemons.map((d) => d.pid)).toEqual([pid]);
  });

  it('tasks queued on a daemon behind a stuck cancelled one run on its replacement: the host ended it, they never started', async () => {
    await daemons(1, { prefetch: 4, cancelGrace: 50 });
    const first = status()!.daemons[0]!.pid!;
    const stuck = mirai(() => {
      for (;;);
    }, undefined, { timeout: 200 });
    const behind = [1, 2, 3].map((i) => mirai(({ i }: { i: number }) => ({ i, pid: process.pid }), { i }));
    await expect(Promise.resolve(stuck)).rejects.toBeInstanceOf(TimeoutError);
    // No retry was asked for, and none is spent: they never ran on the ended daemon.
    const values = await Promise.all(behind);
    expect(values.map((v) => v.i)).toEqual([1, 2, 3]);
    expect(values.every((v) => v.pid !== first)).toBe(true);
  });

  it('re-runs the prefetched tasks of a killed daemon, in order, with retry', async () => {
    await daemons(1, { prefetch: 4 });
    const first = status()!.daemons[0]!.pid!;
    const order: number[] = [];
    const kill = mirai(({ pid }: { pid: number }) => {
      if (process.pid === pid) process.kill(pid, 'SIGKILL');
      return 'survived';
    }, { pid: first }, { retry: 1 });
    const rest = [1, 2, 3].map((i) => mirai(({ i }: { i: number }) => ({ i, pid: process.pid }), { i }, { retry: 1 }));
    for (const m of rest) void Promise.resolve(m).then((v) => order.push(v.i));
    expect(await kill).toBe('survived');
    const values = await Promise.all(rest);
    expect(values.map((v) => v.i)).toEqual([1, 2, 3]);
    expect(values.every((v) => v.pid !== first)).toBe(true);
    expect(order).toEqual([1, 2, 3]);
  });
});
