/**
 * A process daemon's poll for its next task after a result (src/daemon/next-task-poll.ts), on a
 * clock and a scheduler driven by the test: how long it polls, what ends it, that one chain of
 * ticks runs at a time. When to poll and for how long is PollPolicy's (poll-policy.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { NextTaskPoll } from '../../src/daemon/next-task-poll.js';
import { MIN_POLL_US, PROBE_EVERY, WARM_UP_RESULTS } from '../../src/daemon/poll-policy.js';

/** A poll of at most `spinUs` on a fake clock (ms) whose ticks run when the test says, on a daemon that may run on `cpus` CPUs. */
function harness(spinUs: number, cpus = 2) {
  let clock = 0;
  const ticks: (() => void)[] = [];
  const poll = new NextTaskPoll(
    spinUs,
    () => clock,
    (tick) => ticks.push(tick),
    () => cpus,
  );
  return {
    poll,
    pending: (): number => ticks.length,
    /** Moves the clock to `atMs`. */
    at(atMs: number): void {
      clock = atMs;
    },
    /** Moves the clock to `atMs` and runs the pending tick. */
    tickAt(atMs: number): void {
      clock = atMs;
      ticks.shift()!();
    },
  };
}

describe('NextTaskPoll', () => {
  it('polls until its window ends when no task comes, and stops at the first tick after one came', () => {
    const h = harness(200);
    expect(h.poll.windowUs).toBe(MIN_POLL_US);
    h.poll.afterResult();
    for (const at of [0.01, 0.02, 0.03, 0.04]) {
      h.tickAt(at);
      expect(h.poll.active).toBe(true);
      expect(h.pending()).toBe(1); // the next tick is scheduled
    }
    h.tickAt(0.05);
    expect([h.poll.active, h.pending()]).toEqual([false, 0]);

    const hit = harness(200);
    hit.poll.afterResult();
    hit.tickAt(0.01);
    hit.at(0.015);
    hit.poll.taskArrived();
    hit.tickAt(0.02);
    expect([hit.poll.active, hit.pending()]).toEqual([false, 0]);
    hit.poll.afterResult(); // a hit: the next result polls again at once
    expect([hit.poll.active, hit.pending()]).toEqual([true, 1]);
  });

  it('a result during a poll restarts its window for the next task, without a second chain of ticks', () => {
    const h = harness(200);
    h.poll.afterResult(); // window until 0.05
    h.tickAt(0.02);
    h.poll.taskArrived(); // a task came, ran and answered before the next tick:
    h.poll.afterResult(); // window until 0.02 + 0.05
    expect(h.pending()).toBe(1);
    h.tickAt(0.06);
    expect(h.poll.active).toBe(true); // still polling: 0.06 < 0.07, and no task since the restart
    expect(h.pending()).toBe(1);
    h.tickAt(0.08);
    expect([h.poll.active, h.pending()]).toEqual([false, 0]);
  });

  it('after a poll in vain (its task came long after), skips polling for the next result', () => {
    const h = harness(200);
    h.poll.afterResult();
    h.tickAt(0.06); // the window ended
    h.at(10); // the task comes 10 ms later: longer than spin, a caller that paused
    h.poll.taskArrived();
    h.poll.afterResult();
    expect([h.poll.active, h.pending()]).toEqual([false, 0]);
    h.at(10.01);
    h.poll.taskArrived();
    h.poll.afterResult(); // one skipped: this one polls
    expect([h.poll.active, h.pending()]).toEqual([true, 1]);
  });

  it('a tick left from a poll that a result stopped (a probe skips its poll) ends its chain', () => {
    const h = harness(200);
    h.poll.afterResult();
    let clock = 0;
    // Tasks that come and answer between two ticks: each result restarts the poll, until the
    // probe (one result in PROBE_EVERY) does not poll, with the tick still scheduled.
    for (let i = 0; i < 2 * PROBE_EVERY && h.poll.active; i++) {
      h.at((clock += 0.01));
      h.poll.taskArrived();
      h.poll.afterResult();
    }
    expect([h.poll.active, h.pending()]).toEqual([false, 1]);
    h.tickAt((clock += 0.01));
    expect(h.pending()).toBe(0); // the chain ended
    h.poll.taskArrived();
    h.poll.afterResult();
    expect([h.poll.active, h.pending()]).toEqual([true, 1]); // one chain, not two
  });

  it('pinned to one CPU, stops polling once the tasks its polls see were there before their first tick', () => {
    // Every task comes 20 µs after its result, polled or not (sleeping costs nothing more):
    // either before the poll's first tick (the host ran on the daemon's CPU in between), or
    // after two. Only the first, pinned, makes the polls in vain; elsewhere a poll that sees its
    // task in time starts the backoff over, and nearly every result polls.
    for (const [cpus, ticksFirst, pollsMost] of [
      [1, 0, false],
      [1, 2, true],
      [2, 0, true],
    ] as const) {
      const h = harness(200, cpus);
      let clock = 0;
      let polls = 0;
      const results = WARM_UP_RESULTS + 1000;
      for (let i = 0; i < results; i++) {
        h.at((clock += 1));
        h.poll.afterResult();
        if (h.poll.active && i >= results - 500) polls++;
        for (let t = 0; t < ticksFirst && h.pending() > 0; t++) h.tickAt((clock += 0.001));
        h.at((clock += 0.02));
        h.poll.taskArrived();
      }
      if (pollsMost) expect(polls, `cpus ${cpus}, ticks ${ticksFirst}`).toBeGreaterThan(450);
      else expect(polls, `cpus ${cpus}, ticks ${ticksFirst}`).toBeLessThan(25);
    }
  });

  it('never polls with spin 0', () => {
    const h = harness(0);
    for (let i = 0; i < 10; i++) {
      h.poll.afterResult();
      h.poll.taskArrived();
    }
    expect([h.poll.active, h.pending()]).toEqual([false, 0]);
  });
});
