import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs module of the benchmark runner, without declarations
import { measureInTurn, overDraws } from '../../bench/lib/harness.mjs';

/** A figure that returns the next of `values` each time it is measured, and logs who ran. */
function figure(name: string, values: number[], log: string[]) {
  let i = 0;
  return async () => {
    log.push(name);
    return values[i++]!;
  };
}

describe('round-trip figures over several fresh pairs (free placement)', () => {
  it('take the median of the draws, one call each', async () => {
    const log: string[] = [];
    expect(await overDraws({ draws: 5 }, figure('a', [90, 30, 95, 100, 25], log))).toBe(90);
    expect(log).toHaveLength(5);
    expect(await overDraws({}, figure('b', [7, 8], []))).toBe(7); // pinned: one pair
  });

  it('measure figures in turn, alternating who goes first from draw to draw and round to round', async () => {
    const log: string[] = [];
    const out = await measureInTurn({ round: 0 }, { ours: figure('ours', [30, 95, 97], log), limit: figure('limit', [90, 93, 31], log) }, 3);
    expect(out).toEqual({ ours: 95, limit: 90 });
    expect(log).toEqual(['ours', 'limit', 'limit', 'ours', 'ours', 'limit']);
    const odd: string[] = [];
    await measureInTurn({ round: 1 }, { ours: figure('ours', [1], odd), limit: figure('limit', [2], odd) });
    expect(odd).toEqual(['limit', 'ours']);
  });
});
