/**
 * Mutation fuzzing of one serializer's decoder, run in its own process (the parent gives it
 * --max-old-space-size so an allocation a forged length dictates ends this process, not the
 * test runner).
 *
 * argv[2]: a JSON file { plugin (file URL of a built plugin entry), exportName, options,
 * payloads (arrays of base64 segments from encodePayload), iterations, seed, rssLimitMb }.
 * Case i mutates payload i % payloads.length with a PRNG seeded by seed + i, so any case
 * reproduces alone. Each mutated payload goes through core's decodePayload: it must return a
 * value or throw a MiraiError. Prints one JSON report line; exit 3 if RSS passed the limit.
 */
import { readFileSync } from 'node:fs';
import { isMiraiError } from '@mirai-ts/core';
import { decodePayload } from '@mirai-ts/core/plugin';

const spec = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const serializer = (await import(spec.plugin))[spec.exportName](spec.options ?? {});
const payloads = spec.payloads.map((p) => p.map((b) => new Uint8Array(Buffer.from(b, 'base64'))));

/** mulberry32: small, fast, good enough to pick mutations. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const INT32S = [0x7fffffff, -1, -2147483648, 0x7ffffff8, 0x10000000, 65536, 0];
const INT64S = [2n ** 63n - 1n, -1n, 2n ** 40n, 2n ** 31n - 1n, 2n ** 32n, 0n];
const BYTES = [0xff, 0x7f, 0x00, 0x80, 0x01];

/** One mutation of `segments` (plugin segments only: index 2 onwards); returns its description. */
function mutate(segments, rng) {
  const pick = (list) => list[Math.floor(rng() * list.length)];
  const int = (n) => Math.floor(rng() * n);
  // A segment chosen by size, so the IPC bytes are hit far more often than a 1-byte kind tag.
  const plugin = segments.map((s, i) => ({ s, i })).slice(2);
  const total = plugin.reduce((n, p) => n + p.s.byteLength, 0);
  let at = int(Math.max(total, 1));
  let target = plugin[plugin.length - 1];
  for (const p of plugin) {
    if (at < p.s.byteLength) {
      target = p;
      break;
    }
    at -= p.s.byteLength;
  }
  let seg = new Uint8Array(target.s); // a copy: the valid payload stays intact
  const dv = () => new DataView(seg.buffer, seg.byteOffset, seg.byteLength);
  const pos = (size) => (seg.byteLength < size ? -1 : rng() < 0.5 ? int(seg.byteLength - size + 1) & ~(size - 1) : int(seg.byteLength - size + 1));
  const op = pick(['flip', 'set', 'int32', 'int32', 'int64', 'truncate', 'extend', 'splice']);
  let p;
  switch (op) {
    case 'flip':
      if (seg.byteLength > 0) seg[(p = int(seg.byteLength))] ^= 1 << int(8);
      break;
    case 'set':
      if (seg.byteLength > 0) seg[(p = int(seg.byteLength))] = rng() < 0.8 ? pick(BYTES) : int(256);
      break;
    case 'int32':
      if ((p = pos(4)) >= 0) dv().setInt32(p, rng() < 0.8 ? pick(INT32S) : int(2 ** 32) | 0, true);
      break;
    case 'int64':
      if ((p = pos(8)) >= 0) dv().setBigInt64(p, pick(INT64S), true);
      break;
    case 'truncate':
      seg = seg.slice(0, (p = int(seg.byteLength + 1)));
      break;
    case 'extend': {
      const extra = new Uint8Array(1 + int(64)).map(() => (rng() < 0.5 ? 0 : int(256)));
      const out = new Uint8Array(seg.byteLength + extra.byteLength);
      out.set(seg);
      out.set(extra, seg.byteLength);
      seg = out;
      p = extra.byteLength;
      break;
    }
    case 'splice': {
      const from = int(seg.byteLength + 1);
      const len = int(Math.min(32, seg.byteLength - from + 1));
      seg.copyWithin((p = int(seg.byteLength + 1)), from, from + len);
      break;
    }
  }
  segments[target.i] = seg;
  return `${op}@${target.i}:${p}`;
}

const report = { iterations: spec.iterations, decoded: 0, rejected: 0, touchErrors: 0, escapes: [], maxRssMb: 0 };
const rssLimit = spec.rssLimitMb * 1024 * 1024;
for (let i = 0; i < spec.iterations; i++) {
  const rng = prng(spec.seed + i);
  const segments = [...payloads[i % payloads.length]];
  const steps = [mutate(segments, rng)];
  while (rng() < 0.3 && steps.length < 4) steps.push(mutate(segments, rng));
  let value;
  if (process.env.MIRAI_FUZZ_TRACE) process.stderr.write(`case ${i} ${steps.join(' ')}\n`);
  try {
    value = decodePayload(segments, 0, [serializer]);
    if (value instanceof Promise) value = await value;
    report.decoded++;
  } catch (err) {
    if (isMiraiError(err)) report.rejected++;
    else if (report.escapes.length < 20) report.escapes.push({ case: i, seed: spec.seed + i, steps, error: String(err?.stack ?? err) });
    continue;
  }
  // Use what decoded, as a host's caller would: a lie that passed decoding must not crash here either.
  try {
    if (serializer.rows !== undefined) {
      let n = 0;
      for (const _ of serializer.rows(value)) if (++n > 10_000) break;
    }
  } catch {
    report.touchErrors++;
  }
  if (i % 64 === 0) {
    const rss = process.memoryUsage().rss;
    report.maxRssMb = Math.max(report.maxRssMb, Math.round(rss / 2 ** 20));
    if (rss > rssLimit) {
      report.overLimitAt = { case: i, seed: spec.seed + i, steps };
      process.stdout.write(`${JSON.stringify(report)}\n`);
      process.exit(3);
    }
  }
}
report.maxRssMb = Math.max(report.maxRssMb, Math.round(process.memoryUsage().rss / 2 ** 20));
// After all that garbage the decoder still works: nothing it keeps (caches, locks) was poisoned.
report.intactAfter = 0;
for (const payload of payloads) {
  try {
    let value = decodePayload(payload, 0, [serializer]);
    if (value instanceof Promise) value = await value;
    report.intactAfter++;
  } catch (err) {
    report.escapes.push({ case: 'valid payload after fuzzing', error: String(err?.stack ?? err) });
  }
}
process.stdout.write(`${JSON.stringify(report)}\n`);
