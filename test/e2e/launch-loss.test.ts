/**
 * Launches the host cannot watch (batch jobs) that end before their daemon connects: the
 * launcher reports them through `LaunchHandle.lost`. Here a launcher that behaves as a batch
 * scheduler's does (queued, no `exited`) starts real processes on this machine: a real daemon
 * while `working` is true, else a process that exits before dialling (a job whose node cannot
 * run the daemon). Every task settles: the launch fails when all of it was lost, repair and
 * autoscaling launch again after a backoff, and with no daemon ever, queued tasks fail.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { daemons, LaunchError, launchRemote, localLauncher, mirai, status, type LaunchHandle, type Launcher } from '@mirai-ts/core';
import { waitFor } from '../helpers/wait.js';

/**
 * A scheduler-like launcher over local processes; `working` decides what the next jobs do.
 * The broken jobs of one launch are reported lost together, once all have ended, as one
 * listing of a job array reports them.
 */
function jobLauncher(failAfterMs: number, queued = true): Launcher & { working: boolean; launched: number; connectedCalls: number; cancelled: string[] } {
  const local = localLauncher();
  const launcher = {
    kind: 'test-batch',
    queued,
    working: false,
    launched: 0,
    connectedCalls: 0,
    /** The launch ids a reset cancelled (a scheduler's `scancel` each). */
    cancelled: [] as string[],
    async launch(spec: Parameters<Launcher['launch']>[0], n: number): Promise<LaunchHandle[]> {
      launcher.launched += n;
      if (launcher.working) {
        // Real daemons; the host sees them as it sees jobs: no `exited`, a `lost` that would
        // resolve if the process ended before connecting.
        const handles = await local.launch(spec, n);
        return handles.map((h) => {
          let connected = false;
          const lost = h.exited!.then(({ code }) => (connected ? new Promise<string>(() => {}) : `job ${h.id} ended with ${code}`));
          return {
            id: h.id,
            kill: h.kill,
            cancel: async () => void launcher.cancelled.push(h.id),
            lost,
            connected: () => {
              connected = true;
              launcher.connectedCalls++;
            },
          };
        });
      }
      const jobs = Array.from({ length: n }, (_, i) => {
        const id = `broken-${launcher.launched}-${i}`;
        const child = spawn(process.execPath, ['-e', `setTimeout(() => process.exit(3), ${failAfterMs})`], { stdio: 'ignore' });
        const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
        return { id, child, exit };
      });
      const allEnded = Promise.all(jobs.map((j) => j.exit));
      return jobs.map(({ id, child, exit }) => ({
        id,
        kill: () => child.kill(),
        cancel: async () => void child.kill(), // a scheduler withdraws a queued job at reset
        lost: allEnded.then(async () => `job ${id} ended (exit ${await exit}) before its daemon connected`),
        connected: () => launcher.connectedCalls++,
      }));
    },
  };
  return launcher;
}

describe('launches lost before their daemon connects', () => {
  afterEach(async () => {
    await daemons(0);
  });

  it('a launch whose every job ends before connecting fails at once with why, not at the launch timeout', async () => {
    const launcher = jobLauncher(100);
    const started = Date.now();
    const err = await daemons(3, { launcher, launchTimeout: 60_000, log: () => {} }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(LaunchError);
    expect((err as Error).message).toMatch(/^profile 'default': job broken-3-\d ended \(exit 3\) before its daemon connected \(and 2 more daemon\(s\) of this launch were lost\)$/);
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  it('with repair, jobs lost after the launch call returned are launched again with backoff; the task runs once jobs work', async () => {
    const launcher = jobLauncher(400);
    const warnings: string[] = [];
    await daemons(1, { launcher, launchTimeout: 200, repair: true, log: (level, message) => level === 'warn' && warnings.push(message) });
    expect(status()!.connections).toBe(0); // returned at the launch timeout: the job "is queued"
    const task = mirai(() => 'ran');
    // Lost, then replaced (a failure, with backoff), and lost again...
    expect(await waitFor(() => status()!.launches.failures >= 2, 20_000)).toBe(true);
    expect(warnings.join('\n')).toMatch(/profile 'default': job broken-1-0 ended \(exit 3\) before its daemon connected \(1 in a row\); trying again in/);
    expect(status()!.launches.lastError).toMatch(/before its daemon connected/);
    // ...until jobs work: the next replacement connects and runs the queued task.
    launcher.working = true;
    expect(await task).toBe('ran');
    expect(launcher.connectedCalls).toBe(1);
    expect(status()!.connections).toBe(1);
  }, 60_000);

  it('autoscaling counts a lost job as a failed launch and launches again for its backlog', async () => {
    const launcher = jobLauncher(400);
    await daemons({ launcher, launchTimeout: 200, autoscale: { min: 0, max: 1, idle: 60_000 }, log: () => {} });
    const task = mirai(() => 'scaled');
    expect(await waitFor(() => (status()!.autoscale?.failedLaunches ?? 0) >= 1, 20_000)).toBe(true);
    const s = status()!.autoscale!;
    expect(s.lastError).toMatch(/^job broken-1-0 ended \(exit 3\) before its daemon connected$/);
    // Not counted as still on its way: the failed one left room for the next launch.
    expect(await waitFor(() => launcher.launched >= 2, 20_000)).toBe(true);
    launcher.working = true;
    expect(await task).toBe('scaled');
    expect(status()!.autoscale).toMatchObject({ connected: 1, launching: 0 });
  }, 60_000);

  it('jobs of one launch lost together after it returned are one failed launch, not one per job', async () => {
    const launcher = jobLauncher(400);
    await daemons(4, { launcher, launchTimeout: 200, repair: true, log: () => {} });
    const task = mirai(() => 'eventually');
    expect(await waitFor(() => status()!.launches.failures >= 1, 20_000)).toBe(true);
    expect(status()!.launches.failures).toBe(1);
    expect(status()!.launches.lastError).toMatch(/^job broken-4-\d ended \(exit 3\) before its daemon connected \(and 3 more daemon\(s\) of that launch\)$/);
    launcher.working = true;
    expect(await task).toBe('eventually');
  }, 60_000);

  it('a replacement that joins from the queue after its launch call returned ends the failures in a row once it lives', async () => {
    const launcher = jobLauncher(60_000);
    launcher.working = true;
    await daemons(1, { launcher, launchTimeout: 300, repair: true, log: () => {} });
    // Replacement daemons start slowly (past launchTimeout: their call returns, "queued").
    const dir = mkdtempSync(join(tmpdir(), 'mirai-slow-start-'));
    const preload = join(dir, 'slow.cjs');
    writeFileSync(preload, 'Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);\n');
    const before = process.env.NODE_OPTIONS;
    process.env.NODE_OPTIONS = `${before ?? ''} --require=${preload}`.trim();
    try {
      process.kill(status()!.daemons[0]!.pid!, 'SIGKILL'); // dies right after connecting: a failure
      expect(await waitFor(() => status()!.launches.failures === 1, 5_000)).toBe(true);
      expect(await waitFor(() => status()!.connections === 1, 10_000)).toBe(true);
    } finally {
      if (before === undefined) delete process.env.NODE_OPTIONS;
      else process.env.NODE_OPTIONS = before;
      rmSync(dir, { recursive: true, force: true });
    }
    // Healthy once it outlives a quick death (5 s): the count goes back to 0.
    expect(await waitFor(() => status()!.launches.failures === 0, 10_000)).toBe(true);
  }, 30_000);

  it('a launch that failed counts once: the loss its killed jobs report afterwards is not counted again', async () => {
    // Not queued: a launch whose jobs have not connected by launchTimeout fails, and its jobs are killed.
    const launcher = jobLauncher(60_000, false);
    await daemons({ launcher, launchTimeout: 200, repair: true, log: () => {} });
    await expect(launchRemote(2, launcher)).rejects.toThrow(/not all connected .* within 200 ms/);
    // The killed jobs end, and their launcher reports them lost: nothing more is counted or launched.
    await new Promise((r) => setTimeout(r, 1_000));
    expect(launcher.launched).toBe(2);
    expect(status()!.launches).toMatchObject({ failures: 0, pending: 0 });
  });

  it("autoscaling: the first launch of min daemons is the autoscaler's own, so jobs still queued are not launched again", async () => {
    const launcher = jobLauncher(60_000);
    await daemons({ launcher, launchTimeout: 200, autoscale: { min: 1, max: 1, throttle: 0 }, log: () => {} });
    await new Promise((r) => setTimeout(r, 500));
    expect(launcher.launched).toBe(1);
    expect(status()!.autoscale).toMatchObject({ launching: 1, launchCalls: 1 });
  });

  it("a launcher whose hooks misbehave (connected() and left() throw, lost rejects) costs a warning, never the host or a task", async () => {
    const local = localLauncher();
    const warnings: string[] = [];
    const launcher: Launcher = {
      kind: 'test-faulty',
      async launch(spec, n) {
        return (await local.launch(spec, n)).map((h) => ({
          id: h.id,
          kill: h.kill,
          lost: new Promise<string>((_, reject) => setTimeout(() => reject(new Error('lost rejected')), 50)),
          connected: () => {
            throw new Error('connected threw');
          },
          left: () => {
            throw new Error('left threw');
          },
        }));
      },
    };
    await daemons(1, { launcher, maxtasks: 1, log: (level, message) => level === 'warn' && warnings.push(message) });
    expect(await mirai(() => 'served')).toBe('served'); // then the daemon leaves by its limit
    // Its connection closes after it said it leaves: left() comes then.
    expect(await waitFor(() => warnings.some((w) => w.includes('left() threw')), 5_000)).toBe(true);
    const said = warnings.join('\n');
    expect(said).toMatch(/the test-faulty launcher's connected\(\) threw: connected threw/);
    expect(said).toMatch(/the test-faulty launcher's left\(\) threw: left threw/);
    expect(said).toMatch(/the test-faulty launcher's lost promise rejected: Error: lost rejected/);
  });

  it('a long-lived profile forgets the launches of daemons that left: a reset cancels only what may still run', async () => {
    const launcher = jobLauncher(400);
    launcher.working = true;
    await daemons({ launcher, autoscale: { min: 0, max: 2, idle: 100, throttle: 10 }, log: () => {} });
    for (let round = 0; round < 3; round++) {
      expect(await Promise.all([mirai(() => 1), mirai(() => 2)])).toEqual([1, 2]);
      expect(await waitFor(() => status()!.connections === 0, 10_000)).toBe(true); // retired when idle
    }
    expect(launcher.launched).toBeGreaterThanOrEqual(3);
    // One daemon still runs a task at the reset: only its launch is cancelled.
    const long = mirai(() => new Promise((r) => setTimeout(r, 60_000)));
    expect(await waitFor(() => status()!.executing === 1, 10_000)).toBe(true);
    const running = status()!.daemons[0]!.launchId;
    await daemons(0);
    await long.catch(() => {});
    expect(launcher.cancelled).toEqual([running]);
  }, 60_000);

  it('with no daemon ever connecting, queued tasks fail with a LaunchError after the failures in a row; launching goes on', async () => {
    // Each job outlives the launch timeout (the call returns), then ends without connecting.
    const launcher = jobLauncher(300);
    await daemons(1, { launcher, launchTimeout: 100, repair: true, log: () => {} });
    const err = await mirai(() => 'never').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(LaunchError);
    expect((err as Error).message).toMatch(/^profile 'default' has no daemons: 8 attempts to start them failed, the last: job broken-\d+-0 ended \(exit 3\) before its daemon connected$/);
    // Launching goes on, backing off (the next attempt is some 30 s away: not waited for here).
    expect(status()!.launches).toMatchObject({ failures: 8, pending: 1 });
    expect(status()!.launches.retryAt).toBeGreaterThan(Date.now());
  }, 90_000);
});

describe('a launcher whose launch() never returns', () => {
  afterEach(async () => {
    await daemons(0);
  });

  /** A launcher stuck in launch() (an API or credential call that hangs, a command that blocks). */
  function stuckLauncher(): Launcher & { calls: number } {
    const launcher = {
      kind: 'stuck',
      calls: 0,
      launch(): Promise<LaunchHandle[]> {
        launcher.calls++;
        return new Promise<LaunchHandle[]>(() => {});
      },
    };
    return launcher;
  }

  it('fails the launch at the launch timeout with a LaunchError naming the launcher', async () => {
    const started = Date.now();
    const err = await daemons(1, { launcher: stuckLauncher(), launchTimeout: 300, log: () => {} }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(LaunchError);
    expect((err as Error).message).toBe(`profile 'default': the stuck launcher's launch() did not return within 300 ms (the launch timeout)`);
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  it("a queued launcher's launch() is not timed (it bounds its own submissions): a slow submission is no failure", async () => {
    const logs: string[] = [];
    // A scheduler slow to take the submission: launch() returns after the launch timeout.
    const slowQueue: Launcher = {
      kind: 'slowqueue',
      queued: true,
      launch: () => new Promise<LaunchHandle[]>((resolve) => setTimeout(() => resolve([{ id: 'job-1', cancel: async () => {} }]), 600)),
    };
    const handle = await daemons(1, { launcher: slowQueue, launchTimeout: 300, log: (_level, message) => logs.push(message) });
    expect(handle.connections).toBe(0);
    expect(logs.join('\n')).toMatch(/may be waiting in the slowqueue queue/);
  });

  it('daemons(0) during such a launch returns, and the launch fails', async () => {
    const launching = daemons(1, { launcher: stuckLauncher(), launchTimeout: 60_000, log: () => {} }).then(
      () => undefined,
      (e: unknown) => e,
    );
    await new Promise((r) => setTimeout(r, 100));
    const started = Date.now();
    await daemons(0);
    expect(Date.now() - started).toBeLessThan(3_000);
    const err = await launching;
    expect(err).toBeInstanceOf(LaunchError);
    expect((err as Error).message).toMatch(/was reset while its daemons were launching/);
  });

  it('autoscaling counts each stuck launch as a failure and backs off; a queued task settles after the failures in a row', async () => {
    const launcher = stuckLauncher();
    await daemons({ launcher, launchTimeout: 300, autoscale: { max: 1 }, log: () => {} });
    const err = await mirai(() => 'never').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(LaunchError);
    expect((err as Error).message).toMatch(/^profile 'default' has no daemons: 8 attempts to start them failed, the last: profile 'default': the stuck launcher's launch\(\) did not return within 300 ms/);
    expect(status()!.autoscale).toMatchObject({ failures: 8, launching: 0 });
    expect(launcher.calls).toBe(8);
  }, 90_000);
});
