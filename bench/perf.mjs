/**
 * Issue 16 benchmarks: opt-in prefetch, chunked maps, thread daemons beside piscina.
 * Built packages only (core/dist and the plugins' dist folders): build first. Each benchmark starts its
 * own pool and resets it in a `finally`.
 */
import { randomBytes } from 'node:crypto';
import { daemons, info, mirai, miraiMap, status } from '@mirai-ts/core';
import { threadDaemons } from '@mirai-ts/threads';
import { Piscina } from 'piscina';
import { drawsInTurn, gc, measureInTurn, median, now, sleep, spawnNode, stopChild } from './lib/harness.mjs';
import { mean, pairedNoise } from './lib/paired.mjs';
import { checkPayload, payloadArray } from './lib/payload.mjs';
import * as P from './params.mjs';

/** Tasks in flight per daemon for the prefetch figure. */
const PREFETCH = 64;
/** Items per task frame for the chunked map figure. */
const CHUNK = 500;

async function trivialBatch(count) {
  const ms = new Array(count);
  for (let i = 0; i < count; i++) ms[i] = mirai(() => 1);
  const values = await Promise.all(ms);
  if (values[count - 1] !== 1) throw new Error('a trivial task returned the wrong value');
}

export const benchmarks = [
  {
    name: 'tps_prefetch',
    metrics: { tps_prefetch: 'tasks/s' },
    limit: 'tps_limit',
    description: `${P.TPS_COUNT} trivial tasks on 2 daemons with prefetch: ${PREFETCH} (submit all, await all)`,
    async run() {
      try {
        await daemons(2, { prefetch: PREFETCH });
        gc(); // before the warm-up, not after: see TPS_WARMUP
        await trivialBatch(P.TPS_WARMUP);
        const t0 = now();
        await trivialBatch(P.TPS_COUNT);
        return { tps_prefetch: (P.TPS_COUNT * 1000) / (now() - t0) };
      } finally {
        await daemons(0);
      }
    },
  },
  {
    name: 'map10k_chunked',
    metrics: { map10k_chunked_s: 's', map10k_unchunked_s: 's' },
    description: `miraiMap of ${P.MAP_ITEMS} trivial items on 2 daemons with chunk: ${CHUNK}, beside the same map unchunked`,
    async run(ctx) {
      try {
        await daemons(2);
        const items = Array.from({ length: P.MAP_ITEMS }, (_, i) => i);
        await miraiMap(items.slice(0, P.MAP_WARMUP), (x) => x, { chunk: 50 });
        const out = {};
        const time = async (metric, options) => {
          gc();
          const t0 = now();
          const values = await miraiMap(items, (x) => x, options);
          out[metric] = (now() - t0) / 1000;
          if (values.length !== items.length || values[items.length - 1] !== items.length - 1) throw new Error('map values are wrong');
        };
        const steps = [() => time('map10k_chunked_s', { chunk: CHUNK }), () => time('map10k_unchunked_s', {})];
        for (const step of ctx.round % 2 === 0 ? steps : steps.reverse()) await step();
        return out;
      } finally {
        await daemons(0);
      }
    },
  },
];

const PISCINA_TASK = new URL('./children/piscina-task.mjs', import.meta.url).href;

/** Sequential round trips: µs each. */
export async function roundTrips(call) {
  for (let i = 0; i < P.RTT_WARMUP; i++) await call();
  gc();
  const t0 = now();
  let v;
  for (let i = 0; i < P.RTT_COUNT; i++) v = await call();
  if (v !== 1) throw new Error('a round trip returned the wrong value');
  return ((now() - t0) * 1000) / P.RTT_COUNT;
}

/** Submit-all, await-all throughput: tasks/s. */
async function throughput(call) {
  const batch = async (n) => {
    const ps = new Array(n);
    for (let i = 0; i < n; i++) ps[i] = call();
    const values = await Promise.all(ps);
    if (values[n - 1] !== 1) throw new Error('a task returned the wrong value');
  };
  gc(); // before the warm-up, not after: see TPS_WARMUP
  await batch(P.TPS_WARMUP);
  const t0 = now();
  await batch(P.TPS_COUNT);
  return (P.TPS_COUNT * 1000) / (now() - t0);
}

/**
 * 100 MB moves, ours and piscina's, with both pools alive and warm, timed in pairs whose order
 * alternates. One move takes 0.5 to 10 ms on either, in a spread set by V8 in the receiving
 * threads and the host (the 100 MB that arrives starts or finishes a collection; bench/README,
 * sessions 14 and 18): measured in separate blocks, 11 moves a side, the two sides' medians
 * differed by up to 2x from one round to the next, in both directions. Paired, both sides see
 * the same machine state; each figure is a mean (every move's cost counts once, whichever
 * mode it fell in), and the paired differences give the round's noise.
 */
const PAYLOAD_PAIRS = 90;
/** The first moves of fresh pools, paired the same way (their medians are reported). */
const FIRST_PAIRS = 11;

/** One timed move of a fresh copy of the payload through `send`, checked: seconds. */
async function timedMove(ctx, send) {
  const x = payloadArray(ctx).slice();
  gc();
  const t0 = now();
  const y = await send(x);
  const seconds = (now() - t0) / 1000;
  checkPayload(payloadArray(ctx), y);
  return seconds;
}

/** `pairs` moves through each of `ours` and `theirs`, in pairs whose order alternates: the seconds of each. */
function pairedMoves(ctx, ours, theirs, pairs) {
  return drawsInTurn(ctx, { ours: () => timedMove(ctx, ours), theirs: () => timedMove(ctx, theirs) }, pairs);
}

/** PAYLOAD_WARMUP moves of a PAYLOAD_WARMUP_ELEMENTS array through `send`, each checked. */
async function warmMoves(send) {
  for (let i = 0; i < P.PAYLOAD_WARMUP; i++) {
    const x = new Float64Array(P.PAYLOAD_WARMUP_ELEMENTS);
    x[7] = i;
    const y = await send(x); // x is detached now: check y against the constants
    if (y.length !== P.PAYLOAD_WARMUP_ELEMENTS || y[7] !== i) throw new Error('a warm-up move came back wrong');
  }
}

/** One round trip figure of a fresh thread daemon. */
async function threadRoundTrip() {
  await daemons(1, threadDaemons());
  try {
    return await roundTrips(() => mirai(() => 1));
  } finally {
    await daemons(0);
  }
}

/** One round trip figure of a fresh piscina pool of one thread. */
async function piscinaRoundTrip() {
  const pool = new Piscina({ filename: PISCINA_TASK, minThreads: 1, maxThreads: 1 });
  try {
    return await roundTrips(() => pool.run(null));
  } finally {
    await pool.destroy();
  }
}

/**
 * Round trips of ours and piscina's in turn, over fresh threads (`ctx.draws`); then each other
 * figure of ours, then piscina's (or the reverse on odd rounds), on the same machine state.
 */
async function threadFigures(ctx) {
  const out = await measureInTurn(ctx, { rtt_threads_us: threadRoundTrip, rtt_piscina_us: piscinaRoundTrip }, ctx.draws);
  const ours = async () => {
    try {
      await daemons(2, threadDaemons());
      out.tps_threads = await throughput(() => mirai(() => 1));
    } finally {
      await daemons(0);
    }
  };
  const theirs = async () => {
    const pool = new Piscina({ filename: PISCINA_TASK, minThreads: 2, maxThreads: 2 });
    try {
      out.tps_piscina = await throughput(() => pool.run(null));
    } finally {
      await pool.destroy();
    }
  };
  for (const step of ctx.round % 2 === 0 ? [ours, theirs] : [theirs, ours]) await step();
  await payloadFigures(ctx, out);
  return out;
}

/** The 100 MB figures: one thread daemon and a piscina pool of one thread, alive together. */
async function payloadFigures(ctx, out) {
  await daemons(1, threadDaemons({ transfer: true }));
  const pool = new Piscina({ filename: PISCINA_TASK, minThreads: 1, maxThreads: 1 });
  try {
    const ours = (x) => mirai(({ x }) => x, { x });
    const theirs = (x) => pool.run({ x }, { transferList: [x.buffer] });
    await ours(new Float64Array(8192)); // a first task each, before the first moves
    await pool.run(null);
    const first = await pairedMoves(ctx, ours, theirs, FIRST_PAIRS);
    out.payload100mb_threads_first_s = median(first.ours);
    out.payload100mb_piscina_first_s = median(first.theirs);
    await warmMoves(ours);
    await warmMoves(theirs);
    const warm = await pairedMoves(ctx, ours, theirs, PAYLOAD_PAIRS);
    out.payload100mb_threads_s = mean(warm.ours);
    out.payload100mb_piscina_s = mean(warm.theirs);
    out.payload100mb_threads_noise = pairedNoise(warm.ours, warm.theirs);
  } finally {
    await daemons(0);
    await pool.destroy();
  }
}

benchmarks.push({
  name: 'threads',
  metrics: {
    rtt_threads_us: 'µs',
    rtt_piscina_us: 'µs',
    tps_threads: 'tasks/s',
    tps_piscina: 'tasks/s',
    payload100mb_threads_s: 's',
    payload100mb_piscina_s: 's',
    payload100mb_threads_first_s: 's',
    payload100mb_piscina_first_s: 's',
    payload100mb_threads_noise: '×',
  },
  description: 'thread daemons (@mirai-ts/threads) beside piscina 5 in the same round: round trip (1 thread), trivial tasks/s (2 threads), 100 MB moved there and back with both pools alive, in pairs (the first moves of fresh pools, medians; then means after a warm-up, and their paired noise)',
  run: threadFigures,
});

const SIM = new URL('./children/daemon-sim.mjs', import.meta.url).pathname;
/** Round trips of the sequential scale figures. */
const SCALE_SEQUENTIAL = 2_000;
const { SCALE_SMALL, SCALE_LARGE, SCALE_TASKS } = P;
let simChildren = new Set();

/**
 * Starts `count` simulated daemons in one child process (its fd limit raised to the hard
 * limit with `ulimit -n` in a child shell); resolves once the host admitted them all.
 */
async function simulate(url, secret, count) {
  const before = info().cumulative;
  const child = spawnNode(SIM, [url, String(count)], { manyFds: true, env: { ...process.env, MIRAI_SECRET: secret } });
  simChildren.add(child);
  while (info().cumulative - before < count) {
    if (child.exitCode !== null) throw new Error(`the daemon simulator exited with code ${child.exitCode}`);
    await sleep(20); // info() counts connections: polling it often would slow the host it measures
  }
  return child;
}

async function stopSims() {
  for (const child of simChildren) await stopChild(child);
  simChildren = new Set();
}

/** Mean µs of a sequential round trip (one task at a time) on the simulated daemons connected. */
async function sequentialRtt() {
  for (let i = 0; i < P.RTT_WARMUP / 3; i++) await mirai(() => 1);
  const t0 = now();
  for (let i = 0; i < SCALE_SEQUENTIAL; i++) await mirai(() => 1);
  return ((now() - t0) * 1000) / SCALE_SEQUENTIAL;
}

/** Per-task cost (µs) of SCALE_TASKS trivial tasks submitted at once. */
async function dispatchCost() {
  const batch = async (n) => {
    const ms = new Array(n);
    for (let i = 0; i < n; i++) ms[i] = mirai(() => 1);
    const values = await Promise.all(ms);
    if (values[n - 1] !== 1) throw new Error('a simulated daemon answered the wrong value');
  };
  gc(); // before the warm-up, not after: see TPS_WARMUP
  await batch(P.TPS_WARMUP);
  const t0 = now();
  await batch(SCALE_TASKS);
  return ((now() - t0) * 1000) / SCALE_TASKS;
}

benchmarks.push({
  name: 'scale',
  metrics: {
    dispatch_10_daemons_us: 'µs',
    dispatch_10k_daemons_us: 'µs',
    rtt_10_daemons_us: 'µs',
    rtt_10k_daemons_us: 'µs',
    host_kb_per_daemon: 'KiB',
    accept_10k_s: 's',
  },
  limit: 'scale_limit',
  derived: {
    dispatch_10k_scaling: { unit: '×', of: ['dispatch_10k_daemons_us', 'dispatch_10_daemons_us'], compute: (many, few) => many / few },
    dispatch_10k_added_us: { unit: 'µs', of: ['dispatch_10k_daemons_us', 'dispatch_10_daemons_us'], compute: (many, few) => many - few },
  },
  description: `one host with ${SCALE_SMALL} and ${SCALE_LARGE} simulated daemons (children/daemon-sim.mjs, one process, real handshakes): per-task dispatch cost, a sequential round trip, host RSS per connected daemon, time to admit ${SCALE_LARGE}`,
  capMs: 180_000,
  async run(ctx) {
    const secret = randomBytes(32).toString('hex');
    try {
      await daemons({ secret });
      const url = status().url;
      await simulate(url, secret, SCALE_SMALL);
      const small = await dispatchCost();
      const smallRtt = await sequentialRtt();
      await stopSims();
      while (info().connections > 0) await sleep(5);
      gc();
      await sleep(50);
      gc();
      const rss0 = process.memoryUsage().rss;
      const t0 = now();
      await simulate(url, secret, SCALE_LARGE);
      const accept = (now() - t0) / 1000;
      gc();
      await sleep(50);
      gc();
      const perDaemon = (process.memoryUsage().rss - rss0) / 1024 / SCALE_LARGE;
      const large = await dispatchCost();
      const largeRtt = await sequentialRtt();
      if (ctx.round === 0) ctx.note('host_kb_per_daemon', 'growth of the host process RSS while the simulated daemons connect, after a full GC, divided by their number');
      return {
        dispatch_10_daemons_us: small,
        dispatch_10k_daemons_us: large,
        rtt_10_daemons_us: smallRtt,
        rtt_10k_daemons_us: largeRtt,
        host_kb_per_daemon: perDaemon,
        accept_10k_s: accept,
      };
    } finally {
      await daemons(0);
      await stopSims();
    }
  },
});

export async function cleanup() {
  await daemons(0);
  await stopSims();
}
