/**
 * The Slurm launcher against a real one-node Slurm (munged, slurmctld, slurmd) that this
 * file starts once, on 127.0.0.1, in a private directory (clusters/slurm.mjs). Daemons run
 * as real array jobs: each task reports its SLURM_ARRAY_TASK_ID.
 *
 * Skipped when Slurm is not installed, unless CI is set (then it fails).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, ConnectionResetError, daemons, LaunchError, mirai, miraiMap, status } from '@mirai-ts/core';
import { clusterConfig, slurm } from '@mirai-ts/launcher-cluster';
import { slurmMissing, startSlurm, type TestSlurm } from './clusters/slurm.mjs';
import { privateDir, processesWith, waitFor } from './support.js';

const missing = slurmMissing();
const URL = 'tcp://127.0.0.1:0';

/** Every file under `dir`, as text (Slurm's state: job records, scripts, environments). */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return filesUnder(path);
    try {
      return [readFileSync(path, 'latin1')];
    } catch {
      return [];
    }
  });
}

describe.skipIf(missing !== undefined)(`slurm() on a real Slurm${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let cluster: TestSlurm;
  const secrets = privateDir('mirai-secrets-');

  beforeAll(async () => {
    cluster = await startSlurm();
    // Client commands (sbatch, scancel) find the test cluster through SLURM_CONF.
    process.env.SLURM_CONF = cluster.conf;
  }, 60_000);

  afterEach(async () => {
    await daemons(0);
  });

  afterAll(async () => {
    await daemons(0);
    delete process.env.SLURM_CONF;
    await cluster?.stop();
    secrets.remove();
  }, 30_000);

  it('runs a miraiMap of 200 items on one 4-element array job; the secret is nowhere but its 0600 file', async () => {
    const secret = `cluster-test-secret-${process.pid}-${Date.now()}`;
    const launcher = slurm({ secretDir: secrets.dir });
    await daemons(4, { url: URL, remote: launcher, secret });

    // One submission: four elements of one array job, named by job id and index.
    const rows = status()!.daemons;
    expect(rows).toHaveLength(4);
    const ids = rows.map((r) => /^(\d+)_(\d+)$/.exec(r.launchId ?? '')).map((m) => ({ job: m![1], index: Number(m![2]) }));
    expect(new Set(ids.map((i) => i.job)).size).toBe(1);
    expect(ids.map((i) => i.index).sort()).toEqual([1, 2, 3, 4]);
    expect(rows.every((r) => r.launcher === 'slurm')).toBe(true);
    const jobId = ids[0]!.job!;

    const results = await miraiMap(
      Array.from({ length: 200 }, (_, i) => i),
      (x: number) => ({ square: x * x, task: Number(process.env.SLURM_ARRAY_TASK_ID), job: process.env.SLURM_ARRAY_JOB_ID }),
    );
    expect(results.map((r) => r.square)).toEqual(Array.from({ length: 200 }, (_, i) => i * i));
    expect(new Set(results.map((r) => r.job))).toEqual(new Set([jobId]));
    expect(results.every((r) => r.task >= 1 && r.task <= 4)).toBe(true);

    // The secret travels in a 0600 file in a 0700 directory...
    const file = launcher.secretFile('default');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(secrets.dir).mode & 0o777).toBe(0o700);
    expect(readFileSync(file, 'utf8').trim()).toBe(secret);
    // ...and in nothing else: the stored script, the job record, Slurm's state (the job's
    // environment record included), the job processes' argv and environment.
    const script = await cluster.cmd('scontrol', ['write', 'batch_script', `${jobId}_1`, '-']);
    expect(script).toContain(`--secret-file=${file}`);
    expect(script).not.toContain(secret);
    const record = await cluster.cmd('scontrol', ['show', 'job', '-d', jobId]);
    expect(record).toContain(`ArrayJobId=${jobId}`);
    expect(record).not.toContain(secret);
    expect(filesUnder(join(cluster.dir, 'state')).some((text) => text.includes('SLURM_') || text.includes('daemon-main'))).toBe(true);
    expect(filesUnder(cluster.dir).filter((text) => text.includes(secret))).toEqual([]);
    const jobProcesses = cluster.jobPids().map((pid) => ({ argv: readFileSync(`/proc/${pid}/cmdline`, 'latin1'), environ: readFileSync(`/proc/${pid}/environ`, 'latin1') }));
    expect(jobProcesses.filter((p) => p.argv.includes('daemon-main')).length).toBeGreaterThanOrEqual(4);
    for (const p of [...jobProcesses, ...processesWith('daemon-main')]) {
      expect(p.argv).not.toContain(secret);
      expect(p.environ).not.toContain(secret);
    }

    // Reset: daemons exit, the jobs end, the secret file goes.
    await daemons(0);
    expect(existsSync(file)).toBe(false);
    expect(await waitFor(async () => (await cluster.queue()).length === 0, 10_000)).toBe(true);
  });

  it('a reset cancels jobs still waiting in the queue; their launch timeout is a warning, not a failure', async () => {
    const logs: string[] = [];
    // --hold keeps the jobs pending, as on a busy cluster.
    const launcher = slurm({ secretDir: secrets.dir, directives: ['--hold'] });
    const handle = await daemons(3, { url: URL, remote: launcher, launchTimeout: 300, log: (_level, message) => logs.push(message) });
    expect(handle.connections).toBe(0);
    expect(logs.join('\n')).toMatch(/3 daemon\(s\) were launched \(slurm\) but not all connected.*waiting in the slurm queue/);
    const queued = await cluster.queue();
    expect(queued).toHaveLength(1); // one array job, pending as a whole
    await daemons(0);
    expect(await cluster.queue()).toEqual([]);
    const state = await cluster.cmd('squeue', ['-h', '-t', 'all', '-o', '%T', '-j', queued[0]!.replace(/_.*/, '')]);
    expect(state.trim().split('\n')[0]).toBe('CANCELLED');
    expect(existsSync(launcher.secretFile('default'))).toBe(false);
  });

  it('with failOnLaunchTimeout, jobs still queued at the launch timeout fail the launch and are withdrawn', async () => {
    const launcher = slurm({ secretDir: secrets.dir, directives: ['--hold'], failOnLaunchTimeout: true });
    await expect(daemons(2, { url: URL, remote: launcher, launchTimeout: 300 })).rejects.toThrow(LaunchError);
    expect(await cluster.queue()).toEqual([]);
  });

  it('a job cancelled mid-task settles that task with 19, and repair submits a replacement', async () => {
    await daemons(1, { url: URL, remote: slurm({ secretDir: secrets.dir }), repair: true });
    const first = status()!.daemons[0]!.launchId!;
    const long = mirai(() => new Promise((r) => setTimeout(r, 60_000)));
    expect(await waitFor(() => status()!.executing === 1, 5_000)).toBe(true);
    execFileSync('scancel', [first], { env: process.env });
    const err = await long.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConnectionResetError);
    // The replacement is a new submission: a new job id.
    expect(await waitFor(() => status()!.daemons.some((d) => d.launchId !== undefined && d.launchId !== first), 15_000)).toBe(true);
    expect(await mirai(() => process.env.SLURM_JOB_ID)).toMatch(/^\d+$/);
    expect(status()!.daemons.map((d) => d.launchId)).not.toContain(first);
  });

  it("a bad partition or directive is a LaunchError with sbatch's own message", async () => {
    await expect(daemons(2, { url: URL, remote: slurm({ secretDir: secrets.dir, partition: 'nosuchpartition' }) })).rejects.toThrow(
      /sbatch rejected the job \(exit 1\): sbatch: error: .*[Ii]nvalid partition/,
    );
    const bad = clusterConfig({ command: 'sbatch', secretDir: secrets.dir, options: '#SBATCH --no-such-option' });
    const err = await daemons(1, { url: URL, remote: bad }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(LaunchError);
    expect((err as Error).message).toMatch(/unrecognized option '--no-such-option'/);
    expect(await cluster.queue()).toEqual([]);
  });

  it('refuses a URL compute nodes cannot reach', async () => {
    const err = await daemons(1, { remote: slurm({ secretDir: secrets.dir }) }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as Error).cause).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/slurm: the profile listens at ipc:\/\/.*other machines cannot reach/);
  });
});
