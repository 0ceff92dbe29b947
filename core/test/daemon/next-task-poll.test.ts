/**
 * A daemon's poll for its next task after a result (src/daemon/next-task-poll.ts), on a clock
 * and a scheduler driven by the test: how long it polls, what ends it, and how it backs off.
 */
import { describe, expect, it } from 'vitest';
import { NextTaskPoll } from '../../src/daemon/next-task-poll.js';
import { MAX_SKIPPED_POLLS } from '../../src/daemon/poll-backoff.js';

/** A poll of `spinUs` on a fake clock (ms) whose ticks run when the test says. */
function harness(spinUs: number) {
  let clock = 0;
  let received = 0;
  const ticks: (() => void)[] = [];
  const poll = new NextTaskPoll(spinUs, () => received, () => clock, (tick) => ticks.push(tick));
  return {
    poll,
    pending: (): number => ticks.length,
    /** A task arrives. */
    task(): void {
      received++;
    },
    /** Moves the clock to `atMs` and runs the pending tick. */
    tickAt(atMs: number): void {
      clock = atMs;
      ticks.shift()!();
    },
    /** Calls afterResult until it starts a poll; how many calls it skipped first. */
    skippedBeforePoll(): number {
      let skipped = 0;
      for (this.poll.afterResult(); !this.poll.active; this.poll.afterResult()) skipped++;
      return skipped;
    },
  };
}

describe('NextTaskPoll', () => {
  it('polls until its window ends when no task comes, and stops at the first tick after one came', () => {
    const h = harness(50);
    h.poll.afterResult();
    for (const at of [0.01, 0.02, 0.03, 0.04]) {
      h.tickAt(at);
      expect(h.poll.active).toBe(true);
      expect(h.pending()).toBe(1); // the next tick is scheduled
    }
    h.tickAt(0.05);
    expect([h.poll.active, h.pending()]).toEqual([false, 0]);

    const hit = harness(50);
    hit.poll.afterResult();
    hit.tickAt(0.01);
    hit.task();
    hit.tickAt(0.02);
    expect([hit.poll.active, hit.pending()]).toEqual([false, 0]);
    expect(hit.skippedBeforePoll()).toBe(0); // a hit: the next result polls again at once
  });

  it('skips 1, 2, 4 … results after polls that saw nothing, up to the most; a poll that saw a task starts over', () => {
    const h = harness(50);
    const skipped: number[] = [];
    for (let miss = 0; miss < 11; miss++) {
      skipped.push(h.skippedBeforePoll());
      h.tickAt((miss + 1) * 10); // long after the window: a miss
    }
    expect(skipped).toEqual([0, 1, 2, 4, 8, 16, 32, 64, 128, MAX_SKIPPED_POLLS, MAX_SKIPPED_POLLS]);
    expect(h.skippedBeforePoll()).toBe(MAX_SKIPPED_POLLS);
    h.task();
    h.tickAt(200); // a hit
    expect(h.skippedBeforePoll()).toBe(0);
    h.tickAt(300); // a miss after the hit skips one result, not the most
    expect(h.skippedBeforePoll()).toBe(1);
  });

  it('a result during a poll restarts its window for the next task, without a second chain of ticks', () => {
    const h = harness(50);
    h.poll.afterResult(); // window until 0.05
    h.tickAt(0.02);
    h.task(); // a task came, ran, and answered before the next tick:
    h.poll.afterResult(); // window until 0.02 + 0.05
    expect(h.pending()).toBe(1);
    h.tickAt(0.06);
    expect(h.poll.active).toBe(true); // still polling: 0.06 < 0.07, and no task since the restart
    h.tickAt(0.08);
    expect(h.poll.active).toBe(false);
    expect(h.skippedBeforePoll()).toBe(1); // that was a miss
  });

  it('never polls with spin 0', () => {
    const h = harness(0);
    for (let i = 0; i < 10; i++) h.poll.afterResult();
    expect([h.poll.active, h.pending()]).toEqual([false, 0]);
  });
});
