import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs module of the benchmark runner, without declarations
import { verdict } from '../../bench/targets.mjs';
// @ts-expect-error: as above
import { mean, pairedNoise } from '../../bench/lib/paired.mjs';

describe('a target shown with its paired noise', () => {
  const figures = (ours: number, noise: number | null) => ({ payload100mb_threads_s: ours, payload100mb_piscina_s: 2, payload100mb_threads_noise: noise });

  it('shows the noise beside the verdict, which stays the ratio against the bound', () => {
    const within = verdict('payload100mb_threads_s', figures(2.2, 0.15));
    expect(within).toMatchObject({ ratio: 1.1, pass: false });
    expect(within.text).toBe('≤ 1× payload100mb_piscina_s (ratio ± 0.15)');
    expect(verdict('payload100mb_threads_s', figures(1.8, 0.15))).toMatchObject({ ratio: 0.9, pass: true });
  });

  it('gives the verdict without the noise when the noise figure is missing', () => {
    const v = verdict('payload100mb_threads_s', figures(1.8, null));
    expect(v).toMatchObject({ ratio: 0.9, pass: true });
    expect(v.text).toBe('≤ 1× payload100mb_piscina_s');
  });

  it('leaves targets without noise as they were', () => {
    expect(verdict('rtt_threads_us', { rtt_threads_us: 10.5, rtt_piscina_us: 10 })).toMatchObject({ pass: false, text: '≤ 1× rtt_piscina_us' });
  });
});

describe('paired noise', () => {
  it('is 1.96 standard errors of the mean paired difference over the peer mean', () => {
    const theirs = [2, 2, 2, 2];
    const ours = [3, 1, 3, 1]; // differences 1, -1, 1, -1: sd 1.1547, se 0.57735
    expect(mean(ours)).toBe(2);
    expect(pairedNoise(ours, theirs)).toBeCloseTo((1.96 * 0.57735) / 2, 4);
  });

  it('is smaller when both sides move together, as pairs sharing the machine do', () => {
    const theirs = [1, 4, 1, 4, 1, 4];
    const together = theirs.map((x) => x + 0.1);
    const apart = [4, 1, 4, 1, 4, 1].map((x) => x + 0.1);
    expect(pairedNoise(together, theirs)).toBeCloseTo(0, 6);
    expect(pairedNoise(apart, theirs)).toBeGreaterThan(0.5);
  });

  it('refuses fewer than two pairs or unpaired lists', () => {
    expect(() => pairedNoise([1], [1])).toThrow(/two or more pairs/);
    expect(() => pairedNoise([1, 2, 3], [1, 2])).toThrow(/two or more pairs/);
  });
});
