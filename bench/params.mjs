/**
 * Sizes shared by each benchmark and its raw limit, so both sides always do the same
 * amount of work. Change them here, never in one side only.
 */

/**
 * Round trips discarded before timing (JIT, socket buffers, dispatcher warm-up). Enough for
 * both sides to reach their optimised code: with a few hundred, part of each side still ran
 * in V8's lower tiers, and the figure measured warm-up, not a pool that has been running.
 */
export const RTT_WARMUP = 3_000;
/** Timed sequential round trips per round. */
export const RTT_COUNT = 5_000;
/**
 * Warm-up round trips of the observability figures (bench/otel.mjs: traced, sampled, untraced
 * and the SDK's ping-pongs, all alike), with the full GC before the warm-up instead of after it.
 * A traced round trip runs much more code than a plain one, some of it once per run of 128 or
 * 512 tasks, and after 3 000 round trips and a GC it was still far from its steady state: one
 * core, 5 000 timed after that took 42 µs each with everything on, against 30 µs over 20 000
 * (plain: 25 against 18; session 9), so the difference measured warm-up, not tracing.
 */
export const OTEL_RTT_WARMUP = 20_000;
/**
 * Round trips in free placement (no `--pin`) are measured on this many fresh pairs per round (a
 * new daemon, echo child, thread or pool each), and the round's figure is their median. Where
 * the OS puts a pair decides its round trip (20–30 µs on one CPU of these machines, 70–140 µs
 * across two), and a pair mostly stays where it was put: one pair per round was one draw of
 * that lottery, and a comparison of two such draws flipped from round to round (session 9:
 * ten fresh pairs each gave ours 31–107 µs and the raw ping-pong 47–103, medians 97 and 93).
 */
export const FREE_DRAWS = 5;
/** Body bytes of the raw ping-pong message (plus a 4-byte length prefix). */
export const RTT_LIMIT_BODY_BYTES = 32;

/**
 * Trivial tasks per throughput round, and the warm-up batch before it: a whole batch, so the
 * timed one runs optimised code on both sides (after 1 000, the next 20 000 ran at a third of
 * the speed of the 20 000 after them). The full GC of a round runs before the warm-up, not
 * between it and the timed batch: right after a full GC, a batch of 20 000 prefetched tasks
 * ran 20-30% slower than the batches after it (with a pause after the GC too; not the young
 * generation's size), so a GC just before timing measured the GC's aftermath, not a pool
 * that has been running. Every throughput figure and its limit or peer do the same.
 */
export const TPS_COUNT = 20_000;
export const TPS_WARMUP = 20_000;

/**
 * Items of the map benchmarks, and the warm-up map before them: a whole map, as for round trips
 * and throughput. After 500 items, the first map of 10 000 still ran in V8's lower tiers (its
 * optimising compiler shares 2 cores with the host and 2 daemons): 2.5x the host's user CPU of
 * the maps after it, and twice their time.
 */
export const MAP_ITEMS = 10_000;
export const MAP_WARMUP = 10_000;

/** Float64 elements of the payload benchmark: 12.5 M × 8 bytes = 100 MB. */
export const PAYLOAD_ELEMENTS = 12_500_000;

/**
 * Moves before the timed 100 MB moves to a thread (both sides), and their size: 512 KiB, above
 * the thread transport's 64 KiB threshold for moving instead of copying, so they take the 100 MB
 * path. As for round trips: after one warm-up task, a fresh thread's first 100 MB moves ran part
 * of its code in V8's lower tiers (13% slower than after 2 000 moves, against 3% for piscina's
 * shorter path, both run with `--single-threaded-gc`, where moves are steady; session 17), so
 * the figure measured warm-up, not a pool that has been running. The first moves are still
 * reported, beside the warm ones.
 */
export const PAYLOAD_WARMUP = 2_000;
export const PAYLOAD_WARMUP_ELEMENTS = 65_536;

/** Idle time before reading resident memory. */
export const RSS_IDLE_MS = 1_000;

/** CPU benchmark: tasks, their target duration on the host, and daemons. */
export const CPU_TASKS = 8;
export const CPU_TASK_MS = 500;

/** Cancellation: how long to wait for the next task before giving up (reports null). */
export const CANCEL_CAP_MS = 5_000;

/**
 * The scale figures (`scale` and its raw limit `scale_limit`): connected daemons (or raw echo
 * connections), few and many, and the trivial tasks (messages) timed with each, after a warm-up
 * batch of TPS_WARMUP.
 */
export const SCALE_SMALL = 10;
export const SCALE_LARGE = 10_000;
export const SCALE_TASKS = 20_000;
