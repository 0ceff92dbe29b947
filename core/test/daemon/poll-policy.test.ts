/**
 * When and how long a daemon polls for its next task (src/daemon/poll-policy.ts), on times
 * (ms) the test chooses: whether polling pays, how the window follows the gaps, what a poll in
 * vain skips, the probes.
 */
import { describe, expect, it } from 'vitest';
import { MAX_SKIPPED_POLLS, MIN_POLL_US, MISSES_THAT_DO_NOT_PAY, PAYS_US, PollPolicy, PROBE_EVERY, RETRY_AFTER, WARM_UP_RESULTS } from '../../src/daemon/poll-policy.js';

/** A policy and a clock (ms) that only moves forward, on a daemon that may run on `cpus` CPUs. */
function driven(maxUs: number, cpus = 2) {
  const policy = new PollPolicy(maxUs, () => cpus);
  let clock = 0;
  return {
    policy,
    /**
     * One result and its next task `gapUs` later: polled or not, and if polled, whether the
     * poll saw the task (its window ended after the task came) or ended first.
     */
    round(gap: number | ((polled: boolean) => number)): { polled: boolean; windowUs: number } {
      clock += 1; // ms between rounds: the task's own run
      const start = clock;
      const end = policy.pollAfterResult(start);
      const polled = !Number.isNaN(end);
      const windowUs = polled ? Math.round((end - start) * 1000) : 0;
      const gapUs = typeof gap === 'number' ? gap : gap(polled);
      if (polled && gapUs >= windowUs) policy.pollEnded();
      clock = start + gapUs / 1000;
      policy.taskArrived(clock);
      return { polled, windowUs };
    },
    /** Rounds until one polls: how many did not, and that one's window. */
    untilPolled(gap: number | ((polled: boolean) => number)): { skipped: number; windowUs: number } {
      for (let skipped = 0; ; skipped++) {
        const { polled, windowUs } = this.round(gap);
        if (polled) return { skipped, windowUs };
      }
    },
  };
}

/**
 * Rounds on `policy`, 1 ms apart, whose task comes 20 µs after the result, polled or not, and
 * was or was not there before the poll first looked: how many of `results` rounds polled.
 */
function taskAfter20Us(policy: PollPolicy): (results: number, beforeLook: boolean) => number {
  let clock = 0;
  return (results, beforeLook) => {
    let n = 0;
    for (let i = 0; i < results; i++) {
      const start = (clock += 1);
      if (!Number.isNaN(policy.pollAfterResult(start))) n++;
      policy.taskArrived(start + 0.02, beforeLook);
    }
    return n;
  };
}

/** Teaches `d` that a poll sees its task `hitUs` after the result, and a daemon that slept `sleptUs`. */
function teach(d: ReturnType<typeof driven>, hitUs: number, sleptUs: number): void {
  for (let i = 0; i < WARM_UP_RESULTS + 3 * PROBE_EVERY; i++) d.round((polled) => (polled ? hitUs : sleptUs));
}

describe('PollPolicy', () => {
  it('never polls with maxUs 0', () => {
    const d = driven(0);
    for (let i = 0; i < 100; i++) expect(d.round(10).polled).toBe(false);
  });

  it('starts with a window of MIN_POLL_US, or maxUs when less', () => {
    expect(new PollPolicy(200).windowUs).toBe(MIN_POLL_US);
    expect(new PollPolicy(30).windowUs).toBeCloseTo(30, 6);
  });

  it('where sleeping costs little, polls MIN_POLL_US and skips 1, 2, 4 … results after polls in vain; a hit starts over', () => {
    const d = driven(200);
    teach(d, 10, 10 + PAYS_US / 2); // sleeping costs less than PAYS_US
    expect(d.policy.pays).toBe(false);
    // Each poll's task comes at 120 µs, past its 50 µs window but within maxUs.
    const missed = (polled: boolean): number => (polled ? 120 : 10 + PAYS_US / 2);
    const rounds = Array.from({ length: 11 }, () => d.untilPolled(missed));
    expect(rounds.map((r) => r.skipped).slice(1)).toEqual([1, 2, 4, 8, 16, 32, 64, 128, MAX_SKIPPED_POLLS, MAX_SKIPPED_POLLS]);
    for (const r of rounds) expect(r.windowUs).toBe(MIN_POLL_US);
    expect(d.untilPolled(10).skipped).toBe(MAX_SKIPPED_POLLS); // that poll saw its task …
    expect(d.untilPolled(10).skipped).toBe(0); // … and polling goes on at once
  });

  it('with the host on its CPU, counts a poll that sees its task only after it should have ended as a miss, and backs off', () => {
    // The host either preempts the daemon's poll as the result comes and sends its task while
    // the daemon waits for the CPU (the daemon sees it just after the poll should have ended,
    // never having seen that end), or waits for the CPU until the poll ends (its task 10 µs
    // after). A sleeping daemon sees the task 45 µs after its result. Before, a task seen late
    // counted as seen: it started the backoff over, so one result in two polled, and each poll
    // in between held the CPU from the host for its window.
    const policy = new PollPolicy(200, () => 1);
    let clock = 0;
    let late = true;
    let polls = 0;
    const retries: number[] = [];
    let paid = true;
    for (let i = 0; i < 40 * RETRY_AFTER; i++) {
      clock += 1;
      const start = clock;
      const end = policy.pollAfterResult(start);
      let gapUs = 45;
      if (!Number.isNaN(end)) {
        const windowUs = (end - start) * 1000;
        gapUs = late ? windowUs + 5 : windowUs + 10;
        if (!late) policy.pollEnded();
        late = !late;
        if (i >= RETRY_AFTER / 2 && i < RETRY_AFTER) polls++;
      }
      clock = start + gapUs / 1000;
      policy.taskArrived(clock);
      if (policy.pays && !paid) retries.push(i);
      paid = policy.pays;
    }
    expect(polls).toBeLessThan(RETRY_AFTER / 2 / 64);
    // Each retry finds polling does not pay again: the waits between them double, up to 16 × RETRY_AFTER.
    const spacing = retries.slice(1).map((at, k) => Math.round((at - retries[k]!) / RETRY_AFTER));
    expect(spacing).toEqual([2, 4, 8, 16]);
  });

  it('where sleeping costs more, widens the window to the gaps its polls missed, up to maxUs, and does not skip', () => {
    const d = driven(200);
    teach(d, 20, 90); // sleeping makes the task come 70 µs later
    expect(d.policy.pays).toBe(true);
    // The host now answers in 100–130 µs (a daemon that slept sees it 70 µs later): the first
    // poll ends first, and the window grows.
    const windows: number[] = [];
    let slept = 0;
    for (let i = 0; i < 200; i++) {
      const round = d.round((polled) => 100 + (i % 4) * 10 + (polled ? 0 : 70));
      if (round.polled) windows.push(round.windowUs);
      else if (i >= 100) slept++;
    }
    expect(windows[0]).toBeLessThan(100);
    // Once it has seen a few: every poll waits long enough, and none is skipped but the probes.
    for (const w of windows.slice(-100)) expect(w).toBeGreaterThan(130);
    for (const w of windows) expect(w).toBeLessThanOrEqual(200);
    expect(slept).toBeLessThanOrEqual(Math.ceil(100 / PROBE_EVERY));
    expect(d.policy.pays).toBe(true);
  });

  it('counts a task later than maxUs as a poll in vain even where polling pays, and shrinks the window back', () => {
    const d = driven(200);
    for (let i = 0; i < 300; i++) d.round((polled) => (polled ? 150 : 220)); // a window near maxUs
    expect(d.policy.pays).toBe(true);
    expect(d.policy.windowUs).toBeGreaterThan(150);
    d.untilPolled(5_000); // the task came long after: a caller that paused
    expect(d.policy.windowUs).toBe(MIN_POLL_US);
    expect(d.untilPolled(20).skipped).toBe(1);
  });

  it('stops taking polls for paying after MISSES_THAT_DO_NOT_PAY in a row whose task came just after they ended', () => {
    // As when the host shares the daemon's CPU and gets it only once the poll ends: every
    // task comes 10 µs after its poll, however long the poll.
    const d = driven(1000);
    let polls = 0;
    while (d.policy.pays) {
      const windowUs = d.policy.windowUs;
      if (d.round((polled) => (polled ? windowUs + 10 : 10)).polled) polls++;
      expect(polls).toBeLessThanOrEqual(MISSES_THAT_DO_NOT_PAY);
    }
    expect(polls).toBe(MISSES_THAT_DO_NOT_PAY);
    expect(d.policy.windowUs).toBe(MIN_POLL_US);
    const skipped = [1, 2, 3].map(() => d.untilPolled((polled) => (polled ? MIN_POLL_US + 10 : 10)).skipped);
    expect(skipped[0]).toBeGreaterThanOrEqual(1);
    expect(skipped).toEqual([skipped[0], 2 * skipped[0]!, 4 * skipped[0]!]); // in vain, each of them
  });

  it('a poll that sees its task starts the count of misses in a row over', () => {
    const d = driven(1000);
    teach(d, 20, 90);
    for (let run = 0; run < 3; run++) {
      for (let miss = 0; miss < MISSES_THAT_DO_NOT_PAY - 1; miss++) {
        const windowUs = d.policy.windowUs;
        d.untilPolled((polled) => (polled ? windowUs + 5 : 90));
      }
      d.untilPolled((polled) => (polled ? 10 : 90));
    }
    expect(d.policy.pays).toBe(true);
  });

  it('does not learn what sleeping costs from a caller that paused', () => {
    const d = driven(200);
    teach(d, 10, 10 + PAYS_US / 2);
    // Results whose poll is skipped, each answered 5 ms later: not a wake, a caller's pause.
    d.untilPolled((polled) => (polled ? 120 : 10 + PAYS_US / 2)); // a poll in vain: one skipped
    for (let i = 0; i < 8; i++) d.untilPolled((polled) => (polled ? 10 : 5_000));
    expect(d.policy.pays).toBe(false);
  });

  it('skips one poll in PROBE_EVERY to learn what sleeping costs, and none when the window cannot grow', () => {
    for (const [maxUs, probes] of [
      [200, 3],
      [MIN_POLL_US, 0],
    ] as const) {
      const d = driven(maxUs);
      let skipped = 0;
      for (let i = 0; i < 3 * PROBE_EVERY; i++) if (!d.round(10).polled) skipped++;
      expect(skipped).toBe(probes);
    }
  });

  it('asks again whether polling pays after RETRY_AFTER results without, and so leaves a state that held itself up', () => {
    // A host that waited long for its last result slept deeper, and its next task comes 70 µs
    // after the result; after a result that came at once (the daemon polled for its task), 35
    // µs. A daemon that slept sees either 60 µs later. Slow first tasks (a warm-up: tasks 170 µs
    // after polls that grew to wait for them) and then 16 polls in a row that ended just before
    // their task left the daemon not polling, where its 50 µs polls miss every 70 µs task.
    const d = driven(200);
    for (let i = 0; i < 300; i++) d.round((polled) => (polled ? 170 : 240));
    for (let miss = 0; miss < MISSES_THAT_DO_NOT_PAY; miss++) {
      const windowUs = d.policy.windowUs;
      d.untilPolled((polled) => (polled ? windowUs + 5 : 240));
    }
    expect(d.policy.pays).toBe(false);
    let hostWarm = false;
    const tail: boolean[] = [];
    for (let i = 0; i < 3 * RETRY_AFTER; i++) {
      const windowUs = d.policy.windowUs;
      const hostGap: number = hostWarm ? 35 : 70;
      const { polled } = d.round((polled) => (polled ? hostGap : hostGap + 60));
      // The host stays warm only while the daemon's polls see its tasks (it answers at once).
      hostWarm = polled && hostGap < windowUs;
      if (i >= 3 * RETRY_AFTER - 500) tail.push(hostWarm);
    }
    expect(d.policy.pays).toBe(true);
    expect(tail.filter(Boolean).length).toBeGreaterThan(450);
  });

  it("polls through a fresh daemon's warm-up, so a host slow to warm is not left sleeping, on one CPU too", () => {
    // For its first 1000 results the host answers in 110 µs (a daemon that slept sees it 15 µs
    // later); warm, in 33 µs while the daemon's polls keep seeing its tasks, 75 once they
    // have not for a while (it slept deeper). Going by the gaps alone (the warm-up ended at
    // once), the first thousand left the daemon not polling, and its rare 50 µs polls missed
    // every 75 µs answer. A daemon pinned to one CPU (its host on another) warms up the same.
    for (const [warmUp, cpus] of [[true, 2], [true, 1], [false, 2]] as const) {
      const d = driven(200, cpus);
      // MISSES_THAT_DO_NOT_PAY polls in a row that end before their task came end the warm-up.
      if (!warmUp) for (let miss = 0; miss < MISSES_THAT_DO_NOT_PAY; miss++) d.untilPolled(1000);
      let prompt = 0;
      const tail: boolean[] = [];
      for (let i = 0; i < 1000 + RETRY_AFTER / 2; i++) {
        const windowUs = d.policy.windowUs;
        const warm = i >= 1000;
        const hostGap = !warm ? 110 : prompt >= 8 ? 33 : 75;
        const { polled } = d.round((polled) => (polled ? hostGap : warm ? 90 : 125));
        prompt = polled && hostGap < windowUs ? prompt + 1 : 0;
        if (i >= 1100) tail.push(prompt >= 8);
      }
      const prompted = tail.filter(Boolean).length;
      if (warmUp) expect([d.policy.pays, prompted > 0.8 * tail.length]).toEqual([true, true]);
      else expect(prompted).toBeLessThan(0.2 * tail.length);
    }
  });

  it('ends the warm-up for good once MISSES_THAT_DO_NOT_PAY polls in a row missed', () => {
    const d = driven(1000);
    for (let i = 0; i < 4 * PROBE_EVERY; i++) d.round(15); // sleeping costs nothing: only the warm-up polls
    expect(d.policy.pays).toBe(true);
    for (let miss = 0; miss < MISSES_THAT_DO_NOT_PAY; miss++) {
      const windowUs = d.policy.windowUs;
      d.untilPolled((polled) => (polled ? windowUs + 10 : 15));
    }
    // A poll that sees its task starts the misses over; from then on the gaps decide.
    d.untilPolled(15);
    expect(d.policy.pays).toBe(false);
  });

  it('asks how many CPUs it may run on at its first result: pinned after it started, the one-CPU rule applies', () => {
    // Every task comes 20 µs after its result and was there before the poll first looked (the
    // host ran on the daemon's CPU first). Pinned before its first task (as the bench pins),
    // the daemon stops polling once its warm-up is over; free, such polls go on.
    let cpus = 2;
    const free = taskAfter20Us(new PollPolicy(200, () => 2));
    const pinned = taskAfter20Us(new PollPolicy(200, () => cpus));
    cpus = 1;
    for (const polls of [free, pinned]) expect(polls(WARM_UP_RESULTS + 200, true)).toBeGreaterThan(0.9 * WARM_UP_RESULTS);
    expect(free(1000, true)).toBeGreaterThan(900);
    expect(pinned(1000, true)).toBeLessThan(50);
  });

  it('on one CPU, takes polls whose task was there before their first look as in vain once most were, from its WARM_UP_RESULTS-th result on', () => {
    // Every task comes 20 µs after its result, polled or not. Pinned with its host to one CPU,
    // the host ran before the poll first looked; pinned to a CPU of its own, a daemon whose code
    // is still cold looks late too, so the first WARM_UP_RESULTS results do not count.
    const polls = taskAfter20Us(new PollPolicy(200, () => 1));
    expect(polls(WARM_UP_RESULTS - 100, true)).toBeGreaterThan(0.9 * (WARM_UP_RESULTS - 100));
    polls(200, true);
    expect(polls(1000, true)).toBeLessThan(50);
    // Tasks its polls see once they looked (the host on another CPU now): polling goes on.
    expect(polls(1000, false)).toBeGreaterThan(700);
  });

  it('asks again less often after retries whose polls saw no task, up to RETRY_AFTER × 16', () => {
    // The host on the daemon's CPU: a poll holds the CPU the host needs, so every task comes
    // 10 µs after the poll ends, however long, and polling never pays.
    const d = driven(200);
    const starts: number[] = [];
    let paid = true;
    for (let i = 0; i < 70 * RETRY_AFTER; i++) {
      const windowUs = d.policy.windowUs;
      d.round((polled) => (polled ? windowUs + 10 : 10));
      if (d.policy.pays && !paid) starts.push(i);
      paid = d.policy.pays;
    }
    const spacing = starts.slice(1).map((at, k) => Math.round((at - starts[k]!) / RETRY_AFTER));
    expect(spacing.slice(0, 6)).toEqual([2, 4, 8, 16, 16, 16]);
    // Each retry costs its polls in vain only: MISSES_THAT_DO_NOT_PAY of them, then it stops.
    expect(starts.length).toBeLessThan(12);
  });

  it('does not take a gap from a task that came after the poll should have ended but before its last tick', () => {
    const d = driven(200);
    teach(d, 20, 90);
    const before = d.policy.windowUs;
    // The poll's window ended at 50 µs, but the daemon was busy until the task came at 400
    // µs (the poll never saw its end): not a poll in vain, and not a gap to learn from.
    const end = d.policy.pollAfterResult(10_000);
    expect(end).toBeCloseTo(10_000 + before / 1000);
    d.policy.taskArrived(10_000.4);
    expect(d.policy.windowUs).toBe(before);
    expect(d.untilPolled(20).skipped).toBe(0);
  });
});
