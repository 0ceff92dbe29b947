/** The round-trip loop every latency benchmark of ours runs: warm up, collect, time. */
import { mirai } from '@mirai-ts/core';
import { gc, now } from './harness.mjs';
import * as P from '../params.mjs';

/**
 * Mean µs of `P.RTT_COUNT` sequential `await mirai(() => 1)` on the current profile, after
 * `warmup` of them; a full GC runs between the two, or before the warm-up with `gcFirst`.
 */
export async function miraiRoundTripUs({ warmup = P.RTT_WARMUP, gcFirst = false } = {}) {
  if (gcFirst) gc();
  for (let i = 0; i < warmup; i++) await mirai(() => 1);
  if (!gcFirst) gc();
  const t0 = now();
  let v;
  for (let i = 0; i < P.RTT_COUNT; i++) v = await mirai(() => 1);
  const us = ((now() - t0) * 1000) / P.RTT_COUNT;
  if (v !== 1) throw new Error('round trip returned the wrong value');
  return us;
}
