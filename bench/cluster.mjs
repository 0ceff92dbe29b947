/**
 * Cluster-launcher benchmarks (issue 12) on a real one-node Slurm that each round starts and
 * stops itself (plugins/launcher-cluster/test/clusters/slurm.mjs: private state directory,
 * 127.0.0.1, stopped by PID). Imports the built packages: build first.
 *
 *   import { clusterBench } from './cluster.mjs';
 *   const figures = await clusterBench({ round: 0 });
 *
 * - slurm_first_result_s: from `daemons(4, { remote: slurm() })` to the first result of a
 *   task, on a 4-element array (target: ≤ 1.5 × slurm_submit_limit_s).
 * - slurm_submit_limit_s: a bare `sbatch --array=1-4` whose elements just start Node and exit,
 *   from submission to all four done: the scheduler's own floor, measured in the same round.
 * - slurm_array_submit_ms: `launch()` of 1000 daemons (one array submission, held so none
 *   starts), then cancelled; beside slurm_array_submit_limit_ms, a bare
 *   `sbatch --array=1-1000 --hold` of the same kind.
 *
 * Without Slurm (or not as root) the round gives no figures and a note says why.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { now, runStandalone, sleep } from './lib/harness.mjs';

const run = promisify(execFile);
const CLUSTERS = new URL('../plugins/launcher-cluster/test/clusters/slurm.mjs', import.meta.url).href;

/** Seconds from daemons(4) to the first result. */
async function firstResult(core, slurm, secretDir) {
  const t0 = now();
  try {
    await core.daemons(4, { url: 'tcp://127.0.0.1:0', remote: slurm({ secretDir }) });
    await core.mirai(() => 1);
    return (now() - t0) / 1000;
  } finally {
    await core.daemons(0);
  }
}

/** Seconds from a bare 4-element sbatch to all four elements having run Node and exited. */
async function submitLimit(cluster, dir) {
  const marks = mkdtempSync(join(dir, 'marks-'));
  const script = `#!/bin/sh\n#SBATCH --output=/dev/null\n#SBATCH --array=1-4\n${process.execPath} -e 0 && : > ${marks}/$SLURM_ARRAY_TASK_ID\n`;
  const t0 = now();
  const child = execFile('sbatch', ['--parsable'], { env: cluster.env });
  child.stdin.end(script);
  await new Promise((resolve, reject) => child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`sbatch exited with ${code}`)))));
  while (![1, 2, 3, 4].every((i) => existsSync(join(marks, String(i))))) {
    if (now() - t0 > 60_000) throw new Error('the bare array did not finish within 60 s');
    await sleep(5);
  }
  return (now() - t0) / 1000;
}

/**
 * Waits until Slurm lists no job. A submission made while earlier jobs are still completing
 * starts ~0.3 s later than one made on a drained queue: each step starts on a drained queue.
 */
async function drained(cluster) {
  const t0 = now();
  while ((await cluster.queue()).length > 0) {
    if (now() - t0 > 30_000) throw new Error('jobs still listed after 30 s');
    await sleep(20);
  }
}

/** ms to submit 1000 daemons with the launcher (one held array), then cancelled. */
async function arraySubmit(slurm, secretDir) {
  const launcher = slurm({ secretDir, directives: ['--hold'] });
  const spec = { url: 'tcp://127.0.0.1:9', secret: 'bench-secret', options: {}, profile: 'bench' };
  const t0 = now();
  const handles = await launcher.launch(spec, 1000);
  const ms = now() - t0;
  if (handles.length !== 1000 || new Set(handles.map((h) => h.id.split('_')[0])).size !== 1) throw new Error('expected one 1000-element array');
  await handles[0].cancel();
  return ms;
}

/** ms for a bare held 1000-element sbatch, then cancelled. */
async function arraySubmitLimit(cluster) {
  const t0 = now();
  const { stdout } = await run('sbatch', ['--parsable', '--hold', '--array=1-1000', '-o', '/dev/null', '--wrap', 'true'], { env: cluster.env });
  const ms = now() - t0;
  await run('scancel', [stdout.trim()], { env: cluster.env });
  return ms;
}

/**
 * One round: starts Slurm, measures, stops it.
 * @param {{ round?: number, log?: (text: string) => void, note?: (metric: string, text: string) => void }} [options]
 */
export async function clusterBench(options = {}) {
  const log = options.log ?? (() => {});
  const { slurmMissing, startSlurm } = await import(CLUSTERS);
  let missing;
  try {
    missing = slurmMissing();
  } catch (err) {
    missing = err.message;
  }
  if (missing) {
    for (const m of ['slurm_first_result_s', 'slurm_submit_limit_s', 'slurm_array_submit_ms', 'slurm_array_submit_limit_ms']) options.note?.(m, `not measured: ${missing}`);
    return { slurm_first_result_s: null, slurm_submit_limit_s: null, slurm_array_submit_ms: null, slurm_array_submit_limit_ms: null };
  }
  const core = await import('@mirai-ts/core');
  const { slurm } = await import('@mirai-ts/launcher-cluster');
  const dir = mkdtempSync(join(tmpdir(), 'mirai-bench-cluster-'));
  const cluster = await startSlurm();
  const saved = process.env.SLURM_CONF;
  process.env.SLURM_CONF = cluster.conf;
  try {
    // The first array after slurmctld starts runs ~0.7 s slower than later ones, whoever
    // submits it: one unmeasured bare array first, so neither side pays that.
    await submitLimit(cluster, dir);
    // Ours and the limit swap order from one round to the next.
    const pair = [
      ['slurm_first_result_s', () => firstResult(core, slurm, dir)],
      ['slurm_submit_limit_s', () => submitLimit(cluster, dir)],
    ];
    if ((options.round ?? 0) % 2 === 1) pair.reverse();
    const submits = [
      ['slurm_array_submit_ms', () => arraySubmit(slurm, dir)],
      ['slurm_array_submit_limit_ms', () => arraySubmitLimit(cluster)],
    ];
    if ((options.round ?? 0) % 2 === 1) submits.reverse();
    const figures = {};
    for (const [name, step] of [...pair, ...submits]) {
      await drained(cluster);
      figures[name] = await step();
    }
    log(
      `slurm: first result ${figures.slurm_first_result_s.toFixed(2)} s (bare array ${figures.slurm_submit_limit_s.toFixed(2)} s); ` +
        `1000-daemon submission ${figures.slurm_array_submit_ms.toFixed(0)} ms (bare ${figures.slurm_array_submit_limit_ms.toFixed(0)} ms)`,
    );
    return figures;
  } finally {
    if (saved === undefined) delete process.env.SLURM_CONF;
    else process.env.SLURM_CONF = saved;
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The bench/run.mjs group. */
export const benchmarks = [
  {
    name: 'cluster',
    metrics: { slurm_first_result_s: 's', slurm_submit_limit_s: 's', slurm_array_submit_ms: 'ms', slurm_array_submit_limit_ms: 'ms' },
    description: 'local Slurm: daemons(4) to first result beside a bare 4-element sbatch array; 1000-daemon array submission beside a bare one',
    capMs: 120_000,
    run: (ctx) => clusterBench({ round: ctx.round, log: ctx.log, note: ctx.note }),
  },
];

/** Resets the default profile after a failed or capped round (Slurm is stopped by the round itself). */
export async function cleanup() {
  const core = await import('@mirai-ts/core');
  await core.daemons(0);
}

// `node bench/cluster.mjs`: one round, printed as JSON.
runStandalone(import.meta.url, clusterBench);
