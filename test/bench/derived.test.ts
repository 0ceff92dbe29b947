import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs module of the benchmark runner, without declarations
import { checkDerived, deriveRounds, reportedMetrics } from '../../bench/lib/derived.mjs';
// @ts-expect-error: as above
import { benchmarks as placements } from '../../bench/placements.mjs';

const minus = (a: number, b: number): number => a - b;
const traced = {
  name: 'rtt_otel',
  metrics: { rtt_otel_us: 'µs' },
  derived: { rtt_otel_added_us: { unit: 'µs', of: ['rtt_otel_us', 'rtt_us'], compute: minus } },
};
const plain = { name: 'rtt', metrics: { rtt_us: 'µs' } };

describe('derived benchmark figures', () => {
  it('are computed round by round from figures of the same round, not from medians', () => {
    const values: Record<string, (number | null)[]> = { rtt_otel_us: [50, 90, 60], rtt_us: [20, 70, 25] };
    deriveRounds([traced, plain], values, 3);
    // The median of the differences (30) is not the difference of the medians (60 - 25 = 35).
    expect(values.rtt_otel_added_us).toEqual([30, 20, 35]);
  });

  it('are null in a round where an input is missing or the result is not a number', () => {
    const values: Record<string, (number | null)[]> = { rtt_otel_us: [50, null, 60], rtt_us: [20, 10] };
    deriveRounds([traced, plain], values, 3);
    expect(values.rtt_otel_added_us).toEqual([30, null, null]);
    const ratio = { ...traced, derived: { r: { unit: '×', of: ['rtt_otel_us', 'rtt_us'], compute: (a: number, b: number) => a / b } } };
    const zero: Record<string, (number | null)[]> = { rtt_otel_us: [0], rtt_us: [0] };
    deriveRounds([ratio, plain], zero, 1);
    expect(zero.r).toEqual([null]);
  });

  it('must name figures the run measures, checked before it runs', () => {
    expect(() => checkDerived([traced, plain])).not.toThrow();
    expect(() => checkDerived([traced])).toThrow("benchmark 'rtt_otel': derived metric 'rtt_otel_added_us' needs 'rtt_us', which this run does not measure");
  });

  it('are reported after the measured ones, with their units', () => {
    expect(reportedMetrics(traced)).toEqual({ rtt_otel_us: 'µs', rtt_otel_added_us: 'µs' });
    expect(reportedMetrics(plain)).toEqual({ rtt_us: 'µs' });
  });

  it('place each free round trip between its own pinned ones (placements)', () => {
    const bench = (placements as { name: string; metrics: Record<string, string>; derived: Record<string, unknown> }[])[0]!;
    expect(() => checkDerived([bench])).not.toThrow();
    const values: Record<string, (number | null)[]> = {
      rtt_us_free: [25, 100, 60, 70],
      rtt_us_same: [25, 25, 20, 20],
      rtt_us_cross: [100, 100, 100, null],
    };
    deriveRounds([bench], values, 4);
    // As fast as on one CPU, as slow as across two, half way, and no pinned figure that round.
    expect(values.rtt_us_free_toward_same_pct).toEqual([100, 0, 50, null]);
    // Every system has one, workerpool's included.
    expect(Object.keys(bench.derived)).toContain('rtt_workerpool_us_free_toward_same_pct');
    expect(Object.keys(bench.derived)).toHaveLength(6);
  });
});
