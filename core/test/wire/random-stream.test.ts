/**
 * Random streams: statistical smoke tests (deterministic seeds, generous thresholds: a real
 * defect, such as overlapping or correlated streams, fails them by orders of magnitude).
 */
import { describe, expect, it } from 'vitest';
import { firstStream, RandomStream, readStreamSegment, StreamSequence, streamSegment } from '../../src/wire/random-stream.js';

/** Pearson's chi-square statistic of observed counts against equal expected counts. */
function chiSquare(counts: readonly number[]): number {
  const total = counts.reduce((a, b) => a + b, 0);
  const expected = total / counts.length;
  return counts.reduce((sum, c) => sum + (c - expected) ** 2 / expected, 0);
}

function streams(seed: number, n: number): RandomStream[] {
  const seq = new StreamSequence(firstStream(seed));
  return Array.from({ length: n }, () => new RandomStream(seq.next()));
}

// Critical values at p = 0.0001: 19 degrees of freedom ≈ 48.0; 99 ≈ 157.
const CHI2_19 = 48;
const CHI2_99 = 157;

describe('random streams', () => {
  it('are the same for the same seed and differ between seeds', () => {
    const a = streams(1234, 3).map((s) => s.random());
    const b = streams(1234, 3).map((s) => s.random());
    const c = streams(1235, 3).map((s) => s.random());
    expect(a).toEqual(b);
    expect(new Set(a).size).toBe(3);
    expect(c.some((x, i) => x !== a[i])).toBe(true);
  });

  it('draw uniformly within each stream (chi-square, 20 bins)', () => {
    for (const [i, s] of streams(42, 8).entries()) {
      const counts = new Array<number>(20).fill(0);
      let outside = 0;
      for (let k = 0; k < 20_000; k++) {
        const x = s.random();
        if (!(x >= 0 && x < 1)) outside++;
        else counts[Math.floor(x * 20)]!++;
      }
      expect(outside).toBe(0);
      expect(chiSquare(counts), `stream ${i}`).toBeLessThan(CHI2_19);
    }
  });

  it('give uniform first draws across consecutive streams (one Math.random() per task)', () => {
    const counts = new Array<number>(20).fill(0);
    for (const s of streams(7, 10_000)) counts[Math.floor(s.random() * 20)]!++;
    expect(chiSquare(counts)).toBeLessThan(CHI2_19);
  });

  it('are independent between adjacent streams (2-D chi-square and correlation)', () => {
    const [a, b] = streams(99, 2) as [RandomStream, RandomStream];
    const counts = new Array<number>(100).fill(0);
    const n = 20_000;
    let sx = 0, sy = 0, sxy = 0, sxx = 0, syy = 0;
    for (let k = 0; k < n; k++) {
      const x = a.random();
      const y = b.random();
      counts[Math.floor(x * 10) * 10 + Math.floor(y * 10)]!++;
      sx += x; sy += y; sxy += x * y; sxx += x * x; syy += y * y;
    }
    expect(chiSquare(counts)).toBeLessThan(CHI2_99);
    const r = (n * sxy - sx * sy) / Math.sqrt((n * sxx - sx * sx) * (n * syy - sy * sy));
    expect(Math.abs(r)).toBeLessThan(0.04); // 5.6 standard errors at n = 20 000
  });

  it('randomInt covers [min, max] evenly; randomNormal has mean 0 and sd 1', () => {
    const [s] = streams(5, 1) as [RandomStream];
    const counts = new Array<number>(6).fill(0);
    for (let k = 0; k < 12_000; k++) counts[s.randomInt(1, 6) - 1]!++;
    expect(counts.every((c) => c > 0)).toBe(true);
    expect(chiSquare(counts)).toBeLessThan(26); // 5 dof, p = 0.0001 ≈ 25.7
    let sum = 0, sq = 0;
    const n = 20_000;
    for (let k = 0; k < n; k++) {
      const z = s.randomNormal();
      sum += z;
      sq += z * z;
    }
    expect(Math.abs(sum / n)).toBeLessThan(0.04);
    expect(Math.abs(Math.sqrt(sq / n - (sum / n) ** 2) - 1)).toBeLessThan(0.04);
    expect(() => s.randomInt(3, 1)).toThrow(RangeError);
    expect(() => s.randomInt(0.5, 2)).toThrow(/whole numbers/);
  });

  it('travel as 16 bytes and come back equal', () => {
    const state = firstStream(77);
    expect(readStreamSegment(streamSegment(state))).toEqual(state);
    expect(readStreamSegment(new Uint8Array(3))).toBeUndefined();
  });
});
