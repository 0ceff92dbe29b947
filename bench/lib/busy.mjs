/**
 * The CPU-bound task of `cpu8x500` and of its raw limit, and its calibration: one definition,
 * so the daemons (which get its source) and the bare children of the limit run the same loop.
 */
import * as P from '../params.mjs';

/**
 * A CPU-bound task: `n` rounds of integer arithmetic the JIT cannot remove. Runs on the
 * host for calibration, on daemons (as source) for the benchmark, in bare children for its limit.
 */
export const busy = ({ n }) => {
  let x = 0;
  for (let i = 0; i < n; i++) x = (x + i * i) % 1000003;
  return x;
};

/** CPU time (ms) this process spends running `busy({ n })`: immune to other load. */
function busyCpuMs(n) {
  const c0 = process.cpuUsage();
  busy({ n });
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000;
}

/**
 * Iterations of `busy` that take CPU_TASK_MS of CPU time on the host, measured once per
 * run. CPU time, not wall time, so a busy machine does not skew the calibration.
 */
export function calibratedIterations(ctx) {
  if (ctx.shared.cpuIterations) return ctx.shared.cpuIterations;
  for (let i = 0; i < 5; i++) busy({ n: 1e6 }); // optimise it first
  let n = 1e7;
  for (let pass = 0; pass < 3; pass++) n = Math.round((n * P.CPU_TASK_MS) / busyCpuMs(n));
  const ms = busyCpuMs(n);
  ctx.note('cpu8x500_s', `each task: ${n.toExponential(2)} iterations, ${ms.toFixed(0)} ms of CPU on the host; ideal ${((P.CPU_TASKS / 2) * ms / 1000).toFixed(2)} s`);
  ctx.shared.cpuIterations = n;
  return n;
}
