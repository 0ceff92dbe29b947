import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CancelledError,
  ConnectionResetError,
  daemons,
  ErrorValue,
  info,
  mirai,
  miraiMap,
  QueueFullError,
  queueRoom,
  ResultTooLargeError,
  status,
  stopMirai,
  TimeoutError,
  type MiraiError,
} from '@mirai-ts/core';
import { encodeFrame, frame, FrameType } from '@mirai-ts/core/plugin';
import { alive, sleep, waitFor } from '../helpers/wait.js';

const errorOf = (p: PromiseLike<unknown>): Promise<MiraiError> =>
  Promise.resolve(p).then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: MiraiError) => e,
  );

/** Collects host log lines. */
function logSink(): { lines: string[]; log: (level: string, message: string) => void } {
  const lines: string[] = [];
  return { lines, log: (_level, message) => lines.push(message) };
}

describe('failures harm only the task they hit', () => {
  afterEach(async () => {
    await daemons(0);
  });

  it('times out with errorValue 5 and the daemon serves the next task', async () => {
    await daemons(1);
    const m = mirai(
      async (_: undefined, { signal }) => {
        await new Promise((resolve) => signal.addEventListener('abort', resolve));
        return 'late';
      },
      undefined,
      { timeout: 200 },
    );
    const err = await errorOf(m);
    expect(err).toBeInstanceOf(TimeoutError);
    expect(err.errorValue).toBe(ErrorValue.Timeout);
    expect(await mirai(() => 'next')).toBe('next');
  });

  it('cancels with an AbortSignal (20); a cancelled queued task never runs', async () => {
    await daemons(1);
    const dir = mkdtempSync(join(tmpdir(), 'mirai-test-'));
    const marker = join(dir, 'ran');
    const slow = mirai(async () => {
      await new Promise((r) => setTimeout(r, 300));
      return 'slow';
    });
    const controller = new AbortController();
    const queued = mirai(
      async ({ marker }: { marker: string }) => {
        const fs = await import('node:fs');
        fs.writeFileSync(marker, 'x');
      },
      { marker },
      { signal: controller.signal },
    );
    expect(info()!.awaiting).toBe(1);
    controller.abort('changed my mind');
    const err = await errorOf(queued);
    expect(err).toBeInstanceOf(CancelledError);
    expect(err.errorValue).toBe(ErrorValue.Cancelled);
    expect(err.message).toContain('changed my mind');
    expect(await slow).toBe('slow');
    expect(await mirai(() => 'after')).toBe('after');
    expect(existsSync(marker)).toBe(false);
    expect(stopMirai(slow)).toBe(false);
  });

  it('settles a task whose daemon dies with connection reset (19) within a second; others carry on', async () => {
    await daemons(2, { repair: false }); // the counts below are of a pool that does not heal
    const victim = mirai(async () => {
      setTimeout(() => process.kill(process.pid, 'SIGKILL'), 50);
      await new Promise((r) => setTimeout(r, 10_000));
    });
    const bystander = mirai(async () => {
      await new Promise((r) => setTimeout(r, 300));
      return 'fine';
    });
    const started = Date.now();
    const err = await errorOf(victim);
    expect(Date.now() - started).toBeLessThan(1_500);
    expect(err).toBeInstanceOf(ConnectionResetError);
    expect(err.errorValue).toBe(ErrorValue.ConnectionReset);
    expect(await bystander).toBe('fine');
    expect(await mirai(() => 'still serving')).toBe('still serving');
    expect(info()!.connections).toBe(1);
    expect(info()!.cumulative).toBe(2);
  });

  it('with retry, runs a task again on another daemon when its daemon dies; without, settles with 19', async () => {
    // The test kills four: flaky a (once), flaky b, and `always` twice; no healing, to count them.
    await daemons(4, { repair: false });
    const dir = mkdtempSync(join(tmpdir(), 'mirai-test-'));
    // The first attempt kills its own daemon; a second one finds the marker and succeeds.
    const flaky = async ({ marker }: { marker: string }) => {
      const fs = await import('node:fs');
      if (!fs.existsSync(marker)) {
        fs.writeFileSync(marker, String(process.pid));
        process.kill(process.pid, 'SIGKILL');
      }
      return { firstPid: Number(fs.readFileSync(marker, 'utf8')), pid: process.pid };
    };
    const out = await mirai(flaky, { marker: join(dir, 'a') }, { retry: 1 });
    expect(out.pid).not.toBe(out.firstPid);
    expect((await errorOf(mirai(flaky, { marker: join(dir, 'b') }))).errorValue).toBe(19);
    const always = mirai(() => void process.kill(process.pid, 'SIGKILL'), undefined, { retry: 1 });
    expect((await errorOf(always)).errorValue).toBe(19); // two attempts, two daemons gone
    expect(info()!.connections).toBe(0);
    expect(() => mirai(() => 1, undefined, { retry: -1 })).toThrow(/option 'retry' must be a whole number/);
  });

  it('settles pending tasks with connection reset on daemons(0), and daemons exit', async () => {
    await daemons(1);
    const pids = status()!.daemons.map((d) => d.pid!);
    const running = mirai(async () => new Promise((r) => setTimeout(r, 10_000)));
    const queued = mirai(() => 1);
    await sleep(50);
    await daemons(0);
    expect((await errorOf(running)).errorValue).toBe(19);
    expect((await errorOf(queued)).errorValue).toBe(19);
    expect(status()).toBeUndefined();
    expect(await waitFor(() => pids.every((pid) => !alive(pid)), 3_000)).toBe(true);
  });

  it('disconnects a peer that sends garbage, logs why, and keeps serving', async () => {
    const sink = logSink();
    const handle = await daemons(1, { log: sink.log, url: 'tcp://127.0.0.1:0' });
    const slow = mirai(async () => {
      await new Promise((r) => setTimeout(r, 200));
      return 'ok';
    });
    const port = Number(new URL(handle.url).port);
    const closed = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port }, () => socket.write('GET / HTTP/1.1\r\n\r\n'));
      socket.resume(); // read, so the host's close is seen
      socket.on('error', () => {});
      socket.on('close', () => resolve(true));
    });
    expect(closed).toBe(true);
    expect(await slow).toBe('ok');
    expect(sink.lines.some((l) => /refused|failed during the handshake/.test(l) && /magic/.test(l))).toBe(true);
    expect(status()!.rejected).toBe(1);
  });

  it('disconnects a peer announcing an oversized frame before the handshake', async () => {
    const sink = logSink();
    const handle = await daemons(1, { log: sink.log, url: 'tcp://127.0.0.1:0' });
    const port = Number(new URL(handle.url).port);
    await new Promise<void>((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port }, () => {
        const header = Buffer.alloc(20);
        header[0] = 0xa7;
        header[1] = 2; // Hello
        header.writeUInt32LE(1, 8); // one segment
        header.writeUInt32LE(1 << 30, 16); // of 1 GiB
        socket.write(header);
      });
      socket.resume();
      socket.on('error', () => {});
      socket.on('close', () => resolve());
    });
    expect(sink.lines.some((l) => /exceeds the limit/.test(l))).toBe(true);
    expect(await mirai(() => 'alive')).toBe('alive');
  });

  it('disconnects a peer that speaks another protocol version, with a logged reason', async () => {
    const sink = logSink();
    const handle = await daemons(1, { log: sink.log, url: 'tcp://127.0.0.1:0' });
    const port = Number(new URL(handle.url).port);
    const hello = Buffer.from(JSON.stringify({ protocol: 99, proof: 'x', nonce: 'y', pid: 1, hostname: 'h' }));
    const frameBytes = Buffer.concat(encodeFrame(frame(FrameType.Hello, 0, [hello])));
    await new Promise<void>((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port });
      socket.once('data', () => socket.write(frameBytes)); // answer the Challenge
      socket.resume();
      socket.on('error', () => {});
      socket.on('close', () => resolve());
    });
    expect(sink.lines.some((l) => l.includes('protocol version 99 (this host speaks 1)'))).toBe(true);
    expect(status()!.rejected).toBe(1);
    expect(await mirai(() => 'still serving')).toBe('still serving');
  });

  it('rejects a daemon with the wrong secret, counts and logs it', async () => {
    const sink = logSink();
    const handle = await daemons(1, { log: sink.log });
    const script = join(import.meta.dirname, '..', '..', 'core', 'dist', 'daemon-main.js');
    const impostor = spawn(process.execPath, [script, handle.url], {
      env: { ...process.env, MIRAI_SECRET: 'not-the-secret' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    impostor.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => impostor.on('exit', resolve));
    expect(code).toBe(10);
    expect(stderr).toMatch(/wrong secret|handshake/);
    expect(status()!.rejected).toBe(1);
    expect(status()!.connections).toBe(1);
    expect(sink.lines.some((l) => l.includes('wrong secret'))).toBe(true);
    expect(sink.lines.join('\n')).not.toContain('not-the-secret');
  });

  it('refuses a task when the queue is full, harming none of the queued ones', async () => {
    await daemons(1, { maxQueued: 2 });
    const running = mirai(async () => new Promise((r) => setTimeout(() => r('ran'), 300)));
    await waitFor(() => info()!.executing === 1);
    const queued = [mirai(() => 'q1'), mirai(() => 'q2')];
    expect(() => mirai(() => 'one too many')).toThrow(QueueFullError);
    expect(() => mirai(() => 'one too many')).toThrow(/queue is full \(2 tasks.*limits 2 tasks/);
    expect(info()!.awaiting).toBe(2);
    await queueRoom(); // resolves when the running task ends and one queued task starts
    expect(info()!.awaiting).toBeLessThan(2);
    const late = mirai(() => 'fits now');
    expect(await running).toBe('ran');
    expect(await Promise.all([...queued, late])).toEqual(['q1', 'q2', 'fits now']);
    expect(status()!.peakQueuedBytes).toBeGreaterThan(0);
  });

  it('a producer waiting in queueRoom() when the profile resets fails with a ConnectionResetError, not woken to submit', async () => {
    await daemons(1, { maxQueued: 1 });
    const running = mirai(async () => new Promise((r) => setTimeout(r, 5_000)));
    await waitFor(() => info()!.executing === 1);
    const queued = mirai(() => 'queued');
    // Awaited from the start, as a producer does (the reset rejects it at once).
    const waiting = expect(queueRoom()).rejects.toThrow(ConnectionResetError);
    await daemons(0);
    // Woken instead, its next mirai() would go to a one-off process per task (no daemons set).
    await waiting;
    await expect(queued).rejects.toThrow(ConnectionResetError);
    await expect(running).rejects.toThrow(ConnectionResetError);
  });

  it.each([
    ['process daemons', async () => ({})],
    ['thread daemons', async () => (await import('@mirai-ts/threads')).threadDaemons()],
  ])('fails only the task whose result is over maxResultBytes, which the daemon does not send (%s)', async (_, transport) => {
    await daemons(1, { ...(await transport()), maxResultBytes: 100_000, prefetch: 4 });
    const daemon = status()!.daemons[0]!.id;
    // Prefetched in one run: the tasks after the oversized one are answered in order.
    const tasks = [mirai(() => 'small'), mirai(() => 'x'.repeat(20_000_000)), mirai(() => new Float64Array(10_000)), mirai(() => new Float64Array(15_000))];
    const [small, over, under, alsoOver] = await Promise.allSettled(tasks);
    expect(small).toEqual({ status: 'fulfilled', value: 'small' });
    const err = (over as PromiseRejectedResult).reason as ResultTooLargeError;
    expect(err).toBeInstanceOf(ResultTooLargeError);
    expect(err.kind).toBe('result-too-large');
    expect(err.limit).toBe(100_000);
    expect(err.bytes).toBeGreaterThan(20_000_000);
    // The daemon knows the limit (Init) and sends the error instead; a daemon that sends the
    // result anyway is read past by the host (test/chaos/hostile-results.test.ts).
    expect(err.message).toMatch(/is \d+ bytes, over the profile's maxResultBytes \(100000\); it was not sent/);
    expect((under as PromiseFulfilledResult<Float64Array>).value.length).toBe(10_000); // 80 000 bytes and its encoding
    expect((alsoOver as PromiseRejectedResult).reason).toBeInstanceOf(ResultTooLargeError); // 120 000 bytes
    // A chunk's results travel as one frame: the limit is the chunk's.
    const mapped = await miraiMap([1, 2, 3, 4], (i: number) => (i === 4 ? 'y'.repeat(200_000) : i), { chunk: 2 });
    expect(mapped.slice(0, 2)).toEqual([1, 2]);
    expect(mapped.slice(2).every((v) => v instanceof ResultTooLargeError)).toBe(true);
    // Same daemon throughout: nothing was disconnected or replaced.
    expect(status()!.daemons.map((d) => d.id)).toEqual([daemon]);
    expect(status()!.cumulative).toBe(1);
    expect(await mirai(() => 'still serving')).toBe('still serving');
  });

  it('checks maxResultBytes', async () => {
    await expect(daemons(1, { maxResultBytes: 0 })).rejects.toThrow(/maxResultBytes.*a whole number ≥ 1 \(or Infinity\)/);
    await expect(daemons(1, { maxResultBytes: '1e6' as never })).rejects.toThrow(/maxResultBytes.*got "1e6"|maxResultBytes.*'1e6'/);
  });

  it('names an unknown URL scheme', async () => {
    await expect(daemons(1, { url: 'carrier-pigeon://coop' })).rejects.toThrow(/no transport for 'carrier-pigeon:\/\/' URLs \(known: ipc, abstract, tcp/);
  });

  it('daemons exit within a second when their host is killed with SIGKILL', async () => {
    const host = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { daemons, status } from '@mirai-ts/core';
         await daemons(2);
         console.log(JSON.stringify(status().daemons.map((d) => d.pid)));
         setInterval(() => {}, 1000);`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'], cwd: join(import.meta.dirname, '..', '..') },
    );
    const pids = await new Promise<number[]>((resolve) => host.stdout.once('data', (d: Buffer) => resolve(JSON.parse(d.toString()))));
    expect(pids).toHaveLength(2);
    expect(pids.every(alive)).toBe(true);
    host.kill('SIGKILL');
    const killedAt = Date.now();
    expect(await waitFor(() => pids.every((pid) => !alive(pid)), 3_000, 10)).toBe(true);
    // A 200 ms grace after the connection drops; the margin is for a loaded CI machine.
    expect(Date.now() - killedAt).toBeLessThan(2_000);
  });
});
