/**
 * Autoscaling benchmark (issue 13), local daemons, in one round:
 *
 * - autoscale_burst_s: 2 000 tasks of 5 ms each submitted at once to a profile with
 *   `autoscale: { min: 0, max: 4 }` and no daemon running, until every result is in: the time
 *   to scale up is paid here (default throttle).
 * - autoscale_fixed_s: the same work on a fixed pool of 4 daemons already running (the peer;
 *   target: burst ≤ 1.3 × fixed). The two swap order from one round to the next.
 * - autoscale_launches: launch calls the burst made (target ≤ 3).
 *
 * Imports the built core: build first. `node bench/autoscale.mjs` runs one round and prints JSON.
 */
import { now, runStandalone } from './lib/harness.mjs';

const TASKS = 2_000;
const MAX = 4;

/** Seconds for the 2 000 tasks once `setUp` has set the profile; the profile is reset after. */
async function burst(core, setUp) {
  await setUp();
  try {
    const t0 = now();
    const tasks = [];
    for (let i = 0; i < TASKS; i++) tasks.push(core.mirai(() => new Promise((resolve) => setTimeout(resolve, 5))));
    await Promise.all(tasks);
    const seconds = (now() - t0) / 1000;
    return { seconds, launches: core.status()?.autoscale?.launchCalls ?? null };
  } finally {
    await core.daemons(0);
  }
}

export async function autoscaleBench({ round = 0, log = () => {} } = {}) {
  const core = await import('@mirai-ts/core');
  const steps = [
    ['fixed', () => burst(core, () => core.daemons(MAX))],
    ['autoscale', () => burst(core, () => core.daemons({ autoscale: { min: 0, max: MAX } }))],
  ];
  if (round % 2 === 1) steps.reverse();
  const r = {};
  for (const [name, step] of steps) r[name] = await step();
  log(`autoscale: burst ${r.autoscale.seconds.toFixed(2)} s in ${r.autoscale.launches} launch call(s); fixed pool ${r.fixed.seconds.toFixed(2)} s`);
  return { autoscale_burst_s: r.autoscale.seconds, autoscale_fixed_s: r.fixed.seconds, autoscale_launches: r.autoscale.launches };
}

/** The bench/run.mjs group. */
export const benchmarks = [
  {
    name: 'autoscale',
    metrics: { autoscale_burst_s: 's', autoscale_fixed_s: 's', autoscale_launches: 'calls' },
    description: '2 000 × 5 ms tasks from zero daemons autoscaled to 4, beside a fixed pool of 4 already running (same round); launch calls of the burst',
    capMs: 60_000,
    run: (ctx) => autoscaleBench({ round: ctx.round, log: ctx.log }),
  },
];

/** Resets the default profile after a failed or capped round. */
export async function cleanup() {
  const core = await import('@mirai-ts/core');
  await core.daemons(0);
}

// `node bench/autoscale.mjs`: one round, printed as JSON.
runStandalone(import.meta.url, autoscaleBench);
