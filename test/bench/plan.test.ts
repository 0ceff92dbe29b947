import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs module of the benchmark runner, without declarations
import { plan } from '../../bench/lib/plan.mjs';

interface Bench {
  name: string;
  limit?: string;
  metrics: Record<string, string>;
}

function registry(benches: Bench[]) {
  const byName = new Map(benches.map((b) => [b.name, b]));
  const byMetric = new Map(benches.flatMap((b) => Object.keys(b.metrics).map((m) => [m, b] as const)));
  return { benches, byName, byMetric };
}

const names = (slots: Bench[][]): string[][] => slots.map((slot) => slot.map((b) => b.name));

// The shape of the real registry: rtt is bounded by rtt_limit and bounds rtt_otel; two
// benchmarks share tps_limit.
const REAL: Bench[] = [
  { name: 'rtt', limit: 'rtt_limit', metrics: { rtt_us: 'µs' } },
  { name: 'tps', limit: 'tps_limit', metrics: { tps: 'tasks/s' } },
  { name: 'rtt_limit', metrics: { rtt_limit_us: 'µs' } },
  { name: 'tps_limit', metrics: { tps_limit: 'tasks/s' } },
  { name: 'tps_prefetch', limit: 'tps_limit', metrics: { tps_prefetch: 'tasks/s' } },
  { name: 'scale', metrics: { dispatch_10_daemons_us: 'µs' } },
  { name: 'rtt_otel', limit: 'rtt', metrics: { rtt_otel_us: 'µs' } },
];

describe('bench plan', () => {
  it('measures every benchmark of a full run once, a chain of limits in one slot', () => {
    const slots = names(plan(registry(REAL), null));
    expect(slots).toEqual([['tps', 'tps_limit'], ['tps_prefetch'], ['scale'], ['rtt_otel', 'rtt', 'rtt_limit']]);
    expect(slots.flat().sort()).toEqual(REAL.map((b) => b.name).sort());
  });

  it('with --only, adds the limits of what was asked, and keeps what was asked even when it is a limit', () => {
    expect(names(plan(registry(REAL), ['rtt']))).toEqual([['rtt', 'rtt_limit']]);
    expect(names(plan(registry(REAL), ['rtt_otel']))).toEqual([['rtt_otel', 'rtt', 'rtt_limit']]);
    expect(names(plan(registry(REAL), ['rtt', 'rtt_otel', 'rtt_limit']))).toEqual([['rtt_otel', 'rtt', 'rtt_limit']]);
    expect(names(plan(registry(REAL), ['rtt_limit']))).toEqual([['rtt_limit']]);
    // Asked for beside a benchmark whose chain reaches it through one not asked for.
    expect(names(plan(registry(REAL), ['rtt_limit', 'rtt_otel']))).toEqual([['rtt_otel', 'rtt', 'rtt_limit']]);
    // A metric name selects the benchmark that measures it.
    expect(names(plan(registry(REAL), ['tps_prefetch', 'dispatch_10_daemons_us']))).toEqual([['tps_prefetch', 'tps_limit'], ['scale']]);
  });

  it('places benchmarks that are each other’s limits', () => {
    const cycle: Bench[] = [
      { name: 'a', limit: 'b', metrics: { a: 's' } },
      { name: 'b', limit: 'a', metrics: { b: 's' } },
    ];
    expect(names(plan(registry(cycle), null))).toEqual([['a', 'b']]);
  });

  it('refuses a name that is neither a benchmark nor a metric', () => {
    expect(() => plan(registry(REAL), ['rtt', 'rtt_otel_sampled'])).toThrow("--only: no benchmark or metric named 'rtt_otel_sampled' (try --list)");
  });
});
