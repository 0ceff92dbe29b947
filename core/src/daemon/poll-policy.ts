/**
 * When and how long a daemon polls for its next task after a result, instead of sleeping (a
 * process daemon's event loop, next-task-poll.ts; a thread daemon's ring, in the threads
 * plugin). A poll saves the daemon's wake when the task comes in time, and costs the CPU time
 * it polls, which another process may need (its host's, when CPUs are scarce).
 *
 * **Does polling pay?** The daemon keeps two smoothed gaps from a result to its next task: when
 * a poll saw the task, and when it slept without polling (after a result whose poll was
 * skipped; one result in {@link PROBE_EVERY} skips its poll to keep that figure fresh). On the
 * virtual machines these figures come from, a wake across CPUs costs about 30 µs (the idle CPU
 * halts), and the second was 45–60 µs above the first; with the host on the daemon's CPU, or
 * every CPU busy (two daemons and a host handing out a backlog on two CPUs), wakes cost little.
 * Polling pays while the difference is at least {@link PAYS_US} (or not known yet), and stops
 * paying after {@link MISSES_THAT_DO_NOT_PAY} polls in a row ended before their task came (as
 * when the host gets the daemon's CPU only once the poll ends), until one sees its task.
 *
 * **While it does not pay**, polls last {@link MIN_POLL_US}, and one that ends before its task
 * came was in vain: the next 1, 2, 4 … {@link MAX_SKIPPED_POLLS} results skip polling. A poll
 * that saw its task starts that over. (With longer polls there, or backing off less, two
 * daemons and their host on two CPUs did 40–58k tasks/s instead of 80–100k: the polls held
 * CPUs the host needed.) A poll whose task is seen only after the poll should have ended (the
 * daemon busy past its end, or, with the host on the daemon's CPU, preempted by the host, which
 * sent its task meanwhile) missed too: it counts toward {@link MISSES_THAT_DO_NOT_PAY} and,
 * while polling does not pay, is in vain. When it counted as seen, it started the backoff over
 * on one CPU, where one result in two then polled, each poll in between holding the CPU from
 * the host for its window.
 *
 * **While it pays**, the window follows the gaps the polls see, as TCP sets its retransmission
 * timeout (RFC 6298): the mean gap plus four mean deviations (at least {@link MARGIN_US} more),
 * from MIN_POLL_US to `maxUs` (the profile's `spin`); and a poll that ended before its task came
 * is in vain only when the task came more than `maxUs` after the result (a caller that does
 * other things between tasks); otherwise the window was too short and grows from that gap.
 * Over TLS, or with the host on another CPU (it sleeps too, and its wake is part of the wait),
 * the host's answer often comes 50–120 µs after the result: a fixed 50 µs poll missed a third
 * of them, backed off to polling after one result in 256, and the round trip took 80–115 µs
 * instead of 45–60.
 *
 * **Asking again.** Not polling can hold itself up: a daemon that sleeps answers later, so its
 * host waits longer and sleeps deeper (on these virtual machines, a CPU idle for more than a few
 * tens of µs halts), so the host's next task comes later, past the short polls of the state
 * that does not pay; and what polls saw before (during a slow warm-up, say) stays in the figures
 * that say polling does not pay, since polls that miss teach nothing. Over TLS, 5 of 10 fresh
 * daemons settled there, at 89–129 µs a round trip against 46–77 for the rest. So after
 * {@link RETRY_AFTER} results in a row without polling paying, the daemon forgets what its
 * polls saw and asks again, as at its start; a retry after which polling still does not pay
 * (the host on the daemon's CPU) doubles the wait before the next, up to 16 times as long.
 *
 * **Warming up.** That was not enough: a daemon's first results run while it and its host warm
 * up (V8's lower tiers, TLS), so the gaps its polls see then are nearly as long as sleeping;
 * polling "does not pay", the host sleeps deeper, and a retry's first polls, with the host
 * still slow to wake, often say the same again. Fresh TLS daemons on 2 CPUs settled at 75–109
 * µs a round trip in 31 of 140 starts (38–64 µs the rest), local TCP daemons in 9 of 140 (72–81
 * against 29–49). So a daemon's first {@link WARM_UP_RESULTS} results poll whatever the gaps
 * say, unless MISSES_THAT_DO_NOT_PAY polls in a row miss: then no slow start in 70 over TLS
 * (40–70 µs), nor in 28 over TCP. Not after retries: polling regardless there, for even 256
 * results a retry, cost 9% of `tps` (two daemons handed a backlog, where sleeping costs little
 * and retries come every few thousand results). Where the daemon may run on one CPU only
 * (pinned, or a machine of one CPU) it warms up too: pinned to a CPU of its own, its host on
 * another, without a warm-up 5 of 48 fresh TLS daemons settled at 79–98 µs a round trip
 * (40–58 the rest), and none of 48 with it (41–75). Pinned with its host to one CPU, where a
 * poll only delays the host, the warm-up costs its first results about 5 µs each (about 10 ms
 * a daemon) and nothing after, as the one-CPU rule takes over (below); before that rule, such a
 * warm-up left TLS round trips at 53–55 µs long after it ended, against 44.
 *
 * **One CPU.** Pinned with its host to one CPU, a daemon still polled after most results: the
 * host, woken by the result, ran before the daemon's poll first looked, so the poll saw its
 * task at once, an in-time hit that started the backoff over, and each poll cost the host a
 * turn of the daemon's event loop: `ipc://` round trips took 29–33 µs (23–26 now). A task
 * already there when the poll first looked says the poll was useless (sleeping finds it as
 * soon). Only where the daemon may run on one CPU is that taken as the host sharing it, and
 * only when most of the tasks its polls saw were such ({@link SHARED_CPU_SHARE}): such polls
 * are then in vain, from its {@link WARM_UP_RESULTS}-th result on (counted from the first, 7 of
 * 22 fresh TLS daemons pinned to a CPU of their own settled at 79–96 µs a round trip, their
 * cold code looking late). Pinned to another CPU than its host, some tasks are there before
 * the first look too (a poll's first tick comes about 20 µs after the result), and counting
 * each of those in vain made round trips about 2 µs slower.
 * Free, the same signal says nothing: the scheduler puts host and daemon on one CPU for
 * stretches, and polling there keeps them apart (a daemon that stopped polling on it took 66–99
 * µs a round trip, not 43–48). A thread daemon's ring poll takes a frame that is already there
 * before it asks the policy, so such tasks never count.
 */
import { availableParallelism } from 'node:os';

/** The shortest window (µs), and the only one while polling does not pay (less if `maxUs` is less). */
export const MIN_POLL_US = 50;
/** Most results in a row a daemon skips polling after it polled in vain. */
export const MAX_SKIPPED_POLLS = 256;
/** A result in this many skips its poll, to measure what sleeping costs. */
export const PROBE_EVERY = 64;
/** Polling pays when sleeping makes the next task come at least this much later (µs). */
export const PAYS_US = 25;
/** The least a window exceeds the mean gap (µs), however steady the gaps (RFC 6298's clock granularity). */
export const MARGIN_US = 10;
/** Polls in a row that end before their task came (or see it only after they should have ended), after which polling does not pay until one sees its task. */
export const MISSES_THAT_DO_NOT_PAY = 16;
/** Results in a row without polling paying, after which a daemon asks again whether it pays (doubled after each retry in vain, up to 16 times as long). */
export const RETRY_AFTER = 2048;
/** Doublings of RETRY_AFTER at most. */
const MAX_RETRY_DOUBLINGS = 4;
/**
 * Results a fresh daemon polls after whatever the gaps say (unless MISSES_THAT_DO_NOT_PAY polls
 * in a row miss; see "Warming up" above).
 */
export const WARM_UP_RESULTS = 2048;
/**
 * Where the daemon may run on one CPU only, from its WARM_UP_RESULTS-th result on: once this
 * share of the tasks its polls saw was there before the poll first looked (smoothed over about
 * the last 16), its host shares its CPU (see "One CPU" above), and such polls count as in vain.
 */
export const SHARED_CPU_SHARE = 0.75;

/** One step of an exponentially weighted mean (weight 1/8), started by the first sample. */
function smooth(mean: number, sample: number): number {
  return Number.isNaN(mean) ? sample : mean + (sample - mean) / 8;
}

export class PollPolicy {
  private readonly maxMs: number;
  private readonly minMs: number;
  private windowMs: number;
  /**
   * Smoothed gap from a result to a task that came during or after a poll (not in vain), and
   * its mean deviation (ms): what the window is made of.
   */
  private meanGapMs = Number.NaN;
  private gapDeviationMs = 0;
  /** Smoothed gap from a result to the next task a poll saw (ms). */
  private hitGapMs = Number.NaN;
  /** Smoothed gap from a result to the next task when the daemon slept without polling (ms). */
  private sleptGapMs = Number.NaN;
  /** Results since the last one whose poll was skipped. */
  private sinceSkipped = 0;
  /** When the last result that left the daemon idle was sent (ms); NaN once its task came. */
  private resultAt = Number.NaN;
  /** Whether the daemon polled after that result. */
  private polled = false;
  /** When that poll ends (ms). */
  private pollEnd = Number.NaN;
  /** Whether it ended without a task. */
  private pollEmpty = false;
  /** Results left whose poll is skipped, and how many the last poll in vain skipped. */
  private skip = 0;
  private backoff = 0;
  /** Polls in a row that ended before their task came, or saw it only after they should have ended. */
  private missesInARow = 0;
  /** Results in a row while polling did not pay. */
  private notPaying = 0;
  /** Retries since polling last paid (a poll saw its task while it paid). */
  private retriesInVain = 0;
  /** Results so far, counted up to one past WARM_UP_RESULTS (the warm-up's and the one-CPU rule's clock). */
  private results = 0;
  /** Whether this daemon may run on one CPU only (asked at its first result). */
  private oneCpu = false;
  /** The warm-up ended early: MISSES_THAT_DO_NOT_PAY polls in a row missed. */
  private warmUpOver = false;
  /** Where it may: the smoothed share of the tasks its polls saw that were there before the poll first looked. */
  private beforeLookShare = 0;

  /**
   * @param maxUs - the longest window (µs); 0: never poll.
   * @param cpus - how many CPUs this daemon may run on (asked at its first result).
   */
  constructor(
    maxUs: number,
    private readonly cpus: () => number = availableParallelism,
  ) {
    this.maxMs = maxUs / 1000;
    this.minMs = Math.min(MIN_POLL_US / 1000, this.maxMs);
    this.windowMs = this.minMs;
  }

  /** The window the next poll would have (µs). */
  get windowUs(): number {
    return this.windowMs * 1000;
  }

  /**
   * Whether polling pays: sleeping made the next task come at least PAYS_US later than a poll
   * saw it, or that is not known yet, or the daemon is warming up (see "Warming up"); and not
   * {@link MISSES_THAT_DO_NOT_PAY} polls in a row ended before their task came.
   */
  get pays(): boolean {
    if (this.missesInARow >= MISSES_THAT_DO_NOT_PAY) return false;
    return (!this.warmUpOver && this.results < WARM_UP_RESULTS) || !(this.sleptGapMs - this.hitGapMs < PAYS_US / 1000);
  }

  /**
   * A result left the daemon with nothing to do at `now` (ms): when to stop polling for the
   * next task (ms), or NaN not to poll (skipping, probing, or never polling).
   */
  pollAfterResult(now: number): number {
    if (this.maxMs <= 0) return Number.NaN;
    // Asked at the first result, not before: a daemon pinned once it connected (as the bench
    // pins) is taken as pinned.
    if (this.results === 0) this.oneCpu = this.cpus() <= 1;
    if (this.results <= WARM_UP_RESULTS) this.results++;
    if (this.pays) this.notPaying = 0;
    else if (++this.notPaying >= RETRY_AFTER * 2 ** Math.min(this.retriesInVain, MAX_RETRY_DOUBLINGS)) this.retry();
    this.resultAt = now;
    this.pollEmpty = false;
    // Probes only where the window can grow: with `maxUs` at MIN_POLL_US or less, whether
    // polling pays changes nothing.
    const probe = this.maxMs > this.minMs && ++this.sinceSkipped >= PROBE_EVERY;
    this.polled = this.skip === 0 && !probe;
    if (!this.polled) {
      if (this.skip > 0) this.skip--;
      this.sinceSkipped = 0;
      return Number.NaN;
    }
    this.pollEnd = now + this.windowMs;
    return this.pollEnd;
  }

  /** The poll ended without a task. */
  pollEnded(): void {
    this.pollEmpty = true;
  }

  /**
   * A task came at `now` (ms); `beforeLook`: it was there before the poll first looked (what
   * the daemon did after its result outlasted the host's answer, or the host ran meanwhile).
   */
  taskArrived(now: number, beforeLook = false): void {
    if (Number.isNaN(this.resultAt)) return;
    const gapMs = now - this.resultAt;
    this.resultAt = Number.NaN;
    // Up to twice maxUs: a wake adds to the host's time; beyond that, a caller that paused.
    const usual = gapMs <= 2 * this.maxMs;
    if (!this.polled) {
      if (usual) this.sleptGapMs = smooth(this.sleptGapMs, gapMs);
      return;
    }
    if (!this.pollEmpty) {
      if (now > this.pollEnd) {
        // Seen only after the poll should have ended: the daemon was busy past its end (a slow
        // tick), or lost its CPU to the host, which sent its task meanwhile. The poll missed,
        // but its gap is not one it waited through: nothing to learn from it.
        this.missed();
        if (!this.pays) this.pollInVain();
        return;
      }
      if (this.oneCpu && this.results > WARM_UP_RESULTS) {
        this.beforeLookShare += ((beforeLook ? 1 : 0) - this.beforeLookShare) / 16;
        if (beforeLook && this.beforeLookShare >= SHARED_CPU_SHARE) {
          this.missed();
          this.pollInVain();
          return;
        }
      }
      this.missesInARow = 0;
      this.backoff = 0;
      this.hitGapMs = smooth(this.hitGapMs, gapMs);
      if (this.pays) this.retriesInVain = 0;
      this.recordGap(gapMs);
      return;
    }
    this.missed();
    const inVain = !this.pays || gapMs > this.maxMs;
    if (inVain) {
      this.pollInVain();
      return;
    }
    this.recordGap(gapMs);
  }

  /** A poll that ended before its task came, or saw it late. Enough in a row end the warm-up. */
  private missed(): void {
    if (++this.missesInARow >= MISSES_THAT_DO_NOT_PAY) this.warmUpOver = true;
  }

  /** After a poll in vain: the next 1, 2, 4, ... MAX_SKIPPED_POLLS results skip polling. */
  private pollInVain(): void {
    this.backoff = Math.min(this.backoff * 2 || 1, MAX_SKIPPED_POLLS);
    this.skip = this.backoff;
    this.windowMs = this.minMs;
  }

  /** Forgets what polls saw (not what sleeping costs, which probes keep fresh) and asks again whether polling pays. */
  private retry(): void {
    this.retriesInVain++;
    this.notPaying = 0;
    this.hitGapMs = Number.NaN;
    this.meanGapMs = Number.NaN;
    this.gapDeviationMs = 0;
    this.missesInARow = 0;
    this.backoff = 0;
    this.skip = 0;
    this.windowMs = this.minMs;
  }

  private recordGap(gapMs: number): void {
    if (Number.isNaN(this.meanGapMs)) this.gapDeviationMs = gapMs / 2;
    else this.gapDeviationMs += (Math.abs(gapMs - this.meanGapMs) - this.gapDeviationMs) / 4;
    this.meanGapMs = smooth(this.meanGapMs, gapMs);
    const window = this.pays ? this.meanGapMs + Math.max(MARGIN_US / 1000, 4 * this.gapDeviationMs) : 0;
    this.windowMs = Math.min(this.maxMs, Math.max(this.minMs, window));
  }
}
