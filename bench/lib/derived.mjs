/**
 * Derived figures (run.mjs): a benchmark may declare metrics computed, round by round, from
 * figures measured in the same round, its own or those of the benchmarks in its slot:
 *
 *   derived: { rtt_otel_added_us: { unit: 'µs', of: ['rtt_otel_us', 'rtt_otel_untraced_us'], compute: (traced, plain) => traced - plain } }
 *
 * A derived figure is compared with its target like a measured one; computing it per round,
 * not from the medians, keeps each difference within one machine state.
 */

/**
 * Throws when a derived metric of `benches` (the benchmarks of one run) needs a figure the run
 * does not measure: checked before the run, not after it.
 *
 * @param {{ name: string, metrics: Record<string, string>, derived?: Record<string, { of: string[] }> }[]} benches
 */
export function checkDerived(benches) {
  const measured = new Set(benches.flatMap((b) => Object.keys(b.metrics)));
  for (const b of benches) {
    for (const [metric, { of }] of Object.entries(b.derived ?? {})) {
      for (const input of of) if (!measured.has(input)) throw new Error(`benchmark '${b.name}': derived metric '${metric}' needs '${input}', which this run does not measure`);
    }
  }
}

/**
 * Adds each derived metric of `benches` to `values` (metric → one figure per round, null where
 * not measured): a round's figure is `compute` of that round's inputs, or null when one is
 * missing or the result is not a finite number. The inputs are checked by {@link checkDerived}.
 *
 * @param {{ name: string, derived?: Record<string, { of: string[], compute: (...xs: number[]) => number }> }[]} benches
 * @param {Record<string, (number | null)[]>} values
 * @param {number} rounds
 */
export function deriveRounds(benches, values, rounds) {
  for (const b of benches) {
    for (const [metric, { of, compute }] of Object.entries(b.derived ?? {})) {
      values[metric] = Array.from({ length: rounds }, (_, r) => {
        const inputs = of.map((input) => values[input]?.[r]);
        if (inputs.some((x) => x == null)) return null;
        const v = compute(...inputs);
        return Number.isFinite(v) ? v : null;
      });
    }
  }
  return values;
}

/** Metric → unit of what `bench` reports: what it measures, then what it derives. */
export function reportedMetrics(bench) {
  return { ...bench.metrics, ...Object.fromEntries(Object.entries(bench.derived ?? {}).map(([m, d]) => [m, d.unit])) };
}
