/**
 * Chaos for thread daemons (@mirai-ts/threads): threads die under their tasks (a task that
 * calls `process.exit()` ends its thread) and are terminated for stuck tasks that time out,
 * while other tasks sit prefetched in their rings. Every task settles, each as it should, and
 * the pool heals. A thread killed by the task it runs is replaced at once (a poison task is not
 * a crash loop): about 9 deaths here, 22 with MIRAI_CHAOS_LONG=1.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionResetError, daemons, mirai, status, TimeoutError, type Mirai } from '@mirai-ts/core';
import { threadDaemons } from '@mirai-ts/threads';
import { waitFor } from '../helpers/wait.js';

const LONG = process.env.MIRAI_CHAOS_LONG === '1';

describe('chaos: thread daemons', () => {
  afterEach(async () => {
    await daemons(0);
  });

  it('threads that die or are terminated under their tasks, with tasks prefetched: every task settles as it should, the pool heals', async () => {
    await daemons(2, { ...threadDaemons(), prefetch: 4, cancelGrace: 50, log: () => {} });
    const n = LONG ? 5_000 : 1_000;
    // Spread over the run, so prefetched tasks of every kind sit behind them.
    const every = (step: number, from: number): Set<number> => new Set(Array.from({ length: Math.floor((n - from) / step) + 1 }, (_, k) => from + k * step).filter((i) => i < n));
    const poison = every(LONG ? 400 : 200, 40);
    const stuck = every(LONG ? 600 : 300, 170);
    const tasks: Mirai<unknown>[] = [];
    for (let i = 0; i < n; i++) {
      if (poison.has(i)) {
        tasks.push(mirai(async () => {
          await new Promise((r) => setTimeout(r, 2));
          process.exit(1); // ends this thread only
        }));
      } else if (stuck.has(i)) {
        tasks.push(mirai(() => {
          for (;;) {
            // only terminating the thread ends this
          }
        }, undefined, { timeout: 100 }));
      } else {
        // Run again when their thread is lost: whatever was prefetched with a dying task must still succeed.
        tasks.push(mirai(async ({ i }: { i: number }) => {
          await new Promise((r) => setTimeout(r, 1));
          return i;
        }, { i }, { retry: 20 }));
      }
    }
    const settled = await waitFor(() => tasks.every((m) => !m.unresolved), LONG ? 240_000 : 90_000, 50);
    const pending = tasks.filter((m) => m.unresolved).length;
    expect(pending, `${pending} of ${n} tasks still pending`).toBe(0);
    expect(settled).toBe(true);
    for (const [i, m] of tasks.entries()) {
      if (poison.has(i)) expect(m.error, `task ${i}`).toBeInstanceOf(ConnectionResetError);
      else if (stuck.has(i)) expect(m.error, `task ${i}`).toBeInstanceOf(TimeoutError);
      else expect(m.data, `task ${i}`).toBe(i);
    }
    // Tasks prefetched beside a dying one were run again, not lost.
    expect(tasks.some((m) => m.retries > 0)).toBe(true);
    expect(await waitFor(() => status()!.connections === 2, 60_000)).toBe(true);
    expect(await mirai(() => 'after the storm')).toBe('after the storm');
  }, 300_000);
});
