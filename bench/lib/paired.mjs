/** Statistics of paired measurements: ours and a peer's, timed in turn on the same machine state. */

/** The mean of a non-empty list of numbers. */
export function mean(xs) {
  return xs.reduce((sum, x) => sum + x, 0) / xs.length;
}

/**
 * Half the width of the 95% interval of mean(ours) ÷ mean(theirs), as a fraction of 1: 1.96
 * standard errors of the pairs' mean difference, divided by theirs' mean. Pairs share the
 * machine's state, so their differences vary less than either side does alone. Needs two
 * pairs or more.
 */
export function pairedNoise(ours, theirs) {
  const n = ours.length;
  if (n < 2 || theirs.length !== n) throw new Error(`paired noise needs two or more pairs, got ${n} and ${theirs.length} values`);
  const d = ours.map((x, i) => x - theirs[i]);
  const m = mean(d);
  const variance = d.reduce((sum, x) => sum + (x - m) ** 2, 0) / (n - 1);
  return (1.96 * Math.sqrt(variance / n)) / mean(theirs);
}
