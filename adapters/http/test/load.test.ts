// Under an autocannon load on the heavy route, the light route answered by the event loop
// keeps its latency when the heavy work runs on daemons, compared with the same server doing
// the work inline. Servers run in their own process (fixtures/load-server.mjs) on 127.0.0.1.
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs fixture shared with bench/http.mjs
import { measureLightLatency } from './fixtures/load.mjs';

interface Latency {
  p50: number;
  p99: number;
  lightRequests: number;
  heavyRequests: number;
  heavyErrors: number;
}
/** What one heavy request costs (load-server.mjs burns this much CPU), the fixture's default. */
const HEAVY_MS = 30;
const measure = measureLightLatency as (o: { framework: string; mode: string; heavyMs: number }) => Promise<Latency>;

/**
 * The inline control: measured again (up to 3 times) when the heavy load happened not to
 * overlap the light one, so the light route was never starved and the run shows nothing (seen
 * once in CI: 2 000 light requests answered inline, p99 3 ms).
 */
async function starvedInline(framework: string): Promise<Latency> {
  let inline = await measure({ framework, mode: 'inline', heavyMs: HEAVY_MS });
  for (let again = 0; again < 2 && inline.p99 < HEAVY_MS; again++) inline = await measure({ framework, mode: 'inline', heavyMs: HEAVY_MS });
  return inline;
}

describe.each(['express', 'fastify'])('%s under load', (framework) => {
  it('keeps the light route fast while heavy work runs on daemons', async () => {
    const inline = await starvedInline(framework);
    const offload = await measure({ framework, mode: 'offload', heavyMs: HEAVY_MS });
    // Both servers did heavy work without errors, and the light route was measured.
    expect(inline.heavyErrors).toBe(0);
    expect(offload.heavyErrors).toBe(0);
    expect(inline.heavyRequests).toBeGreaterThan(10);
    expect(offload.heavyRequests).toBeGreaterThan(10);
    // Inline, a light request waits behind heavy ones (30 ms each, 4 connections): about ten get
    // through in 2 s, most after more than one heavy task. Offloaded, the event loop stays free:
    // far more are served, and none waits behind the heavy work. What is left is the OS sharing
    // 2 cores among the server and the daemons that burn them: alone, p99 is 6-11 ms; on a
    // machine loaded by other work it reached 30 ms once. So the bound is a quarter of the
    // inline p99 (300+ ms when starved), and never below one heavy task.
    expect(inline.p99).toBeGreaterThanOrEqual(HEAVY_MS);
    expect(offload.lightRequests).toBeGreaterThan(inline.lightRequests * 5);
    expect(offload.p99).toBeLessThan(Math.max(HEAVY_MS, inline.p99 / 4));
  }, 60_000);
});
