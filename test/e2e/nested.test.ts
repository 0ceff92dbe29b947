/**
 * Tasks that use mirai-ts themselves: a nested mirai() failing comes back as a TaskError whose
 * cause is the inner error in its own class, with its frames; nested maps and nested daemons
 * work; local daemons(n) from inside a map task is refused, as in mirai.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, daemons, mirai, miraiMap, TaskError, TimeoutError } from '@mirai-ts/core';

// Tasks import the package by a name held in a variable: vitest rewrites a literal
// `import('@mirai-ts/core')` in this file to the package's TypeScript source path, which a
// daemon (plain Node) cannot load. Code that vitest does not transform needs no such care.

afterEach(async () => {
  await daemons(0);
});

describe('nested use of mirai-ts', () => {
  it('a nested mirai() that times out: TaskError caused by a TimeoutError with its frames', async () => {
    await daemons(1);
    const m = mirai(async () => {
      const { mirai: inner } = await import(`${'@mirai-ts'}/core`);
      // No daemons on the daemon: the inner task runs in a one-off process and times out.
      return await inner(() => new Promise((r) => setTimeout(r, 5_000)), undefined, { timeout: 50 });
    });
    const err = await m.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TaskError);
    const cause = (err as TaskError).cause;
    expect(cause).toBeInstanceOf(TimeoutError);
    expect((cause as TimeoutError).errorValue).toBe(5);
    expect((err as TaskError).errorValue).not.toBe(5); // the outer task failed; it did not time out
    // The inner error's frames sit in the daemon's copy of the package: they are kept.
    const frames = ((cause as Error).stack ?? '').split('\n').filter((l) => /^\s+at /.test(l));
    expect(frames.length).toBeGreaterThan(0);
  });

  it('a nested daemons() refused with a ConfigError keeps its class, message and frames', async () => {
    await daemons(1);
    const err = await mirai(async () => {
      const { daemons: inner } = await import(`${'@mirai-ts'}/core`);
      await inner('3' as unknown as number);
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TaskError);
    const cause = (err as TaskError).cause as ConfigError;
    expect(cause).toBeInstanceOf(ConfigError);
    expect(cause.message).toMatch(/got the string '3'/);
    expect(cause.stack).toMatch(/\n\s+at .*daemons/);
  });

  it('nested maps and nested daemons: a task listens on a URL and launches its own daemons', async () => {
    await daemons(2);
    const sums = await miraiMap([1, 2], async (k: number) => {
      const core = await import(`${'@mirai-ts'}/core`);
      await core.daemons({ url: core.localUrl() });
      try {
        await core.launchLocal(2);
        const inner = await core.miraiMap([1, 2, 3], (x: number, kk: number) => x * kk, { args: k }).flat();
        return { sum: (inner as number[]).reduce((a: number, b: number) => a + b, 0), connections: core.status()?.connections };
      } finally {
        await core.daemons(0);
      }
    }).flat();
    expect(sums).toEqual([
      { sum: 6, connections: 2 },
      { sum: 12, connections: 2 },
    ]);
  });

  it('local daemons(n) from inside a map task is refused; from a plain mirai() task it works', async () => {
    await daemons(1);
    const results = await miraiMap([1], async () => {
      const core = await import(`${'@mirai-ts'}/core`);
      await core.daemons(2);
    });
    const err = results[0];
    expect(err).toBeInstanceOf(TaskError);
    expect((err as TaskError).cause).toBeInstanceOf(ConfigError);
    expect(((err as TaskError).cause as Error).message).toMatch(/cannot launch local daemons from inside a miraiMap\(\) task.*launchLocal\(n\)/);
    // Items of a chunked map are map elements too.
    const chunked = await miraiMap([1, 2, 3], async () => {
      const core = await import(`${'@mirai-ts'}/core`);
      await core.daemons(2);
    }, { chunk: 3 });
    for (const item of chunked) expect(((item as TaskError).cause as Error).message).toMatch(/inside a miraiMap\(\) task/);
    const n = await mirai(async () => {
      const core = await import(`${'@mirai-ts'}/core`);
      await core.daemons(1);
      try {
        return await core.mirai(() => 40 + 2);
      } finally {
        await core.daemons(0);
      }
    });
    expect(n).toBe(42);
  });
});
