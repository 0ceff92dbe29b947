/**
 * Random streams, shared by host and daemon. The generator is xoroshiro128+ from `pure-rand`
 * (period 2^128 − 1). A profile's streams are the generator's sequence cut by `jump()`, which
 * moves it 2^64 steps: stream k starts 2^64·k steps after stream 0, so no stream overlaps the
 * next unless a task draws 2^64 numbers. A stream travels as its 128-bit state (4 int32):
 * in a seeded task's frame (one stream per task, by submission order), or in a daemon's Init
 * (one stream per daemon, for tasks without a seed).
 */
import { nodeCrypto } from './node-crypto.js';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plusFromState } from 'pure-rand/generator/xoroshiro128plus';

/** A stream's starting point: the generator's state, four signed 32-bit words. */
export type StreamState = readonly [number, number, number, number];

/**
 * The first stream of a profile. From a seed: the seed's SHA-256, so seeds 1 and 2 give
 * unrelated states (xoroshiro's own 32-bit seeding would give nearly equal ones). Without: 128
 * random bits.
 */
export function firstStream(seed?: number): StreamState {
  const crypto = nodeCrypto();
  const bytes = seed === undefined ? crypto.randomBytes(16) : crypto.createHash('sha256').update(`mirai-ts seed ${seed}`).digest();
  const view = new DataView(bytes.buffer, bytes.byteOffset, 16);
  const state: [number, number, number, number] = [view.getInt32(0, true), view.getInt32(4, true), view.getInt32(8, true), view.getInt32(12, true)];
  if (state.every((w) => w === 0)) state[3] = 1; // the all-zero state is the generator's only fixed point
  return state;
}

/** Hands out consecutive streams: each call returns the current one and jumps 2^64 steps. */
export class StreamSequence {
  private readonly rng;
  constructor(first: StreamState) {
    this.rng = xoroshiro128plusFromState(first);
  }

  next(): StreamState {
    const state = this.rng.getState() as unknown as StreamState;
    this.rng.jump();
    return state;
  }
}

/** A stream's state as a frame segment (16 bytes, little-endian). */
export function streamSegment(state: StreamState): Uint8Array {
  const out = new Uint8Array(16);
  const view = new DataView(out.buffer);
  for (let i = 0; i < 4; i++) view.setInt32(4 * i, state[i]!, true);
  return out;
}

/** Reads {@link streamSegment}. */
export function readStreamSegment(segment: Uint8Array | undefined): StreamState | undefined {
  if (segment === undefined || segment.byteLength !== 16) return undefined;
  const view = new DataView(segment.buffer, segment.byteOffset, 16);
  return [view.getInt32(0, true), view.getInt32(4, true), view.getInt32(8, true), view.getInt32(12, true)];
}

const TWO_POW_27 = 134_217_728;
const TWO_POW_53 = 9_007_199_254_740_992;

/** Draws from one stream: what a task's `context.random*()` and, with a seed, `Math.random` use. */
export class RandomStream {
  private readonly rng;
  constructor(state: StreamState) {
    this.rng = xoroshiro128plusFromState(state);
  }

  /**
   * A double in [0, 1) with 53 random bits. Built from the high bits of two outputs: the
   * lowest bits of xoroshiro128+ are its weakest (bit 0 is a linear recurrence), and
   * pure-rand's `uniformFloat64` keeps them.
   */
  random(): number {
    const high = this.rng.next() >>> 6; // 26 bits
    const low = this.rng.next() >>> 5; // 27 bits
    return (high * TWO_POW_27 + low) / TWO_POW_53;
  }

  /** A whole number between `min` and `max`, both included, every one equally likely. */
  randomInt(min: number, max: number): number {
    if (!Number.isSafeInteger(min) || !Number.isSafeInteger(max) || min > max) {
      throw new RangeError(`randomInt(min, max) needs whole numbers with min ≤ max, got ${String(min)}, ${String(max)}`);
    }
    return uniformInt(this.rng, min, max);
  }

  /** A normally distributed number (Box-Muller), mean 0 and standard deviation 1 unless given. */
  randomNormal(mean = 0, sd = 1): number {
    const u = 1 - this.random(); // (0, 1]: log(0) is never taken
    const v = this.random();
    return mean + sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
}
