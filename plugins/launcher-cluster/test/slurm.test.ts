/**
 * The Slurm launcher against a real one-node Slurm (munged, slurmctld, slurmd) that this
 * file starts once, on 127.0.0.1, in a private directory (clusters/slurm.mjs).
 * Skipped when Slurm is not installed, unless CI is set (then it fails).
 */
import { join } from 'node:path';
import { slurm } from '@mirai-ts/launcher-cluster';
import { slurmMissing, startSlurm } from './clusters/slurm.mjs';
import { schedulerSuite } from './scheduler-suite.js';

schedulerSuite({
  name: 'slurm',
  missing: slurmMissing(),
  async start() {
    const cluster = await startSlurm();
    return {
      stateDir: join(cluster.dir, 'state'),
      env: { SLURM_CONF: cluster.conf },
      queue: () => cluster.queue(),
      pids: () => cluster.jobPids(),
      stop: () => cluster.stop(),
      cmd: (program: string, args: string[]) => cluster.cmd(program, args),
      failLaunches: (on: boolean) => cluster.failLaunches(on),
    };
  },
  launcher: (options) => slurm(options),
  idPattern: /^(\d+)_(\d+)$/,
  indexVar: 'SLURM_ARRAY_TASK_ID',
  states: { running: 'RUNNING', held: 'PENDING' },
  hold: '--hold',
  async records(cluster, jobId) {
    return {
      script: await cluster.cmd('scontrol', ['write', 'batch_script', `${jobId}_1`, '-']),
      record: await cluster.cmd('scontrol', ['show', 'job', '-d', jobId]),
    };
  },
  async kill(cluster, launchId) {
    await cluster.cmd('scancel', [launchId]);
  },
  badQueue: { options: { partition: 'nosuchpartition' }, message: /sbatch rejected the job \(exit 1\): sbatch: error: .*[Ii]nvalid partition/ },
  badDirective: { directive: '--no-such-option', message: /sbatch rejected the job \(exit \d+\): [^]*unrecognized option '--no-such-option'/ },
  // The node's prolog fails: Slurm drains the node and requeues the job held.
  stuck: { options: {}, failLaunches: true, clause: /is pending with reason "launch failed requeued held"/ },
});
