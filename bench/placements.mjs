/**
 * Round-trip latency in every placement, in one run: free (the OS decides), same core (every
 * process and thread on CPU 0) and cross core (the host's main thread on CPU 0, the peer on
 * CPU 1), for ours (a process daemon, and a thread daemon), the raw Unix-socket limit, piscina
 * (a worker thread) and workerpool (a child process). Small-message latency is mostly the cost
 * of waking the other side, so one placement alone can flatter or hurt anyone.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { cpus } from 'node:os';
import { createRequire } from 'node:module';
import { daemons, mirai } from '@mirai-ts/core';
import { threadDaemons } from '@mirai-ts/threads';
import { Piscina } from 'piscina';
import { benchmarks as core } from './core.mjs';
import { benchmarks as limits } from './limits.mjs';
import { roundTrips } from './perf.mjs';
import { median, setAffinity, trackPid } from './lib/harness.mjs';
import * as P from './params.mjs';

const workerpool = createRequire(import.meta.url)('workerpool');
const PISCINA_TASK = new URL('./children/piscina-task.mjs', import.meta.url).href;
const WORKERPOOL_TASK = new URL('./children/workerpool-task.cjs', import.meta.url).pathname;
const FREE_DRAW = new URL('./children/free-draw.mjs', import.meta.url).pathname;
const PLACEMENTS = ['free', 'same', 'cross'];
const ALL = `0-${cpus().length - 1}`;

/** Pins for a placement: the host (every thread), a peer process, or this process's other threads. */
function pinning(placement) {
  const on = placement !== 'free' && cpus().length > 1;
  const peerCpu = placement === 'cross' ? '1' : '0';
  return {
    pinHost: on ? () => setAffinity(process.pid, '0') : () => {},
    pinPeer: on ? (pid) => setAffinity(pid, peerCpu) : () => {},
    /** Threads: the main thread on CPU 0, every other thread of this process on the peer's CPU. */
    pinThreads: on
      ? () => {
          setAffinity(process.pid, '0');
          for (const tid of readdirSync('/proc/self/task')) if (Number(tid) !== process.pid) setAffinity(Number(tid), peerCpu, false);
        }
      : () => {},
  };
}

const rttOurs = core.find((b) => b.name === 'rtt');
const rttLimit = limits.find((b) => b.name === 'rtt_limit');

/** For each system, a step that measures its round trip in `placement`, pinned as that says (see placementRound). */
function systemSteps(ctx, placement) {
  const pin = pinning(placement);
  // The process daemon and the raw limit take their own pins; pinned, one pair is all there is.
  const sub = { ...ctx, pinHost: pin.pinHost, pinPeer: pin.pinPeer, draws: 1 };
  return {
    ours: async () => ({ [`rtt_us_${placement}`]: (await rttOurs.run(sub)).rtt_us }),
    limit: async () => {
      const raw = await rttLimit.run(sub);
      return { [`rtt_limit_us_${placement}`]: raw.rtt_limit_us, [`rtt_limit_onread_us_${placement}`]: raw.rtt_limit_onread_us };
    },
    threads: async () => {
      try {
        await daemons(1, threadDaemons());
        pin.pinThreads();
        return { [`rtt_threads_us_${placement}`]: await roundTrips(() => mirai(() => 1)) };
      } finally {
        await daemons(0);
      }
    },
    piscina: async () => {
      const pool = new Piscina({ filename: PISCINA_TASK, minThreads: 1, maxThreads: 1 });
      try {
        await pool.run(null);
        pin.pinThreads();
        return { [`rtt_piscina_us_${placement}`]: await roundTrips(() => pool.run(null)) };
      } finally {
        await pool.destroy();
      }
    },
    workerpool: async () => {
      const pool = workerpool.pool(WORKERPOOL_TASK, { workerType: 'process', maxWorkers: 1, minWorkers: 1 });
      try {
        await pool.exec('one');
        pin.pinHost();
        const pid = pool.workers[0]?.worker?.pid;
        if (typeof pid === 'number') pin.pinPeer(pid);
        return { [`rtt_workerpool_us_${placement}`]: await roundTrips(() => pool.exec('one')) };
      } finally {
        await pool.terminate(true);
      }
    },
  };
}

/**
 * One free draw of `system` ('ours', 'limit', 'threads', 'piscina', 'workerpool'): what
 * children/free-draw.mjs runs in a process of its own.
 */
export function freeDraw(system) {
  const step = systemSteps({ round: 0, draws: 1, note() {}, log() {}, shared: {} }, 'free')[system];
  if (step === undefined) throw new Error(`no system '${system}'`);
  return step();
}

/**
 * A free draw in a fresh process: where the scheduler puts a pair depends on what else the
 * process runs (the threads and garbage other pools left behind), so measured one after the
 * other in this process, systems measured later drew a different lottery. Fresh, each draws
 * the same one, as an application process that starts one pool would.
 */
function freshDraw(system) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [FREE_DRAW, system], { stdio: ['ignore', 'pipe', 'inherit'] });
    trackPid(child.pid);
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`free draw of ${system} exited with code ${code}`));
      else resolve(JSON.parse(out));
    });
  });
}

/**
 * Each system's round trip in one placement, all CPUs given back after each; in free placement,
 * the median over FREE_DRAWS draws each, each in a fresh process, in rotation (see params.mjs).
 */
async function placementRound(ctx, placement, out) {
  const steps = systemSteps(ctx, placement);
  const order = Object.keys(steps);
  const draws = placement === 'free' ? P.FREE_DRAWS : 1;
  const lists = {};
  // Rotate who goes first from round to round (and draw to draw), so no one always meets the
  // same machine state.
  for (let d = 0; d < draws; d++) {
    for (let i = 0; i < order.length; i++) {
      const name = order[(i + ctx.round + d) % order.length];
      try {
        const figures = placement === 'free' ? await freshDraw(name) : await steps[name]();
        for (const [metric, value] of Object.entries(figures)) (lists[metric] ??= []).push(value);
      } finally {
        setAffinity(process.pid, ALL);
      }
    }
  }
  for (const [metric, list] of Object.entries(lists)) out[metric] = median(list);
}

const SYSTEMS = ['rtt_us', 'rtt_limit_us', 'rtt_limit_onread_us', 'rtt_threads_us', 'rtt_piscina_us', 'rtt_workerpool_us'];
const metrics = {};
for (const p of PLACEMENTS) for (const who of SYSTEMS) metrics[`${who}_${p}`] = 'µs';

/**
 * Where a free round trip fell between the same system's pinned ones in that round: 100 when
 * it was as fast as on one CPU, 0 when as slow as across two. A free figure says as much about
 * where the scheduler put a pair as about the pair, and this says which: two systems whose free
 * figures differ are often placed differently (session 10: workerpool at 85, ours at 34, in a
 * round where pinned ours was twice as fast in both placements).
 */
export function towardSame(free, same, cross) {
  return (100 * (cross - free)) / (cross - same);
}

const derived = Object.fromEntries(
  SYSTEMS.map((who) => [`${who}_free_toward_same_pct`, { unit: '%', of: [`${who}_free`, `${who}_same`, `${who}_cross`], compute: towardSame }]),
);

export const benchmarks = [
  {
    name: 'placements',
    metrics,
    derived,
    description: 'round trip (1 worker each) free (the median of FREE_DRAWS fresh pairs each, each in a fresh process), same core and cross core: ours (process and thread daemon), the raw Unix-socket limit (both reads), piscina, workerpool (processes)',
    capMs: 300_000,
    async run(ctx) {
      const out = {};
      const order = ctx.round % 2 === 0 ? PLACEMENTS : [...PLACEMENTS].reverse();
      for (const placement of order) await placementRound(ctx, placement, out);
      return out;
    },
  },
];

export async function cleanup() {
  await daemons(0);
  setAffinity(process.pid, ALL);
}
