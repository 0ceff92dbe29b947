/**
 * Autoscaling decisions and crash budgets against in-memory daemons: a burst gives one launch
 * call, idle daemons above `min` leave without losing a task, failing launches back off,
 * `scale(n)` sets the target by hand, and a task that keeps crashing its daemon fails with its
 * crash history or escalates to a bigger profile.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { daemons, mirai, scale, status } from '../../src/index.js';
import { ConfigError, CrashLimitError } from '../../src/errors.js';
import type { ScaleDecision } from '../../src/host/scale-decision.js';
import { DaemonPool } from '../../src/host/pool.js';
import { resolveProfileOptions, type DaemonsOptions } from '../../src/host/profile-options.js';
import type { Launcher } from '../../src/launcher.js';
import { FakeLauncher, HOLD, memoryTransport, RecordedOutcome, until, type Behaviour } from '../support/memory-transport.js';

let nextId = 50_000;
function request(arg: unknown) {
  const outcome = new RecordedOutcome(nextId++);
  return { id: outcome.id, fn: (x: unknown) => x, params: [{ value: arg, name: 'args' }], outcome, retry: 0 };
}

const pools: DaemonPool[] = [];
async function open(launcher: Launcher, options: DaemonsOptions) {
  const logs: string[] = [];
  const settings = resolveProfileOptions(
    'scale-unit',
    { url: 'memory://', transports: [memoryTransport], launcher, log: (_l, m) => logs.push(m), launchTimeout: 1_000, ...options },
    () => 'memory://',
  );
  const pool = await DaemonPool.open(settings);
  pools.push(pool);
  pool.startAutoscaling();
  return { pool, logs };
}

afterEach(async () => {
  for (const pool of pools.splice(0)) await pool.close();
  await daemons(0, { profile: 'small' });
  await daemons(0, { profile: 'bigger' });
});

/** Answers after a short while (as a real task takes time), so a burst keeps daemons busy. */
function slowEcho(launcher: () => FakeLauncher): Behaviour {
  return ([x], id) => {
    const daemon = launcher().daemons.find((d) => d.received.includes(id));
    setTimeout(() => daemon?.release(id, x), 2);
    return HOLD;
  };
}

describe('autoscaling (in memory)', () => {
  it('scales a burst from min to max in one launch call, runs every task once, and returns to min after idle', async () => {
    const launcher: FakeLauncher = new FakeLauncher(slowEcho(() => launcher));
    const decisions: ScaleDecision[] = [];
    const { pool } = await open(launcher, { autoscale: { min: 1, max: 4, idle: 60, throttle: 20, onScale: (d) => decisions.push(d) } });
    await until(() => pool.status().connections === 1); // min, at start
    expect(launcher.launches).toBe(1);
    const requests = Array.from({ length: 500 }, (_, i) => request(i));
    for (const r of requests) pool.submit(r);
    let peak = 0;
    await until(() => {
      peak = Math.max(peak, pool.status().connections);
      return requests.every((r) => r.outcome.settled);
    }, 5_000);
    expect(requests.map((r) => r.outcome.value)).toEqual(requests.map((_, i) => i));
    expect(peak).toBe(4);
    expect(launcher.launches).toBe(2); // min at start, then the whole burst in one call
    expect(decisions.filter((d) => d.action === 'launch').map((d) => d.count)).toEqual([1, 3]);
    // Every task ran exactly once, over all daemons.
    const received = launcher.daemons.flatMap((d) => d.received);
    expect(received).toHaveLength(500);
    expect(new Set(received).size).toBe(500);
    await until(() => pool.status().connections === 1, 3_000);
    expect(launcher.daemons.filter((d) => d.exitReceived)).toHaveLength(3);
    expect(decisions.some((d) => d.action === 'retire')).toBe(true);
    const s = pool.status().autoscale!;
    expect(s).toMatchObject({ min: 1, max: 4, target: 1, connected: 1, launching: 0, launchCalls: 2, failures: 0 });
    // Retired daemons were not lost: nothing was launched to replace them.
    expect(launcher.launches).toBe(2);
  });

  it('counts a launch call that fails, backs off instead of looping, and reports why', async () => {
    let calls = 0;
    const broken: Launcher = {
      kind: 'broken',
      launch: async () => {
        calls++;
        throw new Error('no such command: mirai-daemon-xyz');
      },
    };
    const decisions: ScaleDecision[] = [];
    const { pool, logs } = await open(broken, { autoscale: { max: 3, throttle: 0, onScale: (d) => decisions.push(d) } });
    const r = request(1);
    pool.submit(r);
    await until(() => calls >= 3, 3_000);
    // 0.25 s then 0.5 s of backoff: far from a loop.
    await new Promise((res) => setTimeout(res, 200));
    expect(calls).toBeLessThanOrEqual(4);
    const s = pool.status().autoscale!;
    expect(s.failures).toBeGreaterThanOrEqual(3);
    expect(s.failedLaunches).toBe(s.failures);
    expect(s.lastError).toMatch(/no such command/);
    expect(s.retryAt).toBeGreaterThan(Date.now() - 50);
    expect(s.launching).toBe(0);
    expect(decisions.filter((d) => d.action === 'launch-failed').length).toBe(s.failures);
    expect(logs.some((l) => /autoscaling could not start 1 daemon\(s\): no such command/.test(l))).toBe(true);
    expect(r.outcome.settled).toBe(false);
  });

  it('counts launches that never connect within launchTimeout as failed', async () => {
    let calls = 0;
    const silent: Launcher = { kind: 'silent', launch: async (_s, n) => (calls++, Array.from({ length: n }, (_, i) => ({ id: `never-${calls}-${i}` }))) };
    const { pool } = await open(silent, { autoscale: { max: 2, throttle: 0, launchTimeout: 40 } });
    pool.submit(request(1));
    pool.submit(request(2));
    await until(() => (pool.status().autoscale?.failures ?? 0) >= 2, 3_000);
    const s = pool.status().autoscale!;
    expect(s.lastError).toMatch(/not all connected .* within 40 ms/);
    expect(calls).toBe(s.failures); // each attempt one launch call of 2
    expect(calls).toBeLessThanOrEqual(3);
  });

  it('backs off when autoscaled daemons die right after connecting (a crash loop), instead of relaunching at once', async () => {
    const launcher: FakeLauncher = new FakeLauncher((_p, id) => {
      const daemon = launcher.daemons.find((d) => d.received.includes(id) && !d.channel.closed);
      setImmediate(() => daemon?.crash());
      return HOLD;
    });
    const { pool } = await open(launcher, { autoscale: { max: 1, throttle: 0 } });
    const r = { ...request(1), retry: 100 };
    pool.submit(r);
    await until(() => (pool.status().autoscale?.failures ?? 0) >= 2, 3_000);
    await new Promise((res) => setTimeout(res, 100));
    // 0.25 s then 0.5 s between launches: three at most by now, not one per crash in a tight loop.
    expect(launcher.launches).toBeLessThanOrEqual(3);
    expect(pool.status().autoscale!.lastError).toMatch(/daemon \d+ was lost \d+ ms after connecting/);
    expect(r.outcome.settled).toBe(false);
  });

  it('scale(n) sets the target by hand: one launch call up, idle daemons leave at once down', async () => {
    const launcher: FakeLauncher = new FakeLauncher(slowEcho(() => launcher));
    const { pool } = await open(launcher, {});
    pool.scale(3);
    await until(() => pool.status().connections === 3);
    expect(launcher.launches).toBe(1);
    expect(pool.status().autoscale).toMatchObject({ mode: 'manual', target: 3 });
    pool.scale(1);
    await until(() => pool.status().connections === 1);
    expect(launcher.daemons.filter((d) => d.exitReceived)).toHaveLength(2);
    const r = request('after');
    pool.submit(r);
    await until(() => r.outcome.settled);
    expect(r.outcome.value).toBe('after');
    expect(() => pool.scale(-1)).toThrow(ConfigError);
    expect(() => pool.scale('auto')).toThrow(/no autoscale settings/);
  });

  it('scale(n) down waits for a busy daemon to finish its task, which is never lost', async () => {
    const launcher = new FakeLauncher(() => HOLD);
    const { pool } = await open(launcher, {});
    pool.scale(2);
    await until(() => pool.status().connections === 2);
    const r = request(0);
    pool.submit(r);
    const busy = await (async () => {
      await until(() => launcher.daemons.some((d) => d.held.size > 0));
      return launcher.daemons.find((d) => d.held.size > 0)!;
    })();
    pool.scale(0);
    await until(() => pool.status().connections === 1);
    expect(busy.exitReceived).toBe(false);
    busy.release(r.id, 'done');
    await until(() => r.outcome.settled && pool.status().connections === 0);
    expect(r.outcome.value).toBe('done');
    expect(busy.exitReceived).toBe(true);
  });

  it('rejects bad autoscale settings with a ConfigError naming the option', () => {
    const bad = (autoscale: unknown) => () => resolveProfileOptions('x', { autoscale } as DaemonsOptions, () => 'memory://');
    expect(bad({ max: 2, mx: 3 })).toThrow(/unknown option 'mx'; did you mean 'max'\?/);
    expect(bad({ min: 1 })).toThrow(/autoscale \}\): max is required/);
    expect(bad({ max: 2, min: 3 })).toThrow(/min ≤ max/);
    expect(bad({ max: '4' })).toThrow(/option 'max' must be a whole number from 1 to 10000, got '4' \(a string\)/);
    // One burst must not ask a launcher for more than daemons(n) may.
    expect(bad({ max: 1e9 })).toThrow(/option 'max' must be a whole number from 1 to 10000, got 1000000000/);
    expect(bad({ min: 20_000, max: 30_000 })).toThrow(/option 'min' must be a whole number from 0 to 10000/);
    expect(bad({ max: 2, idle: -1 })).toThrow(/option 'idle' must be a number of milliseconds/);
    expect(bad({ max: 2, onScale: 'log' })).toThrow(/option 'onScale' must be a function/);
    expect(() => resolveProfileOptions('x', { nodeOptions: ['--max-old-space-size=32', 'rm -rf'] }, () => 'memory://')).toThrow(/option 'nodeOptions' must be an array of node flags/);
  });
});

describe('crash budgets (in memory)', () => {
  /** Crashes whichever daemon receives the task. */
  function crasher(launcher: () => FakeLauncher): Behaviour {
    return (_p, id) => {
      const daemon = launcher().daemons.find((d) => d.received.includes(id) && !d.channel.closed);
      setImmediate(() => daemon?.crash());
      return HOLD;
    };
  }

  it('fails a task after crashesMax crashes with the history in a CrashLimitError', async () => {
    const launcher: FakeLauncher = new FakeLauncher(crasher(() => launcher));
    await daemons(2, { profile: 'small', url: 'memory://', transports: [memoryTransport], launcher, log: () => {} });
    const m = mirai(() => 1, {}, { profile: 'small', crashesMax: 2 });
    const err = await m.then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(CrashLimitError);
    const crashes = (err as CrashLimitError).crashes;
    expect(crashes).toHaveLength(2);
    expect(crashes.map((c) => c.profile)).toEqual(['small', 'small']);
    expect(new Set(crashes.map((c) => c.daemon)).size).toBe(2);
    expect((err as Error).message).toMatch(/crashed its daemon 2 time\(s\): daemon \d+ \(pid \d+\) of profile 'small' at \d{4}-/);
    expect(m.retries).toBe(1);
  });

  it("escalates a task that crashes on 'small' to 'bigger', where it succeeds", async () => {
    const small: FakeLauncher = new FakeLauncher(crasher(() => small));
    const big = new FakeLauncher(() => 'ran on bigger');
    await daemons(1, { profile: 'small', url: 'memory://', transports: [memoryTransport], launcher: small, log: () => {} });
    await daemons(1, { profile: 'bigger', url: 'memory://', transports: [memoryTransport], launcher: big, log: () => {} });
    expect(() => mirai(() => 1, {}, { profile: 'small', escalate: 'huge' })).toThrow(/escalate: no daemons are set for profile 'huge' \(profiles: bigger\)/);
    expect(() => mirai(() => 1, {}, { profile: 'small', escalate: 'small' })).toThrow(ConfigError);
    expect(() => mirai(() => 1, {}, { profile: 'small', crashesMax: 0 })).toThrow(/option 'crashesMax' must be a whole number ≥ 1, got 0/);
    const m = mirai(() => 1, {}, { profile: 'small', crashesMax: 1, escalate: 'bigger' });
    expect(await m).toBe('ran on bigger');
    expect(big.daemons[0]!.received).toHaveLength(1);
    expect(status('small')!.completed).toBe(1);
    expect(status('bigger')!.completed).toBe(1);
  });

  it('scale() is public and refuses a profile without daemons', async () => {
    expect(() => scale(2, 'nowhere')).toThrow(/No daemons set for profile 'nowhere'/);
  });

  it('scale(n) checks n as daemons(n) does: a string from process.env is named, and a target is capped', async () => {
    expect(() => scale('4' as never, 'nowhere')).toThrow(/scale\(n\): n must be a number, got the string '4' \(a string\); a count from process\.env is a string/);
    expect(() => scale(2 ** 40, 'nowhere')).toThrow('scale(n): n must be at most 10000 daemons, got 1099511627776');
    expect(() => scale(1.5, 'nowhere')).toThrow(/scale\(n\): n must be a whole number ≥ 0, got 1\.5/);
  });
});
