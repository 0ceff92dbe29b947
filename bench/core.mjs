/**
 * Core benchmarks (issues 2 and 3): @mirai-ts/core on local daemons over its default IPC
 * transport, dispatcher on. Imported from the built package (core/dist): build it first.
 *
 * Extension point: add a `{ name, metrics, limit?, run }` entry to `benchmarks` (see
 * run.mjs for the contract). Every benchmark starts its own daemons and resets them in a
 * `finally`, so one benchmark's state never leaks into the next.
 */
import { collectMirai, daemons, mirai, miraiMap, status, stopMirai } from '@mirai-ts/core';
import { cpuSeconds, gc, listenUnix, now, overDraws, rssMb, sleep, spawnNode, stopChild, trackPid, withCap } from './lib/harness.mjs';
import { checkPayload, payloadArray } from './lib/payload.mjs';
import * as P from './params.mjs';
import { miraiRoundTripUs } from './lib/rtt.mjs';
import { busy, calibratedIterations } from './lib/busy.mjs';

const DIAL = new URL('./children/dial.cjs', import.meta.url).pathname;

/** Runs `fn(pids)` on a fresh pool of `n` local daemons (default profile); resets it after. */
export async function withDaemons(n, fn) {
  try {
    await daemons(n);
    const pids = daemonPids();
    if (pids.length !== n) throw new Error(`expected ${n} daemon pids in status(), got ${pids.length}`);
    return await fn(pids);
  } finally {
    await daemons(0);
  }
}

/** Pids of the default profile's daemons, remembered for the final clean-up. */
function daemonPids() {
  const pids = (status()?.daemons ?? []).map((d) => d.pid).filter((pid) => typeof pid === 'number');
  pids.forEach(trackPid);
  return pids;
}

/** Submits `count` trivial tasks at once and waits for them all. */
async function trivialBatch(count, collect = false) {
  const ms = new Array(count);
  for (let i = 0; i < count; i++) ms[i] = mirai(() => 1);
  const values = collect ? await collectMirai(ms) : await Promise.all(ms);
  if (values[count - 1] !== 1) throw new Error('a trivial task returned the wrong value');
}

/** Throws unless a collected 10k map holds each item's value in order. */
function checkMap(values, items) {
  if (!Array.isArray(values) || values.length !== items.length) throw new Error('map returned the wrong number of values');
  for (let i = 0; i < items.length; i += 997) if (values[i] !== items[i]) throw new Error(`map value ${i} is wrong`);
}

export const benchmarks = [
  {
    name: 'rtt',
    metrics: { rtt_us: 'µs', rtt_4daemons_us: 'µs' },
    limit: 'rtt_limit',
    description:
      'sequential `await mirai(() => 1)`, 1 daemon, dispatcher (free placement: the median of FREE_DRAWS fresh daemons); rtt_4daemons_us: the same loop on 4 daemons (which daemon the dispatcher picks decides whether it finds one awake)',
    run: async (ctx) => {
      const out = {};
      // In turn, the order swapped every other round.
      const order = ctx.round % 2 === 0 ? [1, 4] : [4, 1];
      for (const n of order) {
        out[n === 1 ? 'rtt_us' : 'rtt_4daemons_us'] = await overDraws(ctx, () =>
          withDaemons(n, (pids) => {
            ctx.pinHost();
            for (const pid of pids) ctx.pinPeer(pid);
            return miraiRoundTripUs();
          }),
        );
      }
      return out;
    },
  },
  {
    name: 'tps',
    metrics: { tps: 'tasks/s', tps_collect: 'tasks/s' },
    limit: 'tps_limit',
    description: `${P.TPS_COUNT} trivial tasks on 2 daemons (submit all, await all with Promise.all; tps_collect: with collectMirai), in turn`,
    /**
     * `Promise.all` makes a promise and a reaction per mirai; `collectMirai` waits with one
     * callback for the whole list. The two side by side say what the promises cost when the
     * host sets the pace.
     */
    async run(ctx) {
      const out = {};
      // Each on fresh daemons after its own GC and warm-up: timed one after the other in one
      // pool, the second batch ran slower in 4 rounds of 5, whichever way it waited.
      const order = ctx.round % 2 === 0 ? ['tps', 'tps_collect'] : ['tps_collect', 'tps'];
      for (const metric of order) {
        const collect = metric === 'tps_collect';
        out[metric] = await withDaemons(2, async () => {
          gc(); // before the warm-up, not after: see TPS_WARMUP
          await trivialBatch(P.TPS_WARMUP, collect);
          const t0 = now();
          await trivialBatch(P.TPS_COUNT, collect);
          return (P.TPS_COUNT * 1000) / (now() - t0);
        });
      }
      return out;
    },
  },
  {
    name: 'map10k',
    metrics: { map10k_s: 's', map10k_flat_s: 's' },
    description: `miraiMap of ${P.MAP_ITEMS} trivial items on 2 daemons: collected, and .flat()`,
    run: (ctx) =>
      withDaemons(2, async () => {
        const items = Array.from({ length: P.MAP_ITEMS }, (_, i) => i);
        await miraiMap(items.slice(0, P.MAP_WARMUP), (x) => x).flat();
        const out = {};
        const collected = async () => {
          gc();
          const t0 = now();
          const values = await miraiMap(items, (x) => x);
          out.map10k_s = (now() - t0) / 1000;
          checkMap(values, items);
        };
        const flat = async () => {
          gc();
          const t0 = now();
          const values = await miraiMap(items, (x) => x).flat();
          out.map10k_flat_s = (now() - t0) / 1000;
          checkMap(values, items);
        };
        // Alternate which goes first, so neither always runs on the warmer pool.
        for (const step of ctx.round % 2 === 0 ? [collected, flat] : [flat, collected]) await step();
        return out;
      }),
  },
  {
    name: 'startup2',
    metrics: { startup2_s: 's' },
    limit: 'startup2_limit',
    description: '`await daemons(2)` until both connected (reset not timed)',
    async run() {
      try {
        gc();
        const t0 = now();
        await daemons(2);
        const s = (now() - t0) / 1000;
        daemonPids();
        if (status()?.connections !== 2) throw new Error('daemons(2) resolved without 2 connections');
        return { startup2_s: s };
      } finally {
        await daemons(0);
      }
    },
  },
  {
    name: 'payload100mb',
    metrics: { payload100mb_s: 's' },
    limit: 'payload100mb_limit',
    description: 'round trip of a 100 MB Float64Array through `mirai(({ x }) => x, { x })`, 1 daemon',
    run: (ctx) =>
      withDaemons(1, async () => {
        const x = payloadArray(ctx);
        await mirai(() => 1);
        gc();
        const t0 = now();
        const y = await mirai(({ x }) => x, { x });
        const s = (now() - t0) / 1000;
        checkPayload(x, y);
        return { payload100mb_s: s };
      }),
  },
  {
    name: 'rss',
    metrics: { daemon_rss_mb: 'MiB', bare_node_rss_mb: 'MiB', daemon_idle_cpu_pct: '%' },
    description: 'VmRSS of idle daemons (2, after a few tasks and 1 s idle) beside an idle bare node child',
    run: () =>
      withDaemons(2, async (pids) => {
        // The bare child idles beside the daemons, so both are read under the same conditions.
        const server = await listenUnix();
        const bare = spawnNode(DIAL, [server.path]);
        try {
          await server.connection();
          await trivialBatch(20);
          await miraiMap([1, 2, 3, 4], (x) => x * 2).flat();
          const cpu0 = pids.map(cpuSeconds);
          await sleep(P.RSS_IDLE_MS);
          const cpu1 = pids.map(cpuSeconds);
          const rss = pids.map(rssMb);
          if (rss.some((r) => r === null)) throw new Error('could not read a daemon VmRSS from /proc');
          const cpuPct = pids.map((_, i) => ((cpu1[i] - cpu0[i]) * 100_000) / P.RSS_IDLE_MS);
          return {
            daemon_rss_mb: rss.reduce((a, b) => a + b, 0) / rss.length,
            bare_node_rss_mb: rssMb(bare.pid),
            daemon_idle_cpu_pct: cpuPct.reduce((a, b) => a + b, 0) / cpuPct.length,
          };
        } finally {
          await server.close();
          await stopChild(bare);
        }
      }),
  },
  {
    name: 'cpu8x500',
    metrics: { cpu8x500_s: 's', cpu1_s: 's' },
    limit: 'cpu8x500_limit',
    description: `${P.CPU_TASKS} CPU-bound tasks of ~${P.CPU_TASK_MS} ms (calibrated on the host) on 2 daemons, wall time; cpu1_s: one such task alone`,
    run: (ctx) => {
      const n = calibratedIterations(ctx);
      return withDaemons(2, async () => {
        // Both daemons compile the task before the clock starts.
        await Promise.all([mirai(busy, { n: 1e5 }), mirai(busy, { n: 1e5 })]);
        gc();
        const t0 = now();
        await Promise.all(Array.from({ length: P.CPU_TASKS }, () => mirai(busy, { n })));
        const cpu8x500 = (now() - t0) / 1000;
        // One task alone on a daemon: the ideal for the 8 is CPU_TASKS / 2 × this.
        const t1 = now();
        await mirai(busy, { n });
        return { cpu8x500_s: cpu8x500, cpu1_s: (now() - t1) / 1000 };
      });
    },
  },
  {
    name: 'cancel',
    metrics: { cancel_ms: 'ms' },
    description: 'stopMirai on a task in a synchronous busy loop, until the same profile (1 daemon) completes its next task',
    // Without hard cancellation each round costs the full cap: one round is enough to know.
    skipRoundsAfterNull: true,
    run: (ctx) =>
      withDaemons(1, async () => {
        await mirai(() => 1);
        gc();
        const stuck = mirai(() => {
          for (;;) {
            // spins until the daemon is interrupted or killed
          }
        });
        const stuckSettled = Promise.resolve(stuck).then(
          () => 'resolved',
          (err) => `rejected (${err?.errorValue ?? err?.name ?? err})`,
        );
        const deadline = now() + P.CANCEL_CAP_MS;
        while (!(status()?.daemons ?? []).some((d) => d.state === 'busy') && now() < deadline) await sleep(2);
        await sleep(100); // well inside the loop by now
        const t0 = now();
        stopMirai(stuck);
        const next = Promise.resolve(mirai(() => 1)).then(
          (value) => ({ value }),
          (error) => ({ error }),
        );
        const r = await withCap(next, P.CANCEL_CAP_MS);
        const ms = now() - t0;
        const how = await withCap(stuckSettled, 0);
        if (r.timedOut) {
          ctx.note('cancel_ms', `no hard cancellation: the next task did not complete within ${P.CANCEL_CAP_MS} ms (the stopped mirai ${how.timedOut ? 'was still pending' : how.value})`);
          return { cancel_ms: null };
        }
        if (r.value.error) {
          ctx.note('cancel_ms', `the next task failed: ${r.value.error.message}`);
          return { cancel_ms: null };
        }
        return { cancel_ms: ms };
      }),
  },
];

/** Clean-up after a benchmark that failed or hit its cap: reset the default profile. */
export async function cleanup() {
  await daemons(0);
}
