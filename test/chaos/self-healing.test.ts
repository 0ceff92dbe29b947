/**
 * Chaos: every mirai settles, whatever happens to daemons and their host. Kill storms with
 * and without `retry`, poison tasks that kill their daemon, a host killed by SIGKILL with a
 * daemon stuck in an endless loop, and what the host leaves behind. Bounded to about a
 * minute here; `pnpm chaos` (MIRAI_CHAOS_LONG=1) runs longer storms.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionResetError, daemons, mirai, miraiMap, status, type Mirai } from '@mirai-ts/core';
import { alive, sleep, waitFor } from '../helpers/wait.js';

const LONG = process.env.MIRAI_CHAOS_LONG === '1';
const root = join(import.meta.dirname, '..', '..');

/** SIGKILLs a random connected daemon every `everyMs`, `kills` times. */
async function killStorm(kills: number, everyMs: number): Promise<number> {
  let killed = 0;
  for (let i = 0; i < kills; i++) {
    await sleep(everyMs);
    const pids = status()?.daemons.map((d) => d.pid).filter((p): p is number => p !== undefined) ?? [];
    if (pids.length === 0) continue;
    try {
      process.kill(pids[Math.floor(Math.random() * pids.length)]!, 'SIGKILL');
      killed++;
    } catch {
      // already gone
    }
  }
  return killed;
}

/** Waits for every mirai to settle, failing the test if one is still pending after `ms`. */
async function allSettle(list: readonly Mirai<unknown>[], ms: number): Promise<void> {
  const settled = await waitFor(() => list.every((m) => !m.unresolved), ms, 50);
  const pending = list.filter((m) => m.unresolved).length;
  expect(pending, `${pending} of ${list.length} tasks still pending`).toBe(0);
  expect(settled).toBe(true);
}

describe('chaos: self-healing', () => {
  afterEach(async () => {
    await daemons(0);
  });

  it('a kill storm without retry: every task settles, with its value or a connection reset (19)', async () => {
    await daemons(2, { log: () => {} });
    const n = LONG ? 10_000 : 2_000;
    const tasks = Array.from({ length: n }, (_, i) => mirai(async ({ i }: { i: number }) => {
      await new Promise((r) => setTimeout(r, 3));
      return i;
    }, { i }));
    // Replacements of daemons killed within seconds of connecting back off (a crash loop), so
    // some rounds find no daemon to kill.
    const killed = await killStorm(LONG ? 100 : 20, 100);
    expect(killed).toBeGreaterThanOrEqual(3);
    await allSettle(tasks, 60_000);
    const reset = tasks.filter((m) => m.error instanceof ConnectionResetError).length;
    const ok = tasks.filter((m, i) => m.value === i).length;
    expect(ok + reset).toBe(n);
    expect(reset).toBeGreaterThan(0);
    // The pool healed: it is back at its size and serves.
    expect(await waitFor(() => status()!.connections === 2, 20_000)).toBe(true);
    expect(await mirai(() => 'after the storm')).toBe('after the storm');
  }, 120_000);

  it('a kill storm with retry: every task succeeds, each result once', async () => {
    await daemons(2, { log: () => {} });
    const n = LONG ? 10_000 : 1_000;
    const tasks = Array.from({ length: n }, (_, i) => mirai(async ({ i }: { i: number }) => {
      await new Promise((r) => setTimeout(r, 1));
      return i;
    }, { i }, { retry: 50 }));
    await killStorm(LONG ? 100 : 15, 100);
    await allSettle(tasks, 60_000);
    expect(tasks.filter((m) => m.error !== undefined).map((m) => m.error!.message)).toEqual([]);
    expect(tasks.map((m) => m.value)).toEqual(Array.from({ length: n }, (_, i) => i));
    expect(tasks.some((m) => m.retries > 0)).toBe(true);
  }, 120_000);

  it('a poison map: items that kill their daemon cost their own task only', async () => {
    await daemons(2, { log: () => {} });
    const poisoned = new Set([3, 40, 41, 77, 120, 150, 151, 199]);
    const mp = miraiMap(
      Array.from({ length: 200 }, (_, i) => i),
      (i: number, poison: number[]) => {
        if (poison.includes(i)) process.exit(1);
        return i * 2;
      },
      { args: [...poisoned] },
    );
    const results = await mp;
    for (const [i, r] of results.entries()) {
      if (poisoned.has(i)) expect(r, `item ${i}`).toBeInstanceOf(ConnectionResetError);
      else expect(r, `item ${i}`).toBe(i * 2);
    }
    expect(await waitFor(() => status()!.connections === 2, 20_000)).toBe(true);
  }, 120_000);

  it('a host killed by SIGKILL takes its daemon with it within 2 s, even one in an endless loop, and leaves no files', async () => {
    // The host gets a temporary folder of its own: whatever it leaves there is its residue.
    const hostTmp = mkdtempSync(join(tmpdir(), 'chaos-host-'));
    const host = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { daemons, mirai, status } from '@mirai-ts/core';
         await daemons(1);
         mirai(() => { for (;;) {} });
         await new Promise((r) => setTimeout(r, 300));
         console.log(JSON.stringify(status().daemons.map((d) => d.pid)));
         setInterval(() => {}, 1000);`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'], cwd: root, env: { ...process.env, TMPDIR: hostTmp } },
    );
    const pids = await new Promise<number[]>((resolve) => host.stdout.once('data', (d: Buffer) => resolve(JSON.parse(d.toString()))));
    expect(pids).toHaveLength(1);
    // The daemon is busy in the loop: its own autoexit cannot act.
    expect(readFileSync(`/proc/${pids[0]}/stat`, 'utf8').split(' ')[2]).toBe('R');
    host.kill('SIGKILL');
    const killedAt = Date.now();
    expect(await waitFor(() => !alive(pids[0]!), 5_000, 10)).toBe(true);
    expect(Date.now() - killedAt).toBeLessThan(2_000);
    expect(readdirSync(hostTmp)).toEqual([]);
    rmSync(hostTmp, { recursive: true, force: true });
  }, 30_000);

  it('a task cannot read the profile secret from its environment', async () => {
    const h = await daemons(1, { secret: 'chaos-secret-value' });
    expect(h.connections).toBe(1);
    const seen = await mirai(async () => {
      const { readFileSync } = await import('node:fs');
      return { env: JSON.stringify(process.env), proc: readFileSync('/proc/self/environ', 'latin1') };
    });
    expect(seen.env).not.toContain('chaos-secret-value');
    expect(seen.proc).not.toContain('chaos-secret-value');
  });
});
