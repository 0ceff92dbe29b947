/**
 * The pool against in-memory daemons and a fake launcher: launching until connected, repair
 * of lost daemons, replacement of a daemon stuck in a cancelled task, reset.
 */
import { describe, expect, it } from 'vitest';
import { CancelledError, LaunchError } from '../../src/errors.js';
import { DaemonPool } from '../../src/host/pool.js';
import { resolveProfileOptions, type DaemonsOptions } from '../../src/host/profile-options.js';
import type { Launcher } from '../../src/launcher.js';
import { FakeLauncher, HOLD, memoryTransport, until, type Behaviour, RecordedOutcome } from '../support/memory-transport.js';

let nextId = 1000;
function request(arg: unknown) {
  const outcome = new RecordedOutcome(nextId++);
  return { id: outcome.id, fn: (x: unknown) => x, params: [{ value: arg, name: 'args' }], outcome, retry: 0 };
}

async function open(launcher: Launcher, options: DaemonsOptions = {}) {
  const logs: string[] = [];
  const settings = resolveProfileOptions(
    'unit',
    { url: 'memory://', transports: [memoryTransport], launcher, log: (_l, m) => logs.push(m), launchTimeout: 1_000, ...options },
    () => 'memory://',
  );
  return { pool: await DaemonPool.open(settings), logs };
}

const echo: Behaviour = ([x]) => x;

describe('pool (in memory)', () => {
  it('launches daemons, resolves once they connected, and runs tasks on them', async () => {
    const launcher = new FakeLauncher(echo);
    const { pool } = await open(launcher);
    await pool.launch(3);
    expect(pool.status().connections).toBe(3);
    expect(pool.status().daemons.map((d) => d.launcher)).toEqual(['fake', 'fake', 'fake']);
    const r = request('hi');
    pool.submit(r);
    await until(() => r.outcome.settled);
    expect(r.outcome.value).toBe('hi');
    await pool.close();
    expect(launcher.daemons.every((d) => d.exitReceived)).toBe(true);
  });

  it('fails a launch whose daemons never connect with a LaunchError after the launch timeout', async () => {
    const silent: Launcher = { kind: 'silent', launch: async (_spec, n) => Array.from({ length: n }, (_, i) => ({ id: `s${i}` })) };
    const { pool } = await open(silent, { launchTimeout: 50 });
    await expect(pool.launch(2)).rejects.toBeInstanceOf(LaunchError);
    await pool.close();
  });

  it("a launch that timed out says what its unconnected launches wrote to stderr (where they ran, for ssh): each text once, at most three", async () => {
    const texts = ['Warning: slow disk\n(ssh to ssh://me@node1:22)', 'Warning: slow disk\n(ssh to ssh://me@node1:22)', '(ssh to ssh://me@node2:22)', 'C', 'D', 'E', ''];
    const said: Launcher = {
      kind: 'said',
      launch: async (_spec, n) => Array.from({ length: n }, (_, i) => ({ id: `t${i}`, stderrTail: () => texts[i]! })),
    };
    const { pool } = await open(said, { launchTimeout: 50 });
    const two = await pool.launch(3).catch((e: Error) => e);
    expect(two).toBeInstanceOf(LaunchError);
    expect((two as Error).message).toMatch(
      /^profile 'unit': 3 daemon\(s\) were launched \(said\) but not all connected to memory:\/\/\S* within 50 ms; their stderr:\nWarning: slow disk\n\(ssh to ssh:\/\/me@node1:22\)\n\(ssh to ssh:\/\/me@node2:22\)$/,
    );
    const many = await pool.launch(7).catch((e: Error) => e);
    expect((many as Error).message).toMatch(/their stderr:\nWarning: slow disk\n\(ssh to ssh:\/\/me@node1:22\)\n\(ssh to ssh:\/\/me@node2:22\)\nC\n\(and 2 more\)$/);
    // Launches that wrote nothing add nothing.
    const quiet: Launcher = { kind: 'quiet', launch: async (_spec, n) => Array.from({ length: n }, (_, i) => ({ id: `q${i}`, stderrTail: () => '' })) };
    await expect(pool.launch(1, quiet)).rejects.toThrow(/within 50 ms$/);
    await pool.close();
  });

  it('a launch that timed out leaves no waiter for its joins behind (a launcher failing for days added one per attempt)', async () => {
    const silent: Launcher = { kind: 'silent', launch: async (_spec, n) => Array.from({ length: n }, (_, i) => ({ id: `s${i}` })) };
    const { pool } = await open(silent, { launchTimeout: 20 });
    for (let i = 0; i < 5; i++) await expect(pool.launch(1)).rejects.toBeInstanceOf(LaunchError);
    // Internal state, read on purpose: the leak is invisible from outside until memory runs out.
    const waiters = (pool as unknown as { dispatcher: { waiters: Set<unknown> } }).dispatcher.waiters;
    expect(waiters.size).toBe(0);
    await pool.close();
  });

  it('with repair, replaces a lost daemon from the same launcher', async () => {
    const launcher = new FakeLauncher(echo);
    const { pool, logs } = await open(launcher, { repair: true });
    await pool.launch(2);
    launcher.daemons[0]!.crash();
    await until(() => launcher.launches === 2 && pool.status().connections === 2);
    expect(pool.status().cumulative).toBe(3);
    expect(logs.some((l) => /daemon 1 was lost/.test(l))).toBe(true);
    await pool.close();
  });

  it('without repair, a lost daemon is not replaced', async () => {
    const launcher = new FakeLauncher(echo);
    const { pool } = await open(launcher);
    await pool.launch(2);
    launcher.daemons[0]!.crash();
    await until(() => pool.status().connections === 1);
    await new Promise((r) => setTimeout(r, 20));
    expect(launcher.launches).toBe(1);
    await pool.close();
  });

  it('kills a daemon stuck in a cancelled task and launches a replacement', async () => {
    const launcher = new FakeLauncher(() => HOLD);
    const { pool } = await open(launcher, { cancelGrace: 20 });
    await pool.launch(1);
    const r = request('stuck');
    const submitted = pool.submit(r);
    await until(() => launcher.daemons[0]!.received.length === 1);
    submitted.cancel(new CancelledError('stop'));
    expect(r.outcome.error).toBeInstanceOf(CancelledError);
    await until(() => launcher.launches === 2 && pool.status().connections === 1);
    expect(pool.status().daemons[0]!.launchId).toBe('fake-2-0');
    await pool.close();
  });
});

describe('self-healing (in memory)', () => {
  it('retries a replacement that fails to start, with backoff, until one starts; failures show in status()', async () => {
    const launcher = new FakeLauncher(echo);
    let refuse = 0;
    const flaky: Launcher = {
      kind: 'flaky',
      launch: async (spec, n) => {
        if (refuse > 0) {
          refuse--;
          throw new Error('no capacity');
        }
        return launcher.launch(spec, n);
      },
    };
    const { pool, logs } = await open(flaky);
    await pool.launch(1);
    refuse = 2;
    launcher.daemons[0]!.crash();
    // The daemon died as soon as it connected (a crash loop: one failure), then two launches failed.
    await until(() => pool.status().launches.failures === 3, 3_000);
    expect(pool.status().launches.lastError).toMatch(/no capacity/);
    expect(pool.status().launches.pending).toBe(1);
    expect(logs.filter((l) => /could not start 1 replacement daemon/.test(l))).toHaveLength(2);
    await until(() => pool.status().connections === 1, 5_000);
    expect(pool.status().launches.pending).toBe(0);
    // Failures clear once the new daemon has outlived a crash loop (5 s).
    await until(() => pool.status().launches.failures === 0, 8_000);
    await pool.close();
  });

  it('backs off a crash loop instead of relaunching at once, and never stops', async () => {
    const launcher = new FakeLauncher(echo);
    const { pool } = await open(launcher);
    await pool.launch(1);
    const started = Date.now();
    // Each new daemon dies as soon as it connects: three crashes in a row.
    for (let i = 0; i < 3; i++) {
      await until(() => pool.status().connections === 1, 5_000);
      launcher.daemons.at(-1)!.crash();
      await until(() => pool.status().connections === 0);
    }
    await until(() => pool.status().connections === 1, 5_000);
    // 0.25 s + 0.5 s of backoff (± jitter) at least, before the fourth daemon.
    expect(Date.now() - started).toBeGreaterThan(500);
    expect(launcher.launches).toBe(4);
    await pool.close();
  });

  it('keeps queued tasks waiting while it retries launches that fail, and settles them at reset', async () => {
    const never: Launcher = { kind: 'never', launch: async () => { throw new Error('quota exceeded'); } };
    const launcher = new FakeLauncher(echo);
    const { pool } = await open({ kind: 'once', launch: (spec, n) => (launcher.launches === 0 ? launcher.launch(spec, n) : never.launch(spec, n)) });
    await pool.launch(1);
    launcher.daemons[0]!.crash();
    await until(() => pool.status().connections === 0);
    const r = request('waits');
    pool.submit(r);
    // (After eight failures in a row, about a minute of backoff, queued tasks fail with a
    // LaunchError; the chaos suite covers that.)
    await until(() => pool.status().launches.failures >= 2, 3_000);
    expect(r.outcome.settled).toBe(false);
    await pool.close();
    expect(r.outcome.error?.errorValue).toBe(19);
  });
});
