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
const measure = measureLightLatency as (o: { framework: string; mode: string }) => Promise<Latency>;

describe.each(['express', 'fastify'])('%s under load', (framework) => {
  it('keeps the light route fast while heavy work runs on daemons', async () => {
    const inline = await measure({ framework, mode: 'inline' });
    const offload = await measure({ framework, mode: 'offload' });
    // Both servers did heavy work without errors, and the light route was measured.
    expect(inline.heavyErrors).toBe(0);
    expect(offload.heavyErrors).toBe(0);
    expect(inline.heavyRequests).toBeGreaterThan(10);
    expect(offload.heavyRequests).toBeGreaterThan(10);
    expect(offload.lightRequests).toBeGreaterThan(inline.lightRequests);
    // Inline, a light request waits behind heavy ones (30 ms each, 4 connections). Generous
    // ratio: two cores shared by the server, two daemons and the load generator.
    expect(offload.p99 * 2).toBeLessThan(inline.p99);
  }, 60_000);
});
