/**
 * HTTP benchmark (issue 15): the p99 latency of a light route, answered on the event loop,
 * while autocannon hammers a CPU-heavy route of the same Express server (30 ms of CPU per
 * request, 4 connections; the light route is measured for 2 s from the heavy load's first
 * answer, and the heavy load runs 1 s longer):
 *
 * - http_offload_p99_ms: the heavy route runs on 2 daemons through @mirai-ts/http.
 * - http_inline_p99_ms: the same server doing the heavy work inline, in the same round (the
 *   peer; target: offload ≤ 0.2 × inline). The two swap order from one round to the next.
 *
 * Each server runs in its own process (adapters/http/test/fixtures/load-server.mjs, shared with
 * the adapter's load test) on 127.0.0.1 and is stopped before the round returns. Imports the
 * built packages: build them first. `node bench/http.mjs` runs one round and prints JSON.
 */
import { runStandalone } from './lib/harness.mjs';
import { measureLightLatency } from '../adapters/http/test/fixtures/load.mjs';

export async function httpBench({ round = 0, log = () => {} } = {}) {
  const modes = round % 2 === 0 ? ['offload', 'inline'] : ['inline', 'offload'];
  const p99 = {};
  for (const mode of modes) {
    const r = await measureLightLatency({ framework: 'express', mode });
    if (r.heavyErrors > 0) throw new Error(`${mode}: ${r.heavyErrors} heavy requests failed`);
    log(`${mode}: light p50 ${r.p50} ms, p99 ${r.p99} ms (${r.lightRequests} light, ${r.heavyRequests} heavy requests)`);
    p99[mode] = r.p99;
  }
  return { http_offload_p99_ms: p99.offload, http_inline_p99_ms: p99.inline };
}

/** The bench/run.mjs group. */
export const benchmarks = [
  {
    name: 'http',
    metrics: { http_offload_p99_ms: 'ms', http_inline_p99_ms: 'ms' },
    description: 'light-route p99 while a CPU-heavy Express route is hammered: heavy work on daemons vs inline (same round)',
    capMs: 60_000,
    run: (ctx) => httpBench({ round: ctx.round, log: ctx.log }),
  },
];

// `node bench/http.mjs`: one round, printed as JSON.
runStandalone(import.meta.url, httpBench);
