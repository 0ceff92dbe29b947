/**
 * Thread daemons (worker threads running core's daemon loop over the thread:// transport),
 * through the public API: tasks, everywhere(), chunked maps and prefetch, typed errors,
 * a stuck thread terminated and replaced, transfer of large buffers, bad options.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { CancelledError, ConfigError, ConnectionResetError, ProtocolError, SerializationError, daemons, everywhere, mirai, MiraiError, miraiMap, status, type DaemonsOptions, type LaunchHandle, type LaunchSpec, type TaskContext } from '@mirai-ts/core';
import { decodePayload, DEFAULT_LIMITS, frame, FrameFlag, FrameType, type Frame } from '@mirai-ts/core/plugin';
import { PortChannel, threadDaemons, threadLauncher, threadTransport, WAIT_IDLE_MS, WAIT_SLICE_MS } from '../src/index.js';
import { bundledCoreVersion, coreSkew, hostCoreVersion } from '../src/worker-script.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Until `ok()` holds, checking every 20 ms; fails after `ms` (generous: the machine may be loaded). */
async function until(ok: () => boolean, ms = 10_000): Promise<void> {
  for (const end = Date.now() + ms; !ok(); await sleep(20)) if (Date.now() > end) throw new Error('condition not met in time');
}

describe('thread daemons', () => {
  afterEach(async () => {
    await daemons(0);
  });

  it('run tasks, everywhere(), chunked maps and prefetch in worker threads of this process', async () => {
    await daemons(2, { ...threadDaemons(), prefetch: 4 });
    expect(status()?.connections).toBe(2);
    expect(status()!.daemons.every((d) => d.pid === process.pid && d.launcher === 'thread')).toBe(true);
    await everywhere(() => {
      (globalThis as Record<string, unknown>).factor = 3;
    });
    const { isMainThread } = await mirai(async () => ({ isMainThread: (await import('node:worker_threads')).isMainThread }));
    expect(isMainThread).toBe(false);
    expect(await mirai(({ a }: { a: number }) => a * (globalThis as unknown as { factor: number }).factor, { a: 14 })).toBe(42);
    const out = await miraiMap(Array.from({ length: 300 }, (_, i) => i), (x: number) => {
      if (x === 7) throw new RangeError('seven');
      return x + 1;
    }, { chunk: 16 });
    expect(out[0]).toBe(1);
    expect(out[299]).toBe(300);
    expect(out[7]).toBeInstanceOf(MiraiError);
    expect((out[7] as MiraiError).message).toMatch(/seven/);
    const failed = await Promise.resolve(mirai(() => {
      throw new TypeError('typed');
    })).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(MiraiError);
    expect((failed as MiraiError).message).toMatch(/typed/);
  });

  it('loads only the daemon side of core into a thread: not the host, the launchers, the built-in transports or node:crypto', async () => {
    await daemons(1, threadDaemons());
    // Node lists each built-in module an isolate loaded; a thread that imported core's host or
    // plugin entry would list tls, net and child_process (the built-in transports, local launching),
    // and one whose handshake computed proofs (or that drew its own random stream) crypto.
    const loaded = await mirai(() => (process as unknown as { moduleLoadList: string[] }).moduleLoadList.filter((m) => /^NativeModule (tls|_tls_wrap|net|child_process|http|https|crypto)$/.test(m)));
    expect(loaded).toEqual([]);
  });

  it("hands a thread's dial only to the profile it was started for: another profile's URL is closed unanswered", async () => {
    // Thread channels carry no proofs of the secret (Channel.inProcess); binding each thread to
    // the URL its launcher started it for is what keeps a thread of one profile out of another.
    await daemons(1, threadDaemons());
    await daemons(1, { ...threadDaemons(), profile: 'other' });
    try {
      const url = status('other')!.url;
      const answer = await mirai(async ({ url }: { url: string }) => {
        const { MessageChannel, parentPort } = await import('node:worker_threads');
        const { port1, port2 } = new MessageChannel();
        const got = new Promise<string>((resolve) => {
          port2.once('message', () => resolve('answered'));
          port2.once('close', () => resolve('closed'));
        });
        parentPort!.postMessage({ type: 'mirai-ts.thread-dial', url, port: port1 }, [port1]);
        return got;
      }, { url });
      expect(answer).toBe('closed');
      expect(status('other')!.connections).toBe(1);
      expect(await mirai(() => 2, undefined, { profile: 'other' })).toBe(2);
    } finally {
      await daemons(0, { profile: 'other' });
    }
  });

  it('loads JavaScript whose every character fits in one byte, in the host and in its threads', () => {
    // One wider character (an arrow in a comment esbuild keeps) makes V8 hold that whole module's
    // source as two bytes per character, in every isolate that loads it. Reads the script a
    // thread runs and core's main entry with its chunks.
    const files = new Set<string>();
    const visit = (file: string): void => {
      if (files.has(file)) return;
      files.add(file);
      const source = readFileSync(file, 'utf8');
      const wide = [...source].findIndex((c) => c.codePointAt(0)! > 0xff);
      expect(wide, `${file}: '${[...source][wide]}' at character ${wide}`).toBe(-1);
      for (const [, specifier] of source.matchAll(/from\s*"([^"]+)"/g)) if (specifier!.startsWith('./')) visit(join(dirname(file), specifier!));
    };
    visit(fileURLToPath(new URL('../dist/worker.cjs', import.meta.url)));
    visit(fileURLToPath(new URL('../../../core/dist/index.js', import.meta.url)));
    expect(files.size).toBeGreaterThan(3);
  });

  it("cuts a task error's stack at the thread's own frames (a CommonJS script names them by path)", async () => {
    await daemons(1, threadDaemons());
    try {
      const error = await mirai(() => {
        const inner = (): never => {
          throw new Error('boom');
        };
        inner();
      }).then(
        () => new Error('the task succeeded'),
        (e: unknown) => e as Error,
      );
      expect(error).toBeInstanceOf(MiraiError);
      expect(error.stack).toContain('mirai-task.js');
      expect(error.stack).not.toContain('worker.cjs');
      expect(error.stack!.split('\n').filter((line) => /^\s+at /.test(line)).length).toBeGreaterThan(0);
    } finally {
      await daemons(0);
    }
    // With source maps on, frames are shown by the files a map names: none of the daemon's either.
    const fixture = fileURLToPath(new URL('./fixtures/task-stack.mjs', import.meta.url));
    const run = spawnSync(process.execPath, ['--enable-source-maps', fixture], { encoding: 'utf8', timeout: 20_000 });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^Error: boom\n\s+at inner \(mirai-task\.js/);
    expect(run.stdout).not.toMatch(/worker\.cjs|loop\.ts|callTask|core\/src/);
  });

  it('starts threads only from a worker script that carries the host\'s core', () => {
    const script = readFileSync(fileURLToPath(new URL('../dist/worker.cjs', import.meta.url)), 'utf8');
    const core = JSON.parse(readFileSync(fileURLToPath(new URL('../../../core/package.json', import.meta.url)), 'utf8')) as { version: string };
    expect(bundledCoreVersion(script)).toBe(core.version);
    expect(hostCoreVersion()).toBe(core.version);
    expect(coreSkew(core.version, core.version)).toBeUndefined();
    expect(coreSkew('0.1.0', undefined)).toBeUndefined(); // a bundled host: nothing to compare
    expect(coreSkew('0.1.0', '0.2.0')).toMatch(/carry the daemon side of @mirai-ts\/core 0\.1\.0, but this host runs @mirai-ts\/core 0\.2\.0; install @mirai-ts\/threads of the same release/);
    expect(coreSkew(bundledCoreVersion('"use strict";\nvar x = 1;\n'), '0.1.0')).toMatch(/does not say which @mirai-ts\/core it carries/);
    // Only the first line counts: a later line saying so is code, not the banner.
    expect(bundledCoreVersion('"use strict";\n// @mirai-ts/threads worker: carries the daemon side of @mirai-ts/core 9.9.9\n')).toBeUndefined();
  });

  it('starts a thread from one CommonJS script that loads no module of its own and no package', async () => {
    // An ES module entry, or one that resolves core at start, costs each thread Node's ESM loader
    // and a module record per file: live heap that every collection of its isolate marks again.
    const script = readFileSync(fileURLToPath(new URL('../dist/worker.cjs', import.meta.url)), 'utf8');
    const required = [...script.matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1]!);
    expect(required.length).toBeGreaterThan(3);
    expect(required.filter((specifier) => !specifier.startsWith('node:') && !isBuiltin(specifier))).toEqual([]);
    expect(script).not.toMatch(/^\s*(import|export)\s/m);
    // And the thread runs it: no ES module of ours is loaded there before its first task.
    await daemons(1, threadDaemons());
    try {
      // process.moduleLoadList: Node's list of the built-in modules this isolate loaded.
      const loaded = await mirai(() => (process as unknown as { moduleLoadList: string[] }).moduleLoadList.filter((m) => m.startsWith('NativeModule internal/modules/esm/translators')).length);
      expect(loaded).toBe(0);
    } finally {
      await daemons(0);
    }
  });

  it("polls as threadDaemons({ spin }) says, else as the profile's spin (0 with prefetch), else 50 µs", async () => {
    // A task runs in the daemon's thread: its workerData says how long the channel polls.
    const threadSpin = async (options: DaemonsOptions): Promise<unknown> => {
      await daemons(1, options);
      const spin = await mirai(async () => ((await import('node:worker_threads')).workerData as { spin: number }).spin);
      await daemons(0);
      return spin;
    };
    expect(await threadSpin(threadDaemons())).toBe(50);
    expect(await threadSpin({ ...threadDaemons(), prefetch: 4 })).toBe(0);
    expect(await threadSpin({ ...threadDaemons(), spin: 10 })).toBe(10);
    expect(await threadSpin({ ...threadDaemons({ spin: 20 }), prefetch: 4, spin: 10 })).toBe(20);
  });

  it('terminates a thread stuck in a cancelled task and replaces it', async () => {
    await daemons(1, { ...threadDaemons(), cancelGrace: 50 });
    const before = status()!.daemons[0]!.id;
    const stuck = mirai(() => {
      for (;;) {
        // a synchronous loop: only terminating the thread stops it
      }
    });
    await new Promise((r) => setTimeout(r, 100));
    expect(stuck.cancel('stop')).toBe(true);
    await expect(Promise.resolve(stuck)).rejects.toBeInstanceOf(CancelledError);
    expect(await mirai(() => 'after')).toBe('after');
    const ids = status()!.daemons.map((d) => d.id);
    expect(ids).toHaveLength(1);
    expect(ids[0]).not.toBe(before);
  });

  it('settles every task a thread held (prefetched through its ring) when the thread dies, and replaces it', async () => {
    await daemons(1, { ...threadDaemons(), prefetch: 4 });
    const before = status()!.daemons[0]!.id;
    const tasks = [
      mirai(async () => {
        await new Promise((r) => setTimeout(r, 50)); // the others arrive meanwhile
        process.exit(3); // ends this thread only
      }),
      ...Array.from({ length: 3 }, (_, i) => mirai(({ i }: { i: number }) => i, { i })),
    ];
    const settled = await Promise.allSettled(tasks);
    // All four were on the thread (prefetch 4) when it died: each settles as a lost daemon's task.
    for (const s of settled) expect(s.status === 'rejected' && s.reason instanceof ConnectionResetError).toBe(true);
    expect(await mirai(() => 'after')).toBe('after');
    await until(() => status()!.daemons.length === 1 && status()!.daemons[0]!.id !== before);
  });

  it('moves large buffers with transfer (the sent array is detached), copies them without', async () => {
    await daemons(1, threadDaemons({ transfer: true }));
    const x = new Float64Array(1 << 17).fill(2.5);
    const y = await mirai(({ x }: { x: Float64Array }) => x.map((v) => v * 2), { x });
    expect(x.length).toBe(0); // moved to the thread
    expect(y).toBeInstanceOf(Float64Array);
    expect(y.length).toBe(1 << 17);
    expect(y[12345]).toBe(5);
    await daemons(0);
    await daemons(1, threadDaemons());
    const kept = new Float64Array(1 << 17).fill(1);
    const back = await mirai(({ x }: { x: Float64Array }) => x, { x: kept });
    expect(kept.length).toBe(1 << 17);
    expect(back[100]).toBe(1);
  });

  it('moves 100 MB both ways with transfer and no copy: the host array is detached, the value arrives whole', async () => {
    await daemons(1, threadDaemons({ transfer: true }));
    const n = 12_500_000;
    const x = new Float64Array(n);
    x[0] = 1.5;
    x[n - 1] = 2.5;
    const y = await mirai(({ x }: { x: Float64Array }) => {
      // The daemon got the sent buffer itself (moved), not bytes copied into a frame buffer.
      if (x.buffer.byteLength !== x.byteLength) throw new Error(`a view into a ${x.buffer.byteLength}-byte buffer`);
      x[1] = x[0]! + x[x.length - 1]!;
      return x;
    }, { x });
    expect(x.byteLength).toBe(0); // detached: moved to the thread
    expect(y).toBeInstanceOf(Float64Array);
    expect(y.length).toBe(n);
    expect(y.buffer.byteLength).toBe(n * 8); // moved back whole, not copied out of a bigger message
    expect([y[0], y[1], y[n - 1]]).toEqual([1.5, 4, 2.5]);
  });

  // A frame whose large array an earlier send already moved (transfer: true) is answered on the
  // host with a SerializationError for that task alone: the channel never throws from send(),
  // the daemon never sees the frame, and its connection carries on (port-channel.ts, unsendable).
  const movedMessage = /already moved to another thread by transfer: true/;

  it('with transfer, the second of two queued tasks given one large array fails alone with a SerializationError', async () => {
    await daemons(1, threadDaemons({ transfer: true }));
    const id = status()!.daemons[0]!.id;
    const busy = mirai(() => new Promise<string>((r) => setTimeout(() => r('busy'), 200)));
    const x = new Float64Array(1 << 14).fill(1.5); // 128 KiB
    const first = mirai(({ x }: { x: Float64Array }) => x.length, { x });
    const second = mirai(({ x }: { x: Float64Array }) => x.length, { x });
    const after = mirai(() => 'after');
    expect(x.length).toBe(1 << 14); // queued behind `busy`: not sent yet, so not moved yet
    expect(await busy).toBe('busy');
    expect(await first).toBe(1 << 14);
    expect(x.length).toBe(0); // moved with the first task
    const err = await Promise.resolve(second).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(SerializationError);
    expect((err as Error).message).toMatch(movedMessage);
    expect(await after).toBe('after');
    expect(await mirai(({ n }: { n: number }) => n + 1, { n: 1 })).toBe(2);
    expect(status()!.daemons.map((d) => d.id)).toEqual([id]); // the same connection throughout
  });

  it('with transfer, a task run again by retry after its thread died fails with a SerializationError, not the host', async () => {
    await daemons(1, threadDaemons({ transfer: true }));
    const x = new Float64Array(1 << 14).fill(2); // 128 KiB
    const dies = mirai(({ x }: { x: Float64Array }) => (x.length > 0 ? process.exit(3) : 'ran'), { x }, { retry: 1 });
    expect(x.length).toBe(0); // a thread was free: sent, so moved, during mirai()
    const err = await Promise.resolve(dies).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(SerializationError);
    expect((err as Error).message).toMatch(movedMessage);
    expect(dies.retries).toBe(1);
    const id = status()!.daemons[0]!.id;
    expect(await mirai(() => 'after')).toBe('after');
    const y = new Float64Array(1 << 14).fill(3);
    expect(await mirai(({ y }: { y: Float64Array }) => y[100], { y })).toBe(3);
    expect(status()!.daemons.map((d) => d.id)).toEqual([id]);
  });

  it('with transfer, everywhere() and a map\'s shared args are copied, not moved: every thread gets them, the host keeps them', async () => {
    await daemons(2, threadDaemons({ transfer: true }));
    const x = new Float64Array(1 << 14).fill(4); // 128 KiB
    // One frame goes to each thread: a move would leave the second with nothing to send.
    expect(await everywhere(({ x }: { x: Float64Array }) => x.length, { x })).toEqual([1 << 14, 1 << 14]);
    expect(x.length).toBe(1 << 14);
    // Every chunk's frame carries the map's args.
    const out = await miraiMap([1, 2, 3, 4, 5, 6], (i: number, { x }: { x: Float64Array }) => i + x[0]!, { args: { x }, chunk: 1 });
    expect(out).toEqual([5, 6, 7, 8, 9, 10]);
    expect(x[0]).toBe(4);
    // A task's own array is still moved.
    const own = new Float64Array(1 << 14).fill(1);
    expect(await mirai(({ own }: { own: Float64Array }) => own.length, { own })).toBe(1 << 14);
    expect(own.length).toBe(0);
  });

  it('with transfer and prefetch, tasks queued on a thread that leaves before starting them run elsewhere with their arrays', async () => {
    // The first task leaves an uncaught exception behind: its thread leaves after it, and the
    // tasks queued on it go back to the queue. Their arrays were copied, not moved, when they
    // were sent behind it.
    await daemons(1, { ...threadDaemons({ transfer: true }), prefetch: 4, repair: true });
    const first = mirai(() => {
      setTimeout(() => {
        throw new Error('left behind');
      }, 0);
      return new Promise((r) => setTimeout(() => r('first'), 50));
    });
    const behind = [1, 2, 3].map((i) => mirai(({ a }: { a: Float64Array }) => a[0], { a: new Float64Array(20_000).fill(i) }));
    await Promise.resolve(first).catch(() => undefined);
    expect(await Promise.all(behind)).toEqual([1, 2, 3]);
  });

  it('a Cancel reaches a running async task on a thread that waits for its frames', async () => {
    // A long grace: were the Cancel not delivered, the thread would be replaced, not reused.
    await daemons(1, { ...threadDaemons(), cancelGrace: 30_000 });
    for (let i = 0; i < 20; i++) expect(await mirai(() => 1)).toBe(1); // the thread now waits in Atomics.wait between tasks
    const id = status()!.daemons[0]!.id;
    const key = Symbol.for('mirai-ts.threads.test.aborted');
    const running = mirai(
      (_: object, ctx: TaskContext) =>
        new Promise<string>((resolve) => {
          const timer = setInterval(() => {}, 1_000); // a timer of the task's own, cleared on abort
          ctx.signal.addEventListener('abort', () => {
            clearInterval(timer);
            (globalThis as Record<symbol, unknown>)[Symbol.for('mirai-ts.threads.test.aborted')] = String(ctx.signal.reason);
            resolve('stopped');
          });
        }),
      {},
    );
    await sleep(100);
    expect(running.cancel('enough')).toBe(true);
    await expect(Promise.resolve(running)).rejects.toBeInstanceOf(CancelledError);
    const seen = await mirai(({ key }: { key: string }) => (globalThis as Record<symbol, unknown>)[Symbol.for(key)], { key: key.description! });
    expect(String(seen)).toMatch(/cancelled by the host/);
    expect(status()!.daemons.map((d) => d.id)).toEqual([id]); // the same thread: it stopped the task itself
  });

  it('a polling thread idle past its wait still takes work, and its idletime timer still fires', async () => {
    await daemons(1, { ...threadDaemons({ spin: 50 }), idletime: WAIT_IDLE_MS + 700 }); // polling too
    for (let i = 0; i < 10; i++) await mirai(() => 1);
    await sleep(WAIT_IDLE_MS + 200); // past the wait: the thread waits in its event loop now
    expect(await mirai(({ a }: { a: number }) => a + 1, { a: 41 })).toBe(42);
    for (let i = 0; i < 10; i++) await mirai(() => 1); // waiting again
    await until(() => status()!.connections === 0); // idletime ended it: its timers ran while it waited
  });

  it('runs a timer a task left behind on time while the thread waits for its next task', async () => {
    await daemons(1, threadDaemons());
    for (let i = 0; i < 10; i++) expect(await mirai(() => 1)).toBe(1); // the thread now waits in Atomics.wait between tasks
    for (let i = 0; i < 3; i++) {
      await sleep(2.5 * WAIT_SLICE_MS);
      expect(await mirai(() => 1)).toBe(1); // after this result the thread found its loop with nothing to do
    }
    // Right after that (within WAIT_SLICE_MS of the thread's last look at its loop), a task leaves a timer behind.
    const key = 'mirai-ts.threads.test.timer';
    const leaveTimer = ({ key }: { key: string }): number => {
      const t0 = performance.now();
      setTimeout(() => {
        (globalThis as Record<symbol, unknown>)[Symbol.for(key)] = performance.now() - t0;
      }, 30);
      return 1;
    };
    expect(await mirai(leaveTimer, { key })).toBe(1);
    await sleep(150);
    const firedAfter = await mirai(({ key }: { key: string }) => (globalThis as Record<symbol, unknown>)[Symbol.for(key)], { key });
    expect(firedAfter).toBeGreaterThanOrEqual(29);
    expect(firedAfter).toBeLessThan(120); // served by the loop's turns, not held to the WAIT_IDLE_MS bound
  });

  it('daemons(0) ends threads that wait for frames with a clean exit, not a termination', async () => {
    const handles: LaunchHandle[] = [];
    const launcher = threadLauncher();
    await daemons(2, {
      ...threadDaemons(),
      launcher: {
        kind: 'thread',
        async launch(spec: LaunchSpec, n: number): Promise<LaunchHandle[]> {
          const launched = await launcher.launch(spec, n);
          handles.push(...launched);
          return launched;
        },
      },
    });
    await Promise.all(Array.from({ length: 40 }, () => mirai(() => 1)));
    await daemons(0);
    const exits = await Promise.all(handles.map((h) => h.exited));
    expect(exits.map((e) => e?.code)).toEqual([0, 0]); // DaemonExit.ConnectionEnded; terminate() gives 1
  });

  it('a host that never resets its thread daemons exits once its work is done; task output shows only with output', async () => {
    const fixture = fileURLToPath(new URL('./fixtures/leave-without-reset.mjs', import.meta.url));
    for (const [arg, shown] of [['quiet', false], ['output', true]] as const) {
      // A 'message' listener added after worker.unref() refs the worker's port again: the host hung.
      const run = spawnSync(process.execPath, [fixture, arg], { encoding: 'utf8', timeout: 20_000 });
      expect(run.signal, `${arg}: ${run.stderr}`).toBeNull();
      expect(run.status).toBe(0);
      expect(run.stdout).toContain('value 42');
      expect(run.stdout.includes('TASK OUTPUT'), arg).toBe(shown);
    }
  }, 60_000);

  it('a host run with --conditions and V8 flags starts threads (a Worker refuses V8 flags in an explicit execArgv)', () => {
    const fixture = fileURLToPath(new URL('./fixtures/leave-without-reset.mjs', import.meta.url));
    for (const v8Flag of ['--expose-gc', '--max-old-space-size=256', '--stack-trace-limit=20']) {
      const run = spawnSync(process.execPath, ['--conditions=mirai-test', v8Flag, fixture, 'quiet'], { encoding: 'utf8', timeout: 20_000 });
      expect(run.stderr, v8Flag).not.toMatch(/invalid execArgv/);
      expect(run.status, `${v8Flag}: ${run.stderr}`).toBe(0);
      expect(run.stdout).toContain('value 42');
    }
  }, 60_000);

  it('a task that posts a malformed dial message to its parent port costs nothing: the host lives, the thread works on', async () => {
    await daemons(1, threadDaemons());
    const posted = await mirai(async () => {
      const { parentPort } = await import('node:worker_threads');
      parentPort!.postMessage({ type: 'mirai-ts.thread-dial', url: 'thread://nowhere', port: { close: 5 } });
      parentPort!.postMessage({ type: 'mirai-ts.thread-dial', url: 5, port: null });
      return 'posted';
    });
    expect(posted).toBe('posted');
    await sleep(50);
    expect(await mirai(() => 'still here')).toBe('still here');
    expect(status()?.connections).toBe(1);
  });

  it('nodeOptions: heap and stack sizes become the thread\'s resourceLimits; any other flag is refused before a running profile is reset', async () => {
    await daemons(1, { ...threadDaemons(), nodeOptions: ['--max-old-space-size=64'] });
    const limitMb = await mirai(async () => (await import('node:v8')).getHeapStatistics().heap_size_limit / 2 ** 20);
    expect(limitMb).toBeLessThan(200);
    const running = mirai(() => new Promise((r) => setTimeout(() => r('finished'), 300)));
    const err = await daemons(2, { ...threadDaemons(), nodeOptions: ['--expose-gc'] }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/thread daemons cannot take the node flag '--expose-gc': a thread has no command line; they take --max-old-space-size=<MB>/);
    expect(await running).toBe('finished');
  });

  it('refuses listen and dial options (a thread connection takes none) before a running profile is reset', async () => {
    await daemons(1, threadDaemons());
    const running = mirai(() => new Promise((r) => setTimeout(() => r('finished'), 300)));
    for (const [options, message] of [
      [{ dialOptions: { servername: 'x' } }, /^thread:\/\/ takes no dial options, got 'servername'/],
      [{ listenOptions: { backlog: 5 } }, /^thread:\/\/ takes no listen options, got 'backlog'/],
    ] as const) {
      const err = await daemons(2, { ...threadDaemons(), ...options }).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toMatch(message);
    }
    expect(await running).toBe('finished');
    expect(status()?.connections).toBe(1); // the running profile kept its daemon
  });

  it('rejects bad options and URLs with a ConfigError', async () => {
    expect(() => threadTransport({ transfr: true } as never)).toThrow(/^threadTransport\(\): unknown option 'transfr'; did you mean 'transfer'\? \(known: transfer, spin\)$/);
    expect(() => threadTransport({ transfer: 'yes' } as never)).toThrow(ConfigError);
    expect(() => threadTransport({ transfer: 'yes' } as never)).toThrow(/option 'transfer' must be a boolean \(true or false\), got 'yes' \(a string\)/);
    expect(() => threadDaemons({ spinn: 10 } as never)).toThrow(/unknown option 'spinn'; did you mean 'spin'\?/);
    expect(() => threadLauncher('fast' as never)).toThrow(/threadLauncher\(\): options must be an object, got 'fast' \(a string\)/);
    for (const [spin, shown] of [[-1, '-1'], [5_000, '5000'], [Number.NaN, 'NaN'], ['50', "'50' \\(a string\\)"]] as const) {
      expect(() => threadDaemons({ spin } as never)).toThrow(new RegExp(`option 'spin' must be a number of µs from 0 to 1000, got ${shown}$`));
    }
    expect(threadDaemons({ spin: 0 }).transports).toHaveLength(1);
    await expect(threadTransport().listen('tcp://127.0.0.1:0', { handshakeLimits: DEFAULT_LIMITS })).rejects.toThrow(/thread:\/\/ URLs/);
    // A path is not a name: it was dropped, and the listener given a fresh name.
    for (const url of ['thread:///x', 'thread://a/b', 'thread://a?x=1']) {
      await expect(threadTransport().listen(url, { handshakeLimits: DEFAULT_LIMITS })).rejects.toThrow(/a thread:\/\/ URL is thread:\/\/<name>/);
    }
  });

  it('names a listener given none with a name no listener of this thread holds, even one taken by hand', async () => {
    const transport = threadTransport();
    const taken = [];
    for (let n = 1; n <= 50; n++) {
      try {
        taken.push(await transport.listen(`thread://mirai-${n}`, { handshakeLimits: DEFAULT_LIMITS }));
      } catch {
        // already a fresh name of an earlier listener
      }
    }
    const fresh = [await transport.listen('thread://', { handshakeLimits: DEFAULT_LIMITS }), await transport.listen('thread://', { handshakeLimits: DEFAULT_LIMITS })];
    try {
      expect(fresh[0]!.url).not.toBe(fresh[1]!.url);
      for (const listener of fresh) expect(Number(/^thread:\/\/mirai-(\d+)$/.exec(listener.url)?.[1])).toBeGreaterThan(50);
    } finally {
      for (const listener of [...taken, ...fresh]) await listener.close();
    }
  });

  it('carries frames in order both ways, tiny and large, and reports a close to the peer', async () => {
    const transport = threadTransport();
    const listener = await transport.listen('thread://', { handshakeLimits: DEFAULT_LIMITS });
    const accepted = new Promise<import('@mirai-ts/core').Channel>((resolve) => (listener.onChannel = resolve));
    const daemon = await transport.dial(listener.url, { limits: DEFAULT_LIMITS });
    const host = await accepted;
    const got: Frame[] = [];
    host.onFrame = (f) => got.push(f);
    const closed = new Promise<Error | undefined>((resolve) => (host.onClose = resolve));
    const big = new Uint8Array(200_000).fill(7);
    daemon.send(frame(FrameType.Result, 1, [new Uint8Array([1, 2, 3])]));
    daemon.send(frame(FrameType.Result, 2, [big, new Uint8Array([9])], 1));
    daemon.send(frame(FrameType.Result, 3, []));
    await new Promise((r) => setTimeout(r, 50));
    expect(got.map((f) => f.id)).toEqual([1, 2, 3]);
    expect([...got[0]!.segments[0]!]).toEqual([1, 2, 3]);
    expect(got[1]!.segments[0]!.byteLength).toBe(200_000);
    expect(got[1]!.segments[0]![199_999]).toBe(7);
    expect(got[1]!.flags).toBe(1);
    expect(big.length).toBe(200_000); // copied, not moved: transfer is off
    daemon.close();
    expect(await closed).toBeUndefined();
    expect(host.closed).toBe(true);
    await listener.close();
  });
});

describe('PortChannel', () => {
  it('carries every byte value of a small (packed) frame and of a large one unchanged', async () => {
    const { MessageChannel } = await import('node:worker_threads');
    const { PortChannel } = await import('../src/index.js');
    const { port1, port2 } = new MessageChannel();
    const a = new PortChannel(port1, 'a', false);
    const b = new PortChannel(port2, 'b', false);
    const got: Frame[] = [];
    b.onFrame = (f) => got.push(f);
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    const big = new Uint8Array(10_000).map((_, i) => (i * 7) & 255);
    a.send(frame(FrameType.Task, 1, [all, new Uint8Array(0), all.subarray(250)], 3));
    a.send(frame(FrameType.Result, 2, [big, all], 0));
    for (let i = 0; i < 100 && got.length < 2; i++) await new Promise((r) => setTimeout(r, 5));
    expect(got.map((f) => [f.type, f.id, f.flags])).toEqual([
      [FrameType.Task, 1, 3],
      [FrameType.Result, 2, 0],
    ]);
    expect(got[0]!.segments.map((s) => [...s])).toEqual([[...all], [], [...all.subarray(250)]]);
    expect([...got[1]!.segments[0]!]).toEqual([...big]);
    expect([...got[1]!.segments[1]!]).toEqual([...all]);
    a.close();
    b.close();
  });

  it('answers a frame holding an array already moved itself, in order and without throwing or skipping a sequence number', async () => {
    const { port1, port2 } = new MessageChannel();
    const host = new PortChannel(port1, 'host', true);
    const daemon = new PortChannel(port2, 'daemon', true);
    const atHost: Frame[] = [];
    const atDaemon: Frame[] = [];
    host.onFrame = (f) => atHost.push(f);
    daemon.onFrame = (f) => atDaemon.push(f);
    await until(() => host.ringReady && daemon.ringReady); // small frames go through the rings
    const x = new Uint8Array(1 << 17).fill(5);
    host.send(frame(FrameType.Task, 7, [new Uint8Array([1]), x]));
    expect(x.byteLength).toBe(0); // moved
    // Sent again: a small frame now (the ring's way), and a large one (the port's): neither throws.
    expect(() => host.send(frame(FrameType.Task, 8, [new Uint8Array([1]), x]))).not.toThrow();
    expect(() => host.send(frame(FrameType.Everywhere, 9, [new Uint8Array(8000), x]))).not.toThrow();
    host.send(frame(FrameType.Task, 10, [new Uint8Array([2])]));
    expect(atHost).toEqual([]); // answered later, never inside send()
    await until(() => atDaemon.length === 2 && atHost.length === 2);
    // The daemon got the frames that could be sent, with no gap in their sequence.
    expect(atDaemon.map((f) => f.id)).toEqual([7, 10]);
    expect(atHost.map((f) => [f.type, f.id, f.flags])).toEqual([
      [FrameType.Result, 8, FrameFlag.Error],
      [FrameType.Result, 9, FrameFlag.Error],
    ]);
    const record = decodePayload(atHost[0]!.segments, 0, []) as { name: string; message: string; miraiKind: string; machinery: boolean };
    expect(record).toMatchObject({ name: 'SerializationError', miraiKind: 'serialize', machinery: true });
    expect(record.message).toMatch(/^task 8 could not be sent: a typed array in its arguments was already moved to another thread by transfer: true/);
    // A daemon's Result holding a moved array: an error Result for its task goes in its place (Final kept, Batch dropped).
    expect(() => daemon.send(frame(FrameType.Result, 7, [new Uint8Array([1]), x], FrameFlag.Final | FrameFlag.Batch))).not.toThrow();
    daemon.send(frame(FrameType.Result, 10, [new Uint8Array([3])]));
    await until(() => atHost.length === 4);
    expect(atHost.slice(2).map((f) => [f.type, f.id, f.flags])).toEqual([
      [FrameType.Result, 7, FrameFlag.Error | FrameFlag.Final],
      [FrameType.Result, 10, 0],
    ]);
    expect((decodePayload(atHost[2]!.segments, 0, []) as { message: string }).message).toMatch(/^the result of task 7 holds a typed array already moved/);
    expect(host.closed || daemon.closed).toBe(false);
    host.close();
    daemon.close();
  });
});

describe('PortChannel checks what it receives', () => {
  it('closes with a clear error on a message that is not a frame within the limits, before building it', async () => {
    const limits = { ...DEFAULT_LIMITS, maxSegments: 3, maxFrameBytes: 100_000 };
    // Frames travel as [sequence number, frame as posted]; the ring comes as [tag, buffer].
    const cases: [unknown, RegExp][] = [
      ['hello', /a message that is not a frame/],
      [[4, 0], /a message that is not a frame/],
      [[-1, [4, 0, 1, 'a', 1]], /a message that is not a frame/],
      [[0, [4, -1, 1, 'a', 1]], /bad type, flags or id/],
      [[0, [4, 0, 1.5, 'a', 1]], /bad type, flags or id/],
      [[0, [4, 0, 1, 'abcd', 1, 1, 1, 1]], /over the limits \(4 segments, at most 3\)/],
      [[0, [4, 0, 1, 'ab', 1, -1]], /bad segment length/],
      [[0, [4, 0, 1, 'ab', 3]], /lengths \(3 bytes\) do not match its bytes \(2\)/],
      [[0, [4, 0, 1, [new Uint8Array(1), 'x'], '']], /a segment that is neither bytes nor a length/],
      [[0, [4, 0, 1, [new Uint8Array(5), 2], 'abc']], /small segments \(2 bytes\) do not match its bytes \(3\)/],
      [[0, [4, 0, 1, [new Uint8Array(60_000), new Uint8Array(60_000)], '']], /over the limits \(120000 bytes, at most 100000\)/],
      [[0, [4, 0, 1, [new Uint8Array(4)]]], /a frame without segments/],
      [[0, [4, 0, 1, new Uint8Array(4), '']], /a frame without segments/],
      [[1, [4, 0, 1, 'a', 1]], /frame 1 from the port while 0 is missing/],
      [['mirai-ts.ring', new ArrayBuffer(1040)], /a ring that is not a SharedArrayBuffer/],
      [['mirai-ts.ring', new SharedArrayBuffer(1000)], /a ring of 1000 bytes \(not 16 \+ a power of two\)/],
    ];
    for (const [message, error] of cases) {
      const { port1, port2 } = new MessageChannel();
      const b = new PortChannel(port2, 'peer b', false);
      b.setLimits(limits);
      const got: Frame[] = [];
      b.onFrame = (f) => got.push(f);
      const closed = new Promise<Error | undefined>((resolve) => (b.onClose = resolve));
      port1.postMessage(message);
      const reason = await closed;
      expect(reason).toBeInstanceOf(ProtocolError);
      expect(reason?.message).toMatch(error);
      expect(reason?.message).toMatch(/^thread channel: .* from peer b$/);
      expect(got).toEqual([]);
      port1.close();
    }
  });
});

describe('PortChannel waiting end (a worker thread)', () => {
  interface Report {
    answered?: number;
    closed?: string | null;
    waited: number;
    turns?: number;
  }
  /** A waiting end in a worker (test/fixtures/echo-thread.mjs), and our end of its port. */
  function echoThread(limits = DEFAULT_LIMITS, timer = false): { host: PortChannel; port: MessagePort; reports: Report[]; worker: Worker; got: Frame[] } {
    const { port1, port2 } = new MessageChannel();
    const worker = new Worker(new URL('./fixtures/echo-thread.mjs', import.meta.url), { workerData: { port: port2, limits, timer }, transferList: [port2], execArgv: [] });
    const reports: Report[] = [];
    worker.on('message', (r: Report) => reports.push(r));
    const host = new PortChannel(port1, 'echo thread', false);
    const got: Frame[] = [];
    host.onFrame = (f) => got.push(f);
    return { host, port: port1, reports, worker, got };
  }

  it('answers tasks read in Atomics.wait; a malformed or oversized frame fails only its channel, with a clear error', async () => {
    const limits = { ...DEFAULT_LIMITS, maxFrameBytes: 1_000 };
    const a = echoThread(limits);
    const b = echoThread(limits);
    try {
      for (let id = 1; id <= 30; id++) {
        for (const t of [a, b]) t.host.send(frame(FrameType.Task, id, [new Uint8Array([id, 255, 0])]));
        await until(() => a.got.length === id && b.got.length === id);
      }
      expect(a.got.map((f) => f.id)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
      expect([...a.got[29]!.segments[0]!]).toEqual([30, 255, 0]);
      await until(() => a.reports.length === 30);
      expect(a.reports.at(-1)!.waited).toBeGreaterThan(0); // frames were taken in Atomics.wait

      // Malformed: segment lengths that do not add up to the bytes. Posted raw, then a valid
      // frame so the host notifies: the waiting end reads both without its event loop.
      a.port.postMessage([30, [FrameType.Task, 0, 31, 'abc', 1, 1]]); // sequence number 30: the 31st frame
      a.host.send(frame(FrameType.Task, 32, [new Uint8Array([1])]));
      await until(() => a.reports.some((r) => r.closed !== undefined));
      expect(a.reports.find((r) => r.closed !== undefined)!.closed).toMatch(/thread channel: a packed frame whose lengths \(2 bytes\) do not match its bytes \(3\) from echo/);
      expect(a.got.map((f) => f.id)).not.toContain(31);

      // Oversized (a small, packed frame over the receiver's 1 000-byte limit) on the other thread.
      b.host.send(frame(FrameType.Task, 40, [new Uint8Array(1_500)]));
      await until(() => b.reports.some((r) => r.closed !== undefined));
      expect(b.reports.find((r) => r.closed !== undefined)!.closed).toMatch(/a frame over the limits \(1500 bytes, at most 1000\)/);
    } finally {
      await Promise.all([a.worker.terminate(), b.worker.terminate()]);
    }
  });

  it('gives its event loop a turn every WAIT_SLICE_MS while waiting only when the loop has work of its own', async () => {
    const idle = echoThread();
    const busy = echoThread(DEFAULT_LIMITS, true); // a timer of its own
    try {
      // 12 tasks 3 × WAIT_SLICE_MS apart, under WAIT_IDLE_MS in all.
      for (let id = 1; id <= 12; id++) {
        for (const t of [idle, busy]) t.host.send(frame(FrameType.Task, id, [new Uint8Array([id])]));
        await until(() => idle.reports.length === id && busy.reports.length === id);
        await sleep(3 * WAIT_SLICE_MS);
      }
      const turns = (t: { reports: Report[] }): number => t.reports.at(-1)!.turns! - t.reports[0]!.turns!;
      expect(turns(busy)).toBeGreaterThanOrEqual(8); // about 3 a gap: its timer is served while it waits
      expect(turns(idle)).toBeLessThanOrEqual(3); // only the WAIT_IDLE_MS bound: no turns with nothing to run
    } finally {
      await Promise.all([idle.worker.terminate(), busy.worker.terminate()]);
    }
  });

  it('keeps answering the other thread when one thread channel fails', async () => {
    const a = echoThread();
    const b = echoThread();
    try {
      a.port.postMessage({ not: 'a frame' });
      a.host.send(frame(FrameType.Task, 1, []));
      await until(() => a.reports.some((r) => r.closed !== undefined));
      expect(a.reports.find((r) => r.closed !== undefined)!.closed).toMatch(/a message that is not a frame/);
      for (let id = 1; id <= 10; id++) {
        b.host.send(frame(FrameType.Task, id, [new Uint8Array([id])]));
        await until(() => b.got.length === id);
      }
      expect(b.got.map((f) => f.segments[0]![0])).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
      expect(b.reports.every((r) => r.closed === undefined)).toBe(true);
    } finally {
      await Promise.all([a.worker.terminate(), b.worker.terminate()]);
    }
  });
});
