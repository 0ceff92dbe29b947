/**
 * Real daemons over a real nats-server: the whole mirai API, with NATS as the transport.
 * Daemons run the built packages (dist).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, daemons, everywhere, isMiraiError, mirai, miraiMap, status, stopMirai, type MiraiError } from '@mirai-ts/core';
import { natsTransport } from '@mirai-ts/transport-nats';
import { NatsServer, natsTestsEnabled } from './nats-server.js';
import { requireBuiltPackages } from './built.js';

const enabled = natsTestsEnabled();

async function settle<T>(p: PromiseLike<T>): Promise<{ value?: T; error?: MiraiError }> {
  try {
    return { value: await p };
  } catch (error) {
    return { error: error as MiraiError };
  }
}

describe.skipIf(!enabled)('NATS end to end (real daemons)', () => {
  let server: NatsServer;
  let scope = 0;
  const url = (): string => `${server.url}/e2e/s${++scope}`;
  const tmp = mkdtempSync(join(tmpdir(), 'mirai-nats-e2e-'));

  beforeAll(async () => {
    requireBuiltPackages();
    server = await NatsServer.start();
  }, 60_000);
  afterEach(async () => {
    await daemons(0);
    await daemons(0, { profile: 'other' });
  });
  afterAll(async () => {
    await server?.dispose();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('runs mirai and miraiMap on daemons that dial in through NATS', async () => {
    const handle = await daemons(2, { url: url(), transports: [natsTransport()] });
    expect(handle.connections).toBe(2);
    expect(await mirai(({ a, b }: { a: number; b: number }) => a + b, { a: 100, b: 42 })).toBe(142);
    const squares = await miraiMap([1, 2, 3, 4, 5, 6, 7, 8], (x: number) => x * x);
    expect(squares).toEqual([1, 4, 9, 16, 25, 36, 49, 64]);
    // A large argument and result cross as many NATS messages (max_payload is 1 MB).
    const big = Float64Array.from({ length: 1_000_000 }, (_, i) => i);
    const back = await mirai(({ v }: { v: Float64Array }) => v.map((x) => x * 2), { v: big });
    expect(back.length).toBe(1_000_000);
    expect(back[999_999]).toBe(1_999_998);
    const s = status()!;
    expect(s.url).toMatch(/^nats:\/\//);
    expect(s.connections).toBe(2);
    expect(new Set(s.daemons.map((d) => d.pid)).size).toBe(2);
  }, 60_000);

  it('everywhere() runs set-up on every NATS daemon before later tasks', async () => {
    await daemons(2, { url: url(), transports: [natsTransport()] });
    const pids = await everywhere(() => {
      (globalThis as Record<string, unknown>).natsSetup = 'ready';
      return process.pid;
    });
    expect(new Set(pids).size).toBe(2);
    const seen = await miraiMap([1, 2, 3, 4, 5, 6], () => (globalThis as Record<string, unknown>).natsSetup);
    expect(seen).toEqual(Array(6).fill('ready'));
  }, 60_000);

  it('times out (5) and cancels (20) tasks; the daemon goes on serving', async () => {
    await daemons(1, { url: url(), transport: natsTransport() }); // the singular form
    // Cooperative: stops when cancelled (a task that ignores the signal gets its daemon replaced).
    const slow = (_: unknown, ctx: { signal: AbortSignal }) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(resolve, 3_000);
        ctx.signal.addEventListener('abort', () => {
          clearTimeout(timer);
          reject(ctx.signal.reason);
        });
      });
    const timedOut = await settle(mirai(slow, undefined, { timeout: 200 }));
    expect(timedOut.error?.errorValue).toBe(5);
    const m = mirai(slow);
    await new Promise((r) => setTimeout(r, 200));
    expect(stopMirai(m)).toBe(true);
    expect((await settle(m)).error?.errorValue).toBe(20);
    expect(await mirai(() => 'still here')).toBe('still here');
    expect(status()!.connections).toBe(1);
  }, 60_000);

  it('a daemon busy in a long synchronous task is not mistaken for a dead one', async () => {
    await daemons(1, { url: url(), transports: [natsTransport()] });
    // Its event loop is blocked for 7 s: heartbeats go unanswered, but its NATS
    // subscription stays, so the host keeps waiting (a dead daemon is noticed in ~6 s).
    const spin = () => {
      const end = Date.now() + 7_000;
      while (Date.now() < end);
      return 'done';
    };
    expect(await mirai(spin)).toBe('done');
    expect(status()!.connections).toBe(1);
  }, 60_000);

  it('a daemon stuck in a cancelled synchronous task is replaced; the pool stays at its size', async () => {
    await daemons(1, { url: url(), transports: [natsTransport()] });
    const before = status()!.daemons[0]!.pid;
    const m = mirai(() => {
      const end = Date.now() + 30_000;
      while (Date.now() < end); // cannot hear the cancel
    });
    await new Promise((r) => setTimeout(r, 300));
    stopMirai(m);
    expect((await settle(m)).error?.errorValue).toBe(20);
    expect(await mirai(() => process.pid, undefined, { timeout: 30_000 })).not.toBe(before);
    expect(status()!.connections).toBe(1);
  }, 60_000);

  it('a daemon killed mid-task settles its task with connection reset (19) within seconds (default settings)', async () => {
    await daemons(2, { url: url(), transports: [natsTransport()] });
    const m = mirai(() => new Promise((r) => setTimeout(r, 60_000)));
    let pid: number | undefined;
    for (let i = 0; i < 100 && pid === undefined; i++) {
      await new Promise((r) => setTimeout(r, 50));
      pid = status()!.daemons.find((d) => d.state === 'busy')?.pid;
    }
    expect(pid).toBeDefined();
    const killedAt = Date.now();
    process.kill(pid!, 'SIGKILL');
    const outcome = await settle(m);
    expect(outcome.error?.errorValue).toBe(19);
    expect(outcome.error?.kind).toBe('connection-reset');
    // heartbeat 1 s + peerTimeout 5 s by default, with room for a loaded machine
    expect(Date.now() - killedAt).toBeLessThan(15_000);
    expect(await mirai(() => 'the other daemon')).toBe('the other daemon');
  }, 60_000);

  it('keeps profiles on one server apart by URL path, and refuses a second host on the same path', async () => {
    const a = url();
    const b = url();
    await daemons(1, { url: a, transports: [natsTransport()] });
    await daemons(1, { url: b, transports: [natsTransport()], profile: 'other' });
    const pidA = status()!.daemons[0]!.pid;
    const pidB = status('other')!.daemons[0]!.pid;
    expect(pidA).not.toBe(pidB);
    const ranA = await miraiMap([1, 2, 3, 4], () => process.pid);
    const ranB = await miraiMap([1, 2, 3, 4], () => process.pid, { profile: 'other' });
    expect(new Set(ranA)).toEqual(new Set([pidA]));
    expect(new Set(ranB)).toEqual(new Set([pidB]));
    const second = await settle(daemons(1, { url: a, transports: [natsTransport()], profile: 'third' }));
    expect(second.error).toBeInstanceOf(ConfigError);
    expect(second.error?.message).toMatch(/already listening/);
    await daemons(0, { profile: 'third' });
  }, 60_000);

  it('survives a NATS server restart: running tasks complete or settle with 19, none hangs or runs twice', async () => {
    await daemons(2, { url: url(), transports: [natsTransport()] });
    const log = join(tmp, 'runs.log');
    const task = async ({ id, log }: { id: number; log: string }) => {
      const fs = await import('node:fs');
      fs.appendFileSync(log, `${id}\n`);
      await new Promise((r) => setTimeout(r, 1_500));
      return id;
    };
    const ms = [1, 2, 3, 4].map((id) => mirai(task, { id, log }));
    await new Promise((r) => setTimeout(r, 500)); // two running, two queued
    await server.kill();
    await new Promise((r) => setTimeout(r, 1_000));
    await server.restart();
    const started = Date.now();
    const outcomes = await Promise.all(ms.map((m) => settle(m)));
    expect(Date.now() - started).toBeLessThan(45_000);
    for (const [i, o] of outcomes.entries()) {
      if (o.error !== undefined) expect(o.error.errorValue).toBe(19);
      else expect(o.value).toBe(i + 1);
    }
    const runs = readFileSync(log, 'utf8').trim().split('\n').map(Number);
    expect(new Set(runs).size).toBe(runs.length); // no task ran twice
    // The profile still works after the restart.
    expect(await mirai(() => 'after restart', undefined, { timeout: 30_000 })).toBe('after restart');
  }, 90_000);

  it('refuses a URL with credentials in it, without echoing them', async () => {
    const outcome = await settle(daemons(1, { url: `nats://me:hunter2@127.0.0.1:${server.port}/x`, transports: [natsTransport()] }));
    expect(isMiraiError(outcome.error)).toBe(true);
    expect(outcome.error?.kind).toBe('config');
    expect(outcome.error?.message).not.toContain('hunter2');
  });
});
