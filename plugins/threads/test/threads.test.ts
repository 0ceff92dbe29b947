/**
 * Thread daemons (worker threads running core's daemon loop over the thread:// transport),
 * through the public API: tasks, everywhere(), chunked maps and prefetch, typed errors,
 * a stuck thread terminated and replaced, transfer of large buffers, bad options.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CancelledError, ConfigError, daemons, everywhere, mirai, MiraiError, miraiMap, status } from '@mirai-ts/core';
import { DEFAULT_LIMITS, frame, FrameType, type Frame } from '@mirai-ts/core/plugin';
import { threadDaemons, threadTransport } from '../src/index.js';

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

  it('rejects bad options and URLs with a ConfigError', async () => {
    expect(() => threadTransport({ transfr: true } as never)).toThrow(/unknown option 'transfr' \(did you mean 'transfer'\?\)/);
    expect(() => threadTransport({ transfer: 'yes' } as never)).toThrow(ConfigError);
    await expect(threadTransport().listen('tcp://127.0.0.1:0', { handshakeLimits: DEFAULT_LIMITS })).rejects.toThrow(/thread:\/\/ URLs/);
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
});
