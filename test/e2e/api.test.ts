import { spawnSync } from 'node:child_process';
import { getEventListeners } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  CancelledError,
  collectMirai,
  ConnectionResetError,
  daemons,
  everywhere,
  info,
  launchLocal,
  LaunchError,
  MapElementError,
  mirai,
  MiraiError,
  miraiMap,
  NoDaemonsError,
  onDaemon,
  raceMirai,
  remoteConfig,
  requireDaemons,
  status,
  stopMirai,
  TimeoutError,
  unresolved,
  withDaemons,
  type TaskContext,
} from '@mirai-ts/core';
import { alive, daemonChildren, waitFor } from '../helpers/wait.js';

const root = join(import.meta.dirname, '..', '..');
const sleepTask = async ({ ms, value }: { ms: number; value: unknown }) => {
  await new Promise((r) => setTimeout(r, ms));
  return value;
};

afterEach(async () => {
  await daemons(0);
  await daemons(0, { profile: 'cpu' });
  await daemons(0, { profile: 'gpu' });
});

describe('maps', () => {
  it('keeps the keys of a plain object and puts errors in place', async () => {
    await daemons(2);
    const mp = miraiMap({ a: 1, b: 0, c: 3 }, (x: number) => {
      if (x === 0) throw new Error('zero');
      return 10 / x;
    });
    const out = (await mp) as Record<string, number | MiraiError>;
    expect(Object.keys(out)).toEqual(['a', 'b', 'c']);
    expect(out.a).toBe(10);
    expect(out.b).toBeInstanceOf(MiraiError);
    expect((out.b as MiraiError).message).toBe('zero');
    expect(out.c).toBeCloseTo(10 / 3);
  });

  it('passes constant args and maps over an array of records', async () => {
    await daemons(2);
    const rows = [
      { x: 1, y: 2 },
      { x: 3, y: 4 },
    ];
    expect(await miraiMap(rows, (row: { x: number; y: number }, k: number) => (row.x + row.y) * k, { args: 10 }).flat()).toEqual([30, 70]);
  });

  it('flat() rejects with the failing index and cancels the rest', async () => {
    await daemons(1);
    const mp = miraiMap([1, 2, 3, 4], async (x: number) => {
      await new Promise((r) => setTimeout(r, 50));
      if (x === 2) throw new TypeError('bad two');
      return x;
    });
    const err = await mp.flat().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MapElementError);
    expect((err as MapElementError).key).toBe(1);
    expect((err as Error).message).toContain('In index: 1');
    expect(((err as Error).cause as Error).message).toBe('bad two');
    expect(mp.items[3]!.error).toBeInstanceOf(CancelledError);
    expect(unresolved(mp)).toBe(false);
  });

  it('yields results in completion order with for await', async () => {
    await daemons(2);
    const mp = miraiMap([300, 10], (ms: number) => new Promise((r) => setTimeout(() => r(ms), ms)));
    const order: number[] = [];
    for await (const [key] of mp) order.push(key);
    expect(order).toEqual([1, 0]);
  });

  it('draws a progress bar on stderr as results arrive', async () => {
    await daemons(2);
    const writes: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      writes.push(String(chunk));
      return true;
    });
    try {
      const out = await miraiMap([1, 2, 3, 4], (x: number) => x).progress();
      expect(out).toEqual([1, 2, 3, 4]);
    } finally {
      spy.mockRestore();
    }
    const text = writes.join('');
    expect(text).toContain('0/4 0%');
    expect(text).toContain('4/4 100%');
  });

  it('cancels a whole map with one AbortSignal', async () => {
    await daemons(1);
    const controller = new AbortController();
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(w.name);
    process.on('warning', onWarning);
    const mp = miraiMap(Array.from({ length: 50 }, (_, i) => i), (x: number) => new Promise((r) => setTimeout(() => r(x), 1_000)), {
      signal: controller.signal,
    });
    controller.abort('enough');
    const out = (await mp) as unknown[];
    process.off('warning', onWarning);
    expect(out.every((r) => r instanceof CancelledError)).toBe(true);
    expect(String(mp)).toBe('[object MiraiMap]');
    expect(warnings).not.toContain('MaxListenersExceededWarning');
  });

  it('needs daemons, and says how to start them', () => {
    expect(() => miraiMap([1], (x: number) => x)).toThrow(NoDaemonsError);
    expect(() => requireDaemons()).toThrow(/await daemons\(4\)/);
  });
});

describe('everywhere', () => {
  it('runs once per daemon before later tasks, survives cleanup, and reaches daemons that join later', async () => {
    await daemons(2);
    const pids = await everywhere(({ v }: { v: number }) => {
      (globalThis as Record<string, unknown>).setupValue = v;
      return process.pid;
    }, { v: 7 });
    expect(new Set(pids).size).toBe(2);
    await mirai(() => {
      (globalThis as Record<string, unknown>).scratch = 1;
    });
    const seen = await miraiMap([1, 2, 3, 4], () => [
      (globalThis as Record<string, unknown>).setupValue,
      typeof (globalThis as Record<string, unknown>).scratch,
    ]).flat();
    expect(seen).toEqual(Array(4).fill([7, 'undefined']));
    await launchLocal(1);
    const fromAll = await miraiMap([1, 2, 3, 4, 5, 6], async () => {
      await new Promise((r) => setTimeout(r, 100));
      return [process.pid, (globalThis as Record<string, unknown>).setupValue];
    }).flat();
    expect(new Set(fromAll.map(([pid]) => pid)).size).toBe(3);
    expect(fromAll.every(([, v]) => v === 7)).toBe(true);
  });
});

describe('cancellation and timeouts', () => {
  it('stops a task stuck in a synchronous loop and replaces its daemon, re-running everywhere()', async () => {
    await daemons(2);
    await everywhere(() => {
      (globalThis as Record<string, unknown>).ready = 'yes';
    });
    const bystander = mirai(async () => {
      await new Promise((r) => setTimeout(r, 500));
      return 'unharmed';
    });
    const stuck = mirai(() => {
      for (;;);
    });
    await waitFor(() => info()!.executing === 2);
    const started = Date.now();
    expect(stopMirai(stuck)).toBe(true);
    expect(stuck.error).toBeInstanceOf(CancelledError);
    expect(stuck.error!.errorValue).toBe(20);
    expect(await bystander).toBe('unharmed');
    // The profile keeps its size and the replacement is set up like the others.
    expect(await waitFor(() => status()!.cumulative === 3 && status()!.connections === 2, 5_000)).toBe(true);
    const ready = await miraiMap([1, 2], async () => {
      await new Promise((r) => setTimeout(r, 50));
      return (globalThis as Record<string, unknown>).ready;
    }).flat();
    expect(ready).toEqual(['yes', 'yes']);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('times out a synchronous loop with errorValue 5', async () => {
    await daemons(1);
    const m = mirai(
      () => {
        for (;;);
      },
      undefined,
      { timeout: 200 },
    );
    expect(await m.catch((e: unknown) => e)).toBeInstanceOf(TimeoutError);
    expect(await mirai(() => 'served again')).toBe('served again');
  });

  it('stops a whole list or map, last element first', async () => {
    await daemons(1);
    const list = [1, 2, 3].map((ms) => mirai(sleepTask, { ms: 2_000, value: ms }));
    expect(stopMirai(list)).toEqual([true, true, true]);
    expect(list.every((m) => m.error instanceof CancelledError)).toBe(true);
    const mp = miraiMap([1, 2], (x: number) => new Promise((r) => setTimeout(() => r(x), 2_000)));
    expect(stopMirai(mp)).toEqual([true, true]);
    expect(((await mp) as unknown[]).every((r) => r instanceof CancelledError)).toBe(true);
  });
});

describe('collecting', () => {
  it('collects in order, and races to the first settled', async () => {
    await daemons(2);
    const slow = mirai(sleepTask, { ms: 400, value: 'slow' });
    const fast = mirai(sleepTask, { ms: 20, value: 'fast' });
    expect(await raceMirai([slow, fast])).toBe(1);
    expect(await raceMirai([slow, fast])).toBe(1); // already settled: at once
    expect(await collectMirai([slow, fast])).toEqual(['slow', 'fast']);
    expect(await raceMirai([])).toBe(-1);
  });

  it('leaves nothing behind on the mirai that lost a race', () => {
    // In a process of its own (see below): a list raced while one of its mirai stays pending
    // must not be kept alive by that mirai once the race is over.
    const out = spawnSync(
      process.execPath,
      [
        '--expose-gc',
        '--input-type=module',
        '-e',
        `import { daemons, mirai, raceMirai } from '@mirai-ts/core';
         await daemons({}); // listen only: tasks wait in the queue
         const pending = mirai(() => 1);
         const race = async () => {
           const other = mirai(() => 2);
           const list = [pending, other];
           const ref = new WeakRef(list);
           const won = raceMirai(list);
           other.cancel();
           return [await won, ref];
         };
         const [won, ref] = await race();
         for (let i = 0; i < 2; i++) { await new Promise((r) => setTimeout(r, 20)); globalThis.gc(); }
         console.log(JSON.stringify({ won, kept: ref.deref() !== undefined, pending: pending.unresolved }));
         await daemons(0);`,
      ],
      { cwd: root, encoding: 'utf8', timeout: 30_000 },
    );
    expect(out.status, out.stderr).toBe(0);
    expect(JSON.parse(out.stdout)).toEqual({ won: 1, kept: false, pending: true });
  });
});

describe('profiles and scopes', () => {
  it('keeps several pools apart', async () => {
    await daemons(2, { profile: 'cpu' });
    await daemons(1, { profile: 'gpu', url: 'tcp://127.0.0.1:0' });
    expect(status('cpu')!.connections).toBe(2);
    expect(status('gpu')!.connections).toBe(1);
    expect(status('gpu')!.url).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);
    expect(status()).toBeUndefined();
    const cpuPids = new Set(status('cpu')!.daemons.map((d) => d.pid));
    const pid = await mirai(() => process.pid, undefined, { profile: 'gpu' });
    expect(cpuPids.has(pid)).toBe(false);
    const scoped = await withDaemons('cpu', async () => {
      await new Promise((r) => setTimeout(r, 10));
      return mirai(() => process.pid);
    });
    expect(cpuPids.has(scoped)).toBe(true);
    expect(() => withDaemons('nope', () => 1)).toThrow(NoDaemonsError);
    expect(onDaemon()).toBe(false);
  });

  it('concurrent daemons() calls for one profile: the last wins, the others settle, and nothing is left running', async () => {
    const outcomes = await Promise.allSettled([daemons(1), daemons(2), daemons(3)]);
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected', 'fulfilled']);
    for (const o of outcomes.slice(0, 2)) expect((o as PromiseRejectedResult).reason).toBeInstanceOf(LaunchError);
    expect(status()!.connections).toBe(3);
    expect(await waitFor(() => daemonChildren().length === 3, 5_000)).toBe(true);
    expect(await mirai(() => 'served')).toBe('served');
    // A reset made while a start is under way wins too.
    const [start, reset] = await Promise.allSettled([daemons(2), daemons(0)]);
    expect([start.status, reset.status]).toEqual(['rejected', 'fulfilled']);
    expect(status()).toBeUndefined();
    expect(await waitFor(() => daemonChildren().length === 0, 5_000)).toBe(true);
  });

  it('a reset or close() made while a reset is under way resolves when that one is done', async () => {
    const handle = await daemons(1);
    const [pid] = status()!.daemons.map((d) => d.pid!);
    const first = daemons(0);
    await daemons(0);
    expect(alive(pid!)).toBe(false);
    await first;
    await daemons(1);
    const [next] = status()!.daemons.map((d) => d.pid!);
    const reset = daemons(0);
    await handle.close(); // an old handle: not its profile any more, nothing to wait for
    await reset;
    expect(alive(next!)).toBe(false);
    const again = await daemons(1);
    const [third] = status()!.daemons.map((d) => d.pid!);
    const resetting = daemons(0);
    await again.close(); // its own profile, being reset: resolves once the reset is done
    expect(alive(third!)).toBe(false);
    await resetting;
  });

  it('a start waiting for daemons that do not come (no exit to watch) fails when the profile resets', async () => {
    // A launch command that returns without starting anything that connects (as ssh or a cloud API may).
    const remote = remoteConfig({ command: 'sleep 5;', args: ['.'], node: process.execPath });
    const start = daemons(1, { url: 'tcp://127.0.0.1:0', remote, launchTimeout: 60_000, log: () => {} });
    await waitFor(() => status() !== undefined, 5_000);
    await daemons(0);
    const err = await start.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(LaunchError);
    expect((err as Error).message).toMatch(/^profile 'default' was reset while its daemons were launching/);
    expect(status()).toBeUndefined();
  });

  it('one AbortSignal shared by many tasks: one listener, no leak warning, each task cancelled, the listener gone once they settle', async () => {
    await daemons(2);
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => void warnings.push(w);
    process.on('warning', onWarning);
    try {
      const controller = new AbortController();
      const tasks = Array.from({ length: 30 }, () => mirai(() => new Promise((r) => setTimeout(r, 30_000)), undefined, { signal: controller.signal }));
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
      controller.abort('enough');
      const settled = await Promise.allSettled(tasks);
      expect(settled.every((r) => r.status === 'rejected' && r.reason instanceof CancelledError)).toBe(true);
      // A long-lived signal: tasks that settle by themselves take their watch with them.
      const shared = new AbortController();
      expect(await Promise.all(Array.from({ length: 30 }, (_, i) => mirai(({ i }) => i, { i }, { signal: shared.signal })))).toHaveLength(30);
      expect(getEventListeners(shared.signal, 'abort')).toHaveLength(0);
      await new Promise((r) => setImmediate(r));
      expect(warnings.map((w) => w.name)).not.toContain('MaxListenersExceededWarning');
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('closes with await using', async () => {
    {
      await using pool = await daemons(1, { profile: 'cpu' });
      expect(pool.connections).toBe(1);
      expect(await mirai(() => 1, undefined, { profile: 'cpu' })).toBe(1);
    }
    expect(status('cpu')).toBeUndefined();
  });
});

describe('modes', () => {
  it('sync mode runs in this process, still through serialization', async () => {
    await daemons({ sync: true });
    expect(await mirai(() => process.pid)).toBe(process.pid);
    const input = { list: [1] };
    const out = await mirai((a: { list: number[] }) => {
      a.list.push(2);
      return a;
    }, input);
    expect(out.list).toEqual([1, 2]);
    expect(input.list).toEqual([1]); // a copy travelled
    // @ts-expect-error a function in args does not compile; the run-time check is tested here
    expect(() => mirai(() => 1, { f: () => 1 })).toThrow(/args\.f/);
    expect(status()!.url).toBe('sync://');
  });

  it('sync mode: a reset settles a running task with ConnectionResetError and aborts its signal', async () => {
    await daemons({ sync: true });
    let aborted: unknown;
    const m = mirai((_: unknown, ctx: TaskContext) => new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve('too late'))));
    const watched = mirai((_: unknown, ctx: TaskContext) => new Promise(() => ctx.signal.addEventListener('abort', () => (aborted = ctx.signal.reason))));
    await daemons(0);
    await expect(m).rejects.toThrow(ConnectionResetError);
    await expect(watched).rejects.toThrow(/19 \| Connection reset: profile 'default' was reset/);
    expect(aborted).toBeInstanceOf(ConnectionResetError);
  });

  it('direct mode sends tasks round-robin straight to daemons', async () => {
    await daemons(2, { dispatcher: false });
    const pids = await miraiMap([1, 2, 3, 4], () => process.pid).flat();
    expect(new Set(pids).size).toBe(2);
    expect(status()!.dispatcher).toBe(false);
  });

  it('runs a task in a one-off process when no daemons are set', async () => {
    const pid = await mirai(() => process.pid);
    expect(pid).not.toBe(process.pid);
  });

  it('one-off processes of tasks that timed out before their process connected, or that killed it, do not stay behind', async () => {
    const timedOut = await Promise.allSettled(Array.from({ length: 3 }, () => mirai(() => 'late', undefined, { timeout: 30 })));
    expect(timedOut.every((r) => r.status === 'rejected' && r.reason instanceof TimeoutError)).toBe(true);
    const crashed = await Promise.allSettled(Array.from({ length: 2 }, () => mirai(() => process.exit(1))));
    expect(crashed.every((r) => r.status === 'rejected' && r.reason instanceof ConnectionResetError)).toBe(true);
    // Each leaves within the one-off idle time (1 s) once it finds nothing to run; none is replaced.
    expect(await waitFor(() => daemonChildren().length === 0, 10_000)).toBe(true);
    expect(await mirai(() => 'still works')).toBe('still works');
  }, 30_000);

  it('one-off processes: a launch that fails costs the task first in line, never leaves one pending', async () => {
    // The first daemon process to start stalls, then exits before it connects; the next one
    // connects at once and takes the first task in the queue, whichever launch it came from.
    const dir = mkdtempSync(join(tmpdir(), 'mirai-ephemeral-'));
    const preload = join(dir, 'first-fails.cjs');
    writeFileSync(
      preload,
      [
        "const fs = require('node:fs');",
        'let first = false;',
        `try { fs.closeSync(fs.openSync(${JSON.stringify(join(dir, 'lock'))}, 'wx')); first = true; } catch {}`,
        'if (first) { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1500); process.exit(3); }',
      ].join('\n'),
    );
    const before = process.env.NODE_OPTIONS;
    process.env.NODE_OPTIONS = `${before ?? ''} --require=${preload}`.trim();
    try {
      const a = mirai(() => 'a');
      const b = mirai(() => 'b');
      const settled = await Promise.allSettled([a, b]);
      // Both settled: one ran, and the other ran too or failed with the launch's error.
      expect(settled.some((r) => r.status === 'fulfilled')).toBe(true);
      for (const r of settled) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(LaunchError);
    } finally {
      if (before === undefined) delete process.env.NODE_OPTIONS;
      else process.env.NODE_OPTIONS = before;
      rmSync(dir, { recursive: true, force: true });
    }
  }, 20_000);
});

describe('daemon lifecycle', () => {
  it('maxtasks ends a daemon cleanly after its last task; launchLocal adds one', async () => {
    await daemons(1, { maxtasks: 2 });
    expect(await mirai(() => 1)).toBe(1);
    expect(await mirai(() => 2)).toBe(2);
    expect(await waitFor(() => info()!.connections === 0)).toBe(true);
    const queued = mirai(() => 3);
    expect(info()!.awaiting).toBe(1);
    await launchLocal(1);
    expect(await queued).toBe(3);
  });

  it('idletime ends an idle daemon', async () => {
    await daemons(1, { idletime: 300 });
    expect(await mirai(() => 'work')).toBe('work');
    expect(await waitFor(() => info()!.connections === 0, 5_000)).toBe(true);
  });

  it('walltime ends a daemon once it has passed', async () => {
    await daemons(1, { walltime: 500 });
    expect(await waitFor(() => info()!.connections === 0, 5_000)).toBe(true);
  });

  it('repair keeps the pool at its size when a daemon is lost, but not when one leaves by a limit', async () => {
    await daemons(2, { repair: true });
    const [victim] = status()!.daemons.map((d) => d.pid!);
    process.kill(victim!, 'SIGKILL');
    expect(await waitFor(() => info()!.cumulative === 3 && info()!.connections === 2, 10_000)).toBe(true);
    expect(status()!.daemons.map((d) => d.pid)).not.toContain(victim);
    await daemons(1, { repair: true, maxtasks: 1 });
    expect(await mirai(() => 'one task')).toBe('one task');
    expect(await waitFor(() => info()!.connections === 0)).toBe(true);
    await new Promise((r) => setTimeout(r, 500));
    expect(info()!.cumulative).toBe(1); // left by its limit: not replaced
  });

  it('removes the globals a task left before the next task runs, even one prefetched right behind it', async () => {
    await daemons(1, { prefetch: 4 });
    type G = Record<string, unknown>;
    await everywhere(() => {
      (globalThis as G).fromSetup = 'kept';
    });
    // Sent together: the reader runs in the same read of the daemon as the writer.
    const writer = mirai(() => {
      (globalThis as G).leftover = 42;
      return (globalThis as G).leftover;
    });
    const reader = mirai(() => [(globalThis as G).leftover ?? 'gone', (globalThis as G).fromSetup]);
    expect(await writer).toBe(42);
    expect(await reader).toEqual(['gone', 'kept']);
    // And after a pause (the clean-up after the result left).
    await mirai(() => {
      (globalThis as G).later = 1;
    });
    await new Promise((r) => setTimeout(r, 50));
    expect(await mirai(() => (globalThis as G).later ?? 'gone')).toBe('gone');
  });

  it("hides Node's own globals from enumeration under cleanup, and nothing else about them", async () => {
    await daemons(1);
    type G = Record<string, unknown>;
    const seen = await mirai(() => {
      const own = Object.getOwnPropertyDescriptor(globalThis, 'setTimeout')!;
      return {
        keys: Object.keys(globalThis),
        setTimeout: [own.enumerable, own.writable, own.configurable, typeof setTimeout],
        works: typeof structuredClone({ a: 1 }) === 'object' && typeof performance.now() === 'number' && atob(btoa('x')) === 'x',
      };
    });
    expect(seen).toEqual({ keys: ['global'], setTimeout: [false, true, true, 'function'], works: true });
    // A global a task makes is enumerable, and is gone for the next task; one of Node's that a
    // task replaced stays (it was there at the snapshot), as before.
    await mirai(() => {
      (globalThis as G).made = 1;
      (globalThis as G).queueMicrotask = (globalThis as G).queueMicrotask;
    });
    expect(await mirai(() => [Object.keys(globalThis), typeof (globalThis as G).made, typeof queueMicrotask])).toEqual([['global'], 'undefined', 'function']);
  });

  it('keeps one of Node\'s globals enumerable where a preload removed `global`, and still cleans up', async () => {
    await daemons(1, { nodeOptions: ['--import=data:text/javascript,delete%20globalThis.global'] });
    await mirai(() => {
      (globalThis as Record<string, unknown>).made = 1;
    });
    expect(await mirai(() => [Object.keys(globalThis), typeof (globalThis as Record<string, unknown>).made])).toEqual([['clearImmediate'], 'undefined']);
  });

  it('cleanup: false keeps globals between tasks, and leaves Node\'s globals as Node made them', async () => {
    await daemons(1, { cleanup: false });
    await mirai(() => {
      (globalThis as Record<string, unknown>).kept = 1;
    });
    expect(await mirai(() => (globalThis as Record<string, unknown>).kept)).toBe(1);
    expect(await mirai(() => Object.keys(globalThis))).toEqual(expect.arrayContaining(['global', 'setTimeout', 'fetch', 'kept']));
  });

  it('shows busy daemons and their task ids in status()', async () => {
    await daemons(1);
    const m = mirai(sleepTask, { ms: 300, value: 1 });
    await waitFor(() => status()!.daemons[0]!.state === 'busy');
    const row = status()!.daemons[0]!;
    expect(row.tasks).toEqual([m.id]);
    expect(row.assigned).toBe(1);
    await m;
    expect(status()!.daemons[0]!.completed).toBe(1);
  });

  it('refuses bad daemon options with a clear error', async () => {
    await expect(daemons(1, { idletime: -5 })).rejects.toThrow(/option 'idletime' must be a number of milliseconds > 0 and ≤ 2147483647, or Infinity/);
    await expect(daemons(1, { autoexit: 'sometimes' as never })).rejects.toThrow(/option 'autoexit' must be one of true, false, 'finish'/);
    await expect(daemons(-1)).rejects.toThrow(/whole number/);
  });

  it('keeps neither the arguments nor the result of a settled task alive on the host', () => {
    // In a process of its own, with nothing else holding values (the test runner does).
    // Arguments travel without a copy on the host (the frame holds a view of them until the
    // socket has written it), the dispatcher keeps its last small task alive to keep V8's
    // optimised code (lastFulfilled), and a mirai's promise is made by a shared executor: none
    // may pin these once the task has settled, with no other task after it.
    const out = spawnSync(
      process.execPath,
      [
        '--expose-gc',
        '--input-type=module',
        '-e',
        `import { daemons, mirai } from '@mirai-ts/core';
         // Twice: a WeakRef keeps its target alive until Node next clears V8's kept objects.
         const collect = async () => {
           for (let i = 0; i < 2; i++) { await new Promise((r) => setTimeout(r, 20)); globalThis.gc(); }
         };
         await daemons(1);
         let argument, value;
         // In a function of its own: a suspended async function keeps its temporaries.
         const run = async () => {
           const x = new Float64Array(1_000_000).fill(1);
           argument = new WeakRef(x);
           const result = await mirai(({ x }) => ({ n: x.length, big: new Float64Array(500_000) }), { x });
           value = new WeakRef(result);
           return result.n;
         };
         const n = await run();
         await collect();
         console.log(JSON.stringify({ n, argument: argument.deref() !== undefined, value: value.deref() !== undefined }));
         await daemons(0);`,
      ],
      { cwd: root, encoding: 'utf8', timeout: 30_000 },
    );
    expect(out.status, out.stderr).toBe(0);
    expect(JSON.parse(out.stdout)).toEqual({ n: 1_000_000, argument: false, value: false });
  });

  it('output forwards daemon stdout to the host, tagged with the daemon', () => {
    const out = spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { daemons, mirai } from '@mirai-ts/core';
         await daemons(1, { output: true });
         await mirai(() => console.log('hello from the daemon'));
         await new Promise((r) => setTimeout(r, 200));
         await daemons(0);`,
      ],
      { cwd: root, encoding: 'utf8', timeout: 30_000 },
    );
    expect(out.status, out.stderr).toBe(0);
    expect(out.stdout).toMatch(/\[default daemon pid \d+\] hello from the daemon/);
  });
});
