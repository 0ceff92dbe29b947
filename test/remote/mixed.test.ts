/**
 * One profile, three kinds of daemons, as mirai promises: local children, daemons over a real
 * sshd, and a Slurm job array on a real one-node Slurm, all dialling the profile's hostUrl()
 * at once. Tasks are dispatched FIFO across all of them; status() says where each came from.
 *
 * Skipped when sshd or Slurm is missing, unless CI is set (then it fails).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { daemons, hostUrl, launchLocal, launchRemote, miraiMap, status } from '@mirai-ts/core';
import { slurm } from '@mirai-ts/launcher-cluster';
import { sshConfig } from '@mirai-ts/launcher-ssh';
import { slurmMissing, startSlurm, type TestSlurm } from '../../plugins/launcher-cluster/test/clusters/slurm.mjs';
import { sshdAvailable, startSshd, type TestSshd } from '../helpers/sshd.js';
import { waitFor } from '../helpers/wait.js';

const why = !sshdAvailable() ? 'OpenSSH server is not installed' : slurmMissing();

describe.skipIf(why !== undefined)(`one profile with local, SSH and Slurm daemons${why ? ` (skipped: ${why})` : ''}`, () => {
  let sshd: TestSshd;
  let cluster: TestSlurm;
  const secretDir = mkdtempSync(join(tmpdir(), 'mirai-secrets-'));

  beforeAll(async () => {
    [sshd, cluster] = await Promise.all([startSshd(), startSlurm()]);
    process.env.SLURM_CONF = cluster.conf;
  }, 60_000);

  afterAll(async () => {
    await daemons(0);
    delete process.env.SLURM_CONF;
    await Promise.all([sshd?.stop(), cluster?.stop()]);
    rmSync(secretDir, { recursive: true, force: true });
  }, 30_000);

  it('dispatches across 2 local, 2 SSH and 4 Slurm daemons; status rows name each launcher', async () => {
    // A real interface address if the machine has one, as on a login node.
    const url = Object.values(hostUrl())[0] ?? 'tcp://127.0.0.1:0';
    await daemons({ url });
    await Promise.all([
      launchLocal(2),
      launchRemote(2, sshConfig({ remotes: [sshd.remote], sshOptions: sshd.sshOptions, timeout: 20_000 })),
      launchRemote(4, slurm({ secretDir })),
    ]);
    expect(await waitFor(() => status()!.connections === 8, 20_000)).toBe(true);

    const rows = status()!.daemons;
    const kinds = rows.map((r) => r.launcher).sort();
    expect(kinds).toEqual(['local', 'local', 'slurm', 'slurm', 'slurm', 'slurm', 'ssh', 'ssh']);
    for (const row of rows.filter((r) => r.launcher === 'slurm')) expect(row.launchId).toMatch(/^\d+_[1-4]$/);

    // Each task reports where it ran; 60 tasks of 40 ms keep all 8 daemons busy.
    const where = await miraiMap(Array.from({ length: 60 }, (_, i) => i), async () => {
      await new Promise((r) => setTimeout(r, 40));
      return process.env.SLURM_JOB_ID ? 'slurm' : process.env.MIRAI_TEST_SSHD ? 'ssh' : 'local';
    }).flat();
    expect(new Set(where)).toEqual(new Set(['local', 'ssh', 'slurm']));
    expect(where.filter((w) => w === 'slurm').length).toBeGreaterThan(where.filter((w) => w === 'local').length);
    // FIFO across the pool: every daemon took work.
    expect(status()!.daemons.every((r) => r.completed > 0)).toBe(true);

    await daemons(0);
    // Jobs whose daemons just exited may be listed as completing for a moment.
    expect(await waitFor(async () => (await cluster.queue()).length === 0, 10_000)).toBe(true);
    expect(await waitFor(() => sshd.sessionPids().length === 0, 10_000)).toBe(true);
  });
});
