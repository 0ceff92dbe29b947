/**
 * Daemons that end themselves (maxtasks, walltime) while holding tasks they have not started
 * (`prefetch`, or direct mode), with real daemon processes: the host takes those tasks back and
 * other daemons run them, so every task settles with its value and runs exactly once. And a task
 * whose frame an async serializer finishes after its profile was reset fails instead of hanging.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionResetError, daemons, info, launchLocal, localUrl, mirai, status, type DaemonsOptions, type Serializer } from '@mirai-ts/core';
import { Box, boxSerializer } from '../helpers/fixtures/serializers.mjs';
import { waitFor } from '../helpers/wait.js';

const quiet = (): void => {};

/** A task that appends `<id> <pid>` to `file` where it runs, takes `ms`, and returns its id and pid. */
const recorded = async ({ id, ms, file }: { id: number; ms: number; file: string }): Promise<{ id: number; pid: number }> => {
  (await import('node:fs')).appendFileSync(file, `${id} ${process.pid}\n`);
  await new Promise((r) => setTimeout(r, ms));
  return { id, pid: process.pid };
};

/** Each id's runs, as `[id, pid]` lines of the file. */
function runs(file: string): [number, number][] {
  return readFileSync(file, 'utf8').trim().split('\n').map((line) => line.split(' ').map(Number) as [number, number]);
}

describe('daemons that leave by a limit while holding tasks', () => {
  let dir = '';
  afterEach(async () => {
    await daemons(0);
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
    dir = '';
  });

  const cases: [string, DaemonsOptions][] = [
    ['prefetch: 4', { prefetch: 4 }],
    ['dispatcher: false', { dispatcher: false }],
  ];

  for (const [mode, options] of cases) {
    it(`maxtasks, ${mode}: the daemon leaves after its last task, the ones it held run on later daemons, each once`, async () => {
      dir = mkdtempSync(join(tmpdir(), 'mirai-leaving-'));
      const file = join(dir, 'ran.txt');
      await daemons(1, { ...options, maxtasks: 2, repair: false, log: quiet });
      const first = status()!.daemons[0]!.pid!;
      const tasks = Array.from({ length: 6 }, (_, id) => mirai(recorded, { id, ms: 50, file }));
      // It runs two, leaves, and hands back the four it held: they wait for a daemon.
      expect(await waitFor(() => info()!.connections === 0 && status()!.daemons.length === 0 && info()!.awaiting === 4, 5_000)).toBe(true);
      expect(info()!.executing).toBe(0);
      // Two more daemons (two tasks each) run the rest.
      await launchLocal(2);
      const values = await Promise.all(tasks);
      expect(values.map((v) => v.id)).toEqual([0, 1, 2, 3, 4, 5]);
      expect(values.slice(0, 2).every((v) => v.pid === first)).toBe(true);
      expect(values.slice(2).every((v) => v.pid !== first)).toBe(true);
      const ran = runs(file);
      expect(ran.map(([id]) => id).sort()).toEqual([0, 1, 2, 3, 4, 5]); // each once
      for (const v of values) expect(ran).toContainEqual([v.id, v.pid]); // where it said it ran
      expect(await waitFor(() => info()!.connections === 0, 5_000)).toBe(true); // they left too
    });

    it(`walltime, ${mode}, autoscaled: every task settles with its value and runs once, replacements taking the rest`, async () => {
      dir = mkdtempSync(join(tmpdir(), 'mirai-leaving-'));
      const file = join(dir, 'ran.txt');
      // At most one daemon at a time: each leaves once 400 ms have passed, with tasks it never started.
      await daemons({ ...options, walltime: 400, autoscale: { min: 1, max: 1, throttle: 0 }, log: quiet });
      expect(await waitFor(() => info()!.connections === 1, 10_000)).toBe(true);
      const tasks = Array.from({ length: 8 }, (_, id) => mirai(recorded, { id, ms: 150, file }));
      const values = await Promise.all(tasks);
      expect(values.map((v) => v.id)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
      const ran = runs(file);
      expect(ran.map(([id]) => id).sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7]); // each once
      for (const v of values) expect(ran).toContainEqual([v.id, v.pid]);
      // It took more than one daemon: the first left with tasks it held.
      expect(new Set(values.map((v) => v.pid)).size).toBeGreaterThan(1);
    });
  }
});

describe('a task built after its profile was reset', () => {
  afterEach(async () => {
    await daemons(0);
  });

  it('fails with a ConnectionResetError instead of staying pending', async () => {
    // Encodes a Box in 100 ms: the frame is ready only after the reset below.
    const fixture = boxSerializer();
    const slow: Serializer = {
      ...fixture,
      encode: async (box: unknown) => {
        await new Promise((r) => setTimeout(r, 100));
        return fixture.encode(box as Box) as Uint8Array;
      },
    } as Serializer;
    await daemons({ url: localUrl(), serializers: [slow], log: quiet });
    const m = mirai(({ b }: { b: Box }) => b.label, { b: new Box('7') });
    await daemons(0);
    const outcome = await Promise.race([
      Promise.resolve(m).then(
        () => 'fulfilled',
        (err: unknown) => err,
      ),
      new Promise((r) => setTimeout(() => r('still pending after 2 s'), 2_000)),
    ]);
    expect(outcome).toBeInstanceOf(ConnectionResetError);
    expect((outcome as Error).message).toMatch(/was reset/);
  });
});
