/**
 * The Grid Engine launcher against a real one-node Son of Grid Engine cell (sge_qmaster,
 * sge_execd) that this file builds and starts once in a private SGE_ROOT (clusters/sge.mjs).
 * Skipped when Grid Engine is not installed, unless CI is set (then it fails).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sge } from '@mirai-ts/launcher-cluster';
import { sgeMissing, startSge } from './clusters/sge.mjs';
import { schedulerSuite } from './scheduler-suite.js';

schedulerSuite({
  name: 'sge',
  missing: sgeMissing(),
  async start() {
    const cell = await startSge();
    const { SGE_ROOT, SGE_CELL, SGE_QMASTER_PORT, SGE_EXECD_PORT } = cell.env;
    return {
      stateDir: cell.root,
      env: { SGE_ROOT, SGE_CELL, SGE_QMASTER_PORT, SGE_EXECD_PORT },
      cmd: (program: string, args: string[]) => cell.cmd(program, args),
      queue: () => cell.queue(),
      pids: () => cell.pids(),
      stop: () => cell.stop(),
    };
  },
  launcher: (options) => sge(options),
  idPattern: /^(\d+)\.(\d+)$/,
  indexVar: 'SGE_TASK_ID',
  states: { running: 'r', held: 'hqw' },
  hold: '-h',
  async records(cluster, jobId) {
    return {
      // The qmaster spools each job's script under its own name.
      script: readFileSync(join(cluster.stateDir, 'default', 'spool', 'qmaster', 'job_scripts', jobId), 'utf8'),
      record: await cluster.cmd('qstat', ['-j', jobId]),
    };
  },
  async kill(cluster, launchId) {
    const [job, task] = launchId.split('.');
    await cluster.cmd('qdel', [job!, '-t', task!]);
  },
  badQueue: { options: { queue: 'nosuchqueue' }, message: /qsub rejected the job \(exit 1\): .*nosuchqueue/ },
  badDirective: { directive: '-l nosuchresource=1', message: /qsub rejected the job \(exit 1\): .*nosuchresource/ },
  // A working directory that does not exist: the job cannot start and stays queued as Eqw.
  stuck: { options: { directives: ['-wd /nonexistent-mirai-dir'] }, failLaunches: false, clause: /is in error state E\w*/ },
});
