/**
 * Autoscaling on a real one-node Slurm (clusters/slurm.mjs, started here on 127.0.0.1 and
 * stopped by PID): a burst launches one job array, idle daemons leave, and no job is left in
 * squeue. Skipped when Slurm is not installed, unless CI is set (then it fails).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { daemons, mirai, status, type ScaleDecision } from '@mirai-ts/core';
import { slurm } from '@mirai-ts/launcher-cluster';
import { slurmMissing, startSlurm, type TestSlurm } from './clusters/slurm.mjs';
import { privateDir, waitFor } from './support.js';

const missing = slurmMissing();

describe.skipIf(missing !== undefined)(`autoscaling on a real Slurm${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let cluster: TestSlurm;
  const secrets = privateDir('mirai-secrets-');
  let saved: string | undefined;

  beforeAll(async () => {
    cluster = await startSlurm();
    saved = process.env.SLURM_CONF;
    process.env.SLURM_CONF = cluster.conf;
  }, 60_000);

  afterAll(async () => {
    await daemons(0);
    if (saved === undefined) delete process.env.SLURM_CONF;
    else process.env.SLURM_CONF = saved;
    await cluster?.stop();
    secrets.remove();
  }, 30_000);

  it('launches one job array for a burst, scales back to zero after idle, and leaves no job in squeue', async () => {
    const decisions: ScaleDecision[] = [];
    await daemons({
      url: 'tcp://127.0.0.1:0',
      remote: slurm({ secretDir: secrets.dir }),
      autoscale: { min: 0, max: 3, idle: 500, launchTimeout: 60_000, onScale: (d) => decisions.push(d) },
      log: () => {},
    });
    const jobs = new Set<string>();
    let peak = 0;
    const watch = setInterval(() => {
      const s = status();
      if (s === undefined) return;
      peak = Math.max(peak, s.connections);
      for (const d of s.daemons) if (d.launchId !== undefined) jobs.add(d.launchId);
    }, 20);
    const values = await Promise.all(Array.from({ length: 60 }, (_, i) => mirai(async ({ i }) => (await new Promise((r) => setTimeout(r, 50)), i), { i })));
    expect(values).toEqual(Array.from({ length: 60 }, (_, i) => i));
    expect(await waitFor(() => status()!.connections === 0, 20_000)).toBe(true);
    clearInterval(watch);
    // One sbatch: the three daemons are elements of one array job.
    expect(status()!.autoscale).toMatchObject({ launchCalls: 1, target: 0, launching: 0, failures: 0 });
    expect(decisions.filter((d) => d.action === 'launch').map((d) => d.count)).toEqual([3]);
    expect(peak).toBe(3);
    expect(new Set([...jobs].map((id) => id.split('_')[0])).size).toBe(1);
    expect(jobs.size).toBe(3);
    // The elements ended with their daemons: nothing is left in the queue, before any reset.
    const drained = await waitFor(async () => (await cluster.queue()).length === 0, 20_000, 100);
    expect(drained ? [] : await cluster.queue()).toEqual([]);
  }, 120_000);
});
