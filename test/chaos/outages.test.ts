/**
 * Chaos: a NATS server that goes away for a minute, and producers that wait for queue room.
 * Every task settles; the pool keeps (or regains) its daemons; no producer that waited for
 * room is refused.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { daemons, mirai, queueRoom, QueueFullError, status, type Mirai } from '@mirai-ts/core';
import { natsTransport } from '@mirai-ts/transport-nats';
import { NatsServer, natsTestsEnabled } from '../../plugins/transport-nats/test/nats-server.js';
import { sleep, waitFor } from '../helpers/wait.js';

const LONG = process.env.MIRAI_CHAOS_LONG === '1';

describe.skipIf(!natsTestsEnabled())('chaos: a NATS outage of 60 s', () => {
  let server: NatsServer;
  beforeAll(async () => {
    server = await NatsServer.start();
  }, 60_000);
  afterAll(async () => {
    await daemons(0);
    await server?.dispose();
  });

  it('every task settles (value, 19, or a LaunchError once no daemon could start), and the pool works again after', async () => {
    await daemons(2, { url: `${server.url}/outage`, transports: [natsTransport()], log: () => {} });
    const before: Mirai<number>[] = Array.from({ length: 20 }, (_, i) =>
      mirai(async ({ i }: { i: number }) => {
        await new Promise((r) => setTimeout(r, 500));
        return i;
      }, { i }),
    );
    await sleep(300);
    await server.kill();
    const during = Array.from({ length: 10 }, (_, i) => mirai(({ i }: { i: number }) => i, { i }));
    await sleep(60_000);
    await server.restart();
    const all = [...before, ...during];
    expect(await waitFor(() => all.every((m) => !m.unresolved), 90_000, 100)).toBe(true);
    for (const m of all) {
      if (m.error !== undefined) expect([19, undefined]).toContain(m.error.errorValue);
      if (m.error !== undefined && m.error.errorValue === undefined) expect(m.error.kind).toBe('launch');
    }
    // Replacements kept trying through the outage and the pool is back.
    expect(await waitFor(() => status()!.connections === 2, 90_000, 100)).toBe(true);
    expect(await mirai(() => 'after the outage', undefined, { timeout: 30_000 })).toBe('after the outage');
  }, 300_000);
});

describe('chaos: producers waiting for queue room', () => {
  afterEach(async () => {
    await daemons(0);
  });

  async function produce(producers: number, each: number, options: { maxQueued?: number; maxQueuedBytes?: number }, payload: unknown) {
    await daemons(2, options);
    let refused = 0;
    const all: Mirai<number>[] = [];
    await Promise.all(
      Array.from({ length: producers }, async () => {
        for (let i = 0; i < each; i++) {
          await queueRoom();
          try {
            all.push(mirai(({ p }: { p: unknown }) => (p as { length?: number }).length ?? 0, { p: payload }));
          } catch (err) {
            if (err instanceof QueueFullError) refused++;
            else throw err;
          }
        }
      }),
    );
    await Promise.all(all);
    return { refused, done: all.length, peak: status()!.peakQueuedBytes };
  }

  it('one producer, maxQueued 10: never refused', async () => {
    expect(await produce(1, LONG ? 100_000 : 5_000, { maxQueued: 10 }, 1)).toMatchObject({ refused: 0, done: LONG ? 100_000 : 5_000 });
  }, 120_000);

  it('ten producers, maxQueued 10: never refused', async () => {
    expect(await produce(10, LONG ? 1_000 : 300, { maxQueued: 10 }, 1)).toMatchObject({ refused: 0, done: LONG ? 10_000 : 3_000 });
  }, 120_000);

  it('tasks of 10 KB under maxQueuedBytes: never refused, the limit held', async () => {
    const limit = 200_000;
    const result = await produce(4, LONG ? 25_000 : 500, { maxQueuedBytes: limit }, new Uint8Array(10_000));
    expect(result).toMatchObject({ refused: 0, done: LONG ? 100_000 : 2_000 });
    expect(result.peak).toBeLessThanOrEqual(limit + 11_000);
  }, 120_000);
});
