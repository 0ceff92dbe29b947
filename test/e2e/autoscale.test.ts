/**
 * Autoscaling and crash budgets with real local daemon processes: a burst scales 0 → max and
 * back, every task runs exactly once; a daemon command that fails backs off; a task that runs
 * a small daemon out of memory escalates to a bigger profile.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CrashLimitError, daemons, everywhere, mirai, miraiMap, scale, status, type ScaleDecision } from '@mirai-ts/core';
import { alive, waitFor } from '../helpers/wait.js';

const quiet = (): void => {};

describe('autoscaling with local daemons', () => {
  afterEach(async () => {
    await daemons(0);
    await daemons(0, { profile: 'small' });
    await daemons(0, { profile: 'bigger' });
  });

  it('scales a burst of 2 000 tasks from 0 to max in one launch call, runs each once, and returns to 0 after idle', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mirai-autoscale-'));
    const file = join(dir, 'ran.txt');
    try {
      const decisions: ScaleDecision[] = [];
      await daemons({ autoscale: { min: 0, max: 4, idle: 300, throttle: 50, onScale: (d) => decisions.push(d) }, log: quiet });
      expect(status()!.connections).toBe(0);
      const pids = new Set<number>();
      let peak = 0;
      const watch = setInterval(() => {
        const s = status();
        if (s === undefined) return;
        peak = Math.max(peak, s.connections);
        for (const d of s.daemons) if (d.pid !== undefined) pids.add(d.pid);
      }, 10);
      const tasks = Array.from({ length: 2_000 }, (_, id) =>
        mirai(
          async ({ id, file }) => {
            (await import('node:fs')).appendFileSync(file, `${id}\n`);
            return id;
          },
          { id, file },
        ),
      );
      const values = await Promise.all(tasks);
      expect(values).toEqual(tasks.map((_, i) => i));
      const ran = readFileSync(file, 'utf8').trim().split('\n').map(Number);
      expect(ran).toHaveLength(2_000);
      expect(new Set(ran).size).toBe(2_000); // none twice, none missing
      expect(await waitFor(() => status()!.connections === 0, 10_000)).toBe(true);
      clearInterval(watch);
      expect(peak).toBe(4);
      const s = status()!.autoscale!;
      expect(s.launchCalls).toBeLessThanOrEqual(3);
      expect(s).toMatchObject({ target: 0, connected: 0, launching: 0, failures: 0 });
      expect(decisions.filter((d) => d.action === 'launch').reduce((n, d) => n + d.count, 0)).toBe(4);
      expect(decisions.filter((d) => d.action === 'retire').reduce((n, d) => n + d.count, 0)).toBe(4);
      // Retired daemons left: nothing replaced them, and no process is left.
      expect(status()!.cumulative).toBe(4);
      expect(pids.size).toBe(4);
      expect(await waitFor(() => [...pids].every((pid) => !alive(pid)), 5_000)).toBe(true);
      // A later task scales up again.
      expect(await mirai(() => 'again')).toBe('again');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('counts launches whose daemon command fails, backs off, and does not loop', async () => {
    const lines: string[] = [];
    // A node flag that does not exist: every daemon process exits before it connects.
    await daemons({ autoscale: { max: 2, throttle: 0 }, nodeOptions: ['--no-such-node-flag'], log: (_l, m) => lines.push(m) });
    const m = mirai(() => 1);
    expect(await waitFor(() => (status()!.autoscale?.failures ?? 0) >= 3, 10_000)).toBe(true);
    const s = status()!.autoscale!;
    // 0.25 s, then 0.5 s, then 1 s between attempts: a handful of launch calls, not hundreds.
    expect(s.launchCalls).toBeLessThanOrEqual(s.failures + 1);
    expect(s.launchCalls).toBeLessThan(6);
    expect(s.lastError).toMatch(/before connecting[^]*no-such-node-flag/);
    expect(s.retryAt).toBeDefined();
    expect(lines.some((l) => /autoscaling could not start 1 daemon\(s\)/.test(l))).toBe(true);
    expect(m.unresolved).toBe(true);
    await daemons(0);
    expect(m.unresolved).toBe(false);
  });

  it('backs off from daemons that connect and die soon after: the failures in a row keep counting', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mirai-autoscale-'));
    const preload = join(dir, 'die-soon.cjs');
    writeFileSync(preload, 'setTimeout(() => process.exit(3), 700);\n');
    try {
      await daemons({ autoscale: { min: 1, max: 1, throttle: 0 }, nodeOptions: [`--require=${preload}`], log: quiet });
      // Connecting is no proof the crash loop is over: only a daemon that answers (or lives) ends it.
      expect(await waitFor(() => (status()!.autoscale?.failures ?? 0) >= 3, 20_000)).toBe(true);
      const s = status()!.autoscale!;
      expect(s.lastError).toMatch(/ms after connecting/);
      expect(s.retryAt).toBeDefined();
    } finally {
      await daemons(0);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses daemons(n, { autoscale }) before resetting the running profile', async () => {
    await daemons({ log: quiet }); // listen only: the task waits in the queue
    const m = mirai(() => 1);
    await expect(daemons(2, { autoscale: { max: 2 }, log: quiet })).rejects.toThrow(/give the number of daemons as autoscale\.min\/max, not n/);
    expect(status()).toBeDefined();
    expect(status()!.awaiting).toBe(1);
    expect(m.unresolved).toBe(true);
  });

  it('scale(n) sets a running profile by hand', async () => {
    const h = await daemons(1, { log: quiet });
    scale(3);
    expect(await waitFor(() => h.connections === 3, 10_000)).toBe(true);
    scale(1);
    expect(await waitFor(() => h.connections === 1, 10_000)).toBe(true);
    expect(status()!.autoscale).toMatchObject({ mode: 'manual', target: 1, launchCalls: 1 });
    expect(await mirai(() => 2)).toBe(2);
  });

  it('scale(n) while daemons(m) is still launching counts those daemons: no more than n are started', async () => {
    const start = daemons(2, { log: quiet });
    expect(await waitFor(() => status() !== undefined, 5_000, 1)).toBe(true);
    scale(3);
    await start;
    expect(await waitFor(() => status()!.connections === 3, 10_000)).toBe(true);
    await new Promise((r) => setTimeout(r, 500));
    expect(status()!.cumulative).toBe(3); // not 2 + 3, the extra two retired
  });

  it('everywhere({ min }) on an autoscaled profile with no daemons starts the daemons it waits for', async () => {
    await daemons({ autoscale: { min: 0, max: 3, idle: 200, throttle: 0 }, log: quiet });
    const copies = await everywhere(() => 'set up', undefined, { min: 2 });
    expect(copies).toHaveLength(2);
    expect(status()!.connections).toBe(2);
    // Then they are idle above the target (0), and leave.
    expect(await waitFor(() => status()!.connections === 0, 10_000)).toBe(true);
  });

  it('scale(n) down under a backlog: daemons above n leave as they answer, not once the queue is empty', async () => {
    const h = await daemons(3, { log: quiet });
    const tasks = Array.from({ length: 30 }, () => mirai(() => new Promise((resolve) => setTimeout(() => resolve(1), 100))));
    scale(1);
    expect(await waitFor(() => h.connections === 1, 5_000, 5)).toBe(true);
    expect(status()!.awaiting).toBeGreaterThan(10); // the backlog was still there
    expect(await Promise.all(tasks)).toEqual(Array.from({ length: 30 }, () => 1));
  });

  it('escalates a task that runs a small daemon out of memory to the bigger profile, where it succeeds', async () => {
    await daemons(1, { profile: 'small', nodeOptions: ['--max-old-space-size=32'], log: quiet });
    await daemons(1, { profile: 'bigger', log: quiet });
    const hog = (): number => {
      const keep: { i: number; s: string }[] = [];
      for (let i = 0; i < 1_500_000; i++) keep.push({ i, s: `item ${i}` });
      return keep.length;
    };
    const m = mirai(hog, {}, { profile: 'small', crashesMax: 1, escalate: 'bigger' });
    expect(await m).toBe(1_500_000);
    expect(status('bigger')!.daemons[0]!.completed).toBe(1);
    // Without escalation the same task fails with its crash history.
    const failed = await mirai(hog, {}, { profile: 'small', crashesMax: 1 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(failed).toBeInstanceOf(CrashLimitError);
    expect((failed as CrashLimitError).crashes).toHaveLength(1);
    expect((failed as CrashLimitError).crashes[0]!.pid).toBeTypeOf('number');
  }, 60_000);

  it('miraiMap() gives each element the crash budget and escalation mirai() gives a task', async () => {
    await daemons(1, { profile: 'small', nodeOptions: ['--max-old-space-size=64'], log: quiet });
    await daemons(1, { profile: 'bigger', log: quiet });
    // Element 2 takes down any daemon of the small profile (its flag), and runs on the bigger one.
    const task = (x: number): number => {
      if (x === 2 && process.execArgv.includes('--max-old-space-size=64')) process.exit(1);
      return x * 10;
    };
    expect(await miraiMap([1, 2], task, { profile: 'small', crashesMax: 1, escalate: 'bigger' }).flat()).toEqual([10, 20]);
    expect(status('bigger')!.daemons[0]!.completed).toBe(1);
    expect(() => miraiMap([1], task, { profile: 'small', escalate: 'nope' })).toThrow(/escalate: no daemons are set for profile 'nope'/);
    expect(() => miraiMap([1, 2], task, { profile: 'small', crashesMax: 2, chunk: 2 })).toThrow(/cannot be combined with chunk \(got chunk 2\)/);
  }, 60_000);
});
