/**
 * The map progress bar (no stale characters, the last item drawn, failures counted) and
 * `onProgress` for callers that draw their own, on a sync profile (no processes).
 */
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { daemons } from '../../src/api/daemons.js';
import { miraiMap } from '../../src/api/mirai-map.js';
import { ProgressBar } from '../../src/api/progress-bar.js';
import { ConfigError } from '../../src/errors.js';

/** A terminal: `\r` goes back to the line's start and later characters overwrite earlier ones. */
class FakeTerminal extends Writable {
  isTTY = true;
  screen: string[] = [''];
  override _write(chunk: Buffer, _enc: string, done: () => void): void {
    let col = 0;
    let line = this.screen.at(-1)!;
    for (const ch of chunk.toString()) {
      if (ch === '\r') col = 0;
      else if (ch === '\n') {
        this.screen[this.screen.length - 1] = line;
        this.screen.push('');
        line = '';
        col = 0;
      } else {
        line = line.slice(0, col) + ch + line.slice(col + 1);
        col++;
      }
    }
    this.screen[this.screen.length - 1] = line;
    done();
  }
}

afterEach(async () => {
  await daemons(0);
});

describe('progress bar', () => {
  it('leaves no stale characters when a line gets shorter, and always shows the last item', () => {
    const term = new FakeTerminal();
    const bar = new ProgressBar(200, term);
    // A long ETA first (slow start), then shorter ones: the tail must be overwritten.
    (bar as unknown as { started: number }).started = Date.now() - 100_000;
    bar.tick();
    (bar as unknown as { started: number }).started = Date.now();
    for (let i = 1; i < 200; i++) bar.tick(i % 50 === 0);
    bar.end();
    const last = term.screen.filter((l) => l !== '').at(-1)!;
    expect(last.trimEnd()).toMatch(/^\[#{24}\] 200\/200 100% 3 failed ETA 0s$/);
  });

  it('draws the latest count at the end even when the throttle skipped it', () => {
    const term = new FakeTerminal();
    const bar = new ProgressBar(10, term);
    for (let i = 0; i < 9; i++) bar.tick(); // within 50 ms: mostly throttled
    bar.end();
    expect(term.screen.filter((l) => l !== '').at(-1)!).toContain('9/10');
  });
});

describe('onProgress', () => {
  it('is called once per element with done, total and failures', async () => {
    await daemons({ sync: true });
    const calls: [number, number, number][] = [];
    const out = await miraiMap([1, 2, 3, 4], (x: number) => {
      if (x % 2 === 0) throw new Error(`even ${x}`);
      return x;
    }).collect({ onProgress: (d, t, f) => calls.push([d, t, f]) });
    expect(out).toHaveLength(4);
    expect(calls.map(([d]) => d)).toEqual([1, 2, 3, 4]);
    expect(calls.every(([, t]) => t === 4)).toBe(true);
    expect(calls.at(-1)![2]).toBe(2);
  });

  it('is validated, as are the other collect options', async () => {
    await daemons({ sync: true });
    const mp = miraiMap([1], (x: number) => x);
    await expect(mp.collect({ onProgress: 'yes' as never })).rejects.toThrow(ConfigError);
    await expect(mp.collect({ progres: true } as never)).rejects.toThrow(/unknown collect option 'progres'/);
    await expect(mp.stop({ progress: 1 as never })).rejects.toThrow(/progress must be a boolean/);
    expect(await mp.collect()).toEqual([1]);
  });
});
