/** The 100 MB payload, made once per run and shared by the core benchmark and its limit. */
import { PAYLOAD_ELEMENTS } from '../params.mjs';

/** The run's 100 MB Float64Array (created on first use, kept in `ctx.shared`). */
export function payloadArray(ctx) {
  if (!ctx.shared.payload) {
    const x = new Float64Array(PAYLOAD_ELEMENTS);
    // Not constant, so nothing along the way can compress or special-case it.
    for (let i = 0; i < x.length; i++) x[i] = i * 1.000001 + 0.5;
    ctx.shared.payload = x;
  }
  return ctx.shared.payload;
}

/** Throws unless `y` is a copy of the Float64Array `x` (checked on a sample and the ends). */
export function checkPayload(x, y) {
  if (!(y instanceof Float64Array) || y.length !== x.length) throw new Error('payload came back with the wrong type or length');
  for (let i = 0; i < x.length; i += 99_991) if (!Object.is(x[i], y[i])) throw new Error(`payload differs at element ${i}`);
  if (!Object.is(x[x.length - 1], y[y.length - 1])) throw new Error('payload differs at its last element');
}
