/**
 * A daemon that passed the handshake and then lies. It answers tasks with mutated Arrow and
 * Polars payloads, or with malformed error records; a normal daemon serves the same profile.
 * Every mirai must settle (a value or a typed error for that one task), the host must live on,
 * and the normal daemon must keep returning correct results.
 */
import { randomBytes } from 'node:crypto';
import { Float64, Table, Utf8, vectorFromArray } from 'apache-arrow';
import pl from 'nodejs-polars';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { daemons, isMiraiError, mirai, MiraiError, status, type Serializer } from '@mirai-ts/core';
import { DEFAULT_LIMITS, daemonHandshake, encodePayload, frame, FrameFlag, FrameType, tcpTransport, type Frame } from '@mirai-ts/core/plugin';
import { arrowSerializer } from '@mirai-ts/serializer-arrow';
import { polarsSerializer } from '@mirai-ts/serializer-polars';
import { waitFor } from '../helpers/wait.js';

const secret = randomBytes(32).toString('hex');
const serializers: Serializer[] = [arrowSerializer() as Serializer, polarsSerializer() as Serializer];
const TASKS = Number(process.env.MIRAI_CHAOS_LONG === '1' ? 5000 : 300);

function value(): { t: Table; df: pl.DataFrame } {
  const t = new Table({
    id: vectorFromArray(Int32Array.from({ length: 64 }, (_, i) => i)),
    name: vectorFromArray(Array.from({ length: 64 }, (_, i) => (i % 4 ? `row ${i}` : null)), new Utf8()),
    w: vectorFromArray(Array.from({ length: 64 }, (_, i) => i / 2), new Float64()),
  });
  return { t, df: pl.DataFrame({ city: ['Oslo', 'Lima', null], temp: [3, 19, 5] }) };
}

/** A result is correct when both the table and the frame came back intact. */
function correct(v: unknown): boolean {
  const { t, df } = v as { t: Table; df: pl.DataFrame };
  const want = value();
  return (
    t instanceof Table &&
    JSON.stringify(t.toArray()) === JSON.stringify(want.t.toArray()) &&
    pl.DataFrame.isDataFrame(df) &&
    df.frameEqual(want.df, true)
  );
}

/** mulberry32. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** 1–4 byte-level lies in the plugin segments (index 2 on) of a valid payload. */
function mutated(valid: readonly Uint8Array[], seed: number): Uint8Array[] {
  const rng = prng(seed);
  const out = valid.map((s) => new Uint8Array(s));
  const steps = 1 + Math.floor(rng() * 4);
  for (let k = 0; k < steps; k++) {
    const i = 2 + Math.floor(rng() * (out.length - 2));
    const seg = out[i]!;
    if (seg.byteLength < 8) continue;
    const at = Math.floor(rng() * (seg.byteLength - 8));
    const dv = new DataView(seg.buffer, seg.byteOffset, seg.byteLength);
    const r = rng();
    if (r < 0.35) seg[at] = seg[at]! ^ (1 << Math.floor(rng() * 8));
    else if (r < 0.55) seg[at] = rng() < 0.5 ? 0xff : 0x7f;
    else if (r < 0.8) dv.setInt32(at & ~3, rng() < 0.5 ? 0x7fffffff : -1, true);
    else if (r < 0.9) dv.setBigInt64(at & ~7, 2n ** 62n, true);
    else out[i] = seg.subarray(0, at);
  }
  return out;
}

interface Liar {
  readonly answered: number;
  close(): void;
}

/** Dials the profile, proves the secret, and answers every task with `answer(n)`. */
async function liar(url: string, answer: (n: number) => { segments: Uint8Array[]; flags: number }): Promise<Liar> {
  const channel = await tcpTransport.dial(url, { limits: DEFAULT_LIMITS });
  const { held } = await daemonHandshake(channel, secret);
  let answered = 0;
  const onFrame = (f: Frame): void => {
    if (f.type !== FrameType.Task) return;
    const { segments, flags } = answer(answered++);
    channel.send(frame(FrameType.Result, f.id, segments, flags));
  };
  channel.onFrame = onFrame;
  held.forEach(onFrame);
  return {
    get answered() {
      return answered;
    },
    close: () => channel.close(),
  };
}

/** Settles `p` or reports 'pending' after `ms`. */
async function settle(p: Promise<unknown>, ms: number): Promise<{ ok: true; value: unknown } | { ok: false; error: unknown } | 'pending'> {
  let timer: NodeJS.Timeout | undefined;
  const pending = new Promise<'pending'>((resolve) => (timer = setTimeout(() => resolve('pending'), ms)));
  try {
    return await Promise.race([p.then((v) => ({ ok: true as const, value: v }), (e: unknown) => ({ ok: false as const, error: e })), pending]);
  } finally {
    clearTimeout(timer);
  }
}

describe('a daemon that passed the handshake and sends lies', () => {
  const PROFILE = 'hostile-results';
  let url = '';
  beforeAll(async () => {
    const pool = await daemons(1, { profile: PROFILE, url: 'tcp://127.0.0.1:0', secret, serializers });
    url = pool.url;
  }, 60_000);
  afterAll(async () => {
    await daemons(0, { profile: PROFILE });
  });

  it(`costs each mutated Arrow/Polars result its own task only (${TASKS} tasks)`, async () => {
    const valid = (await encodePayload(value(), serializers, 'result')) as Uint8Array[];
    const bad = await liar(url, (n) => ({ segments: mutated(valid, 0xbad + n), flags: 0 }));
    const args = value();
    const outcomes = await Promise.all(
      Array.from({ length: TASKS }, () => settle(mirai(({ t, df }) => ({ t, df }), { t: args.t, df: args.df }, { profile: PROFILE }), 60_000)),
    );
    bad.close();
    // Until the host has seen the liar go, it may still hand it a task (which then resets).
    expect(await waitFor(() => status(PROFILE)?.connections === 1)).toBe(true);
    expect(outcomes.filter((o) => o === 'pending')).toEqual([]);
    const settled = outcomes as Exclude<(typeof outcomes)[number], 'pending'>[];
    const notTyped = settled.filter((o) => !o.ok && !isMiraiError(o.error));
    expect(notTyped).toEqual([]);
    const rightValues = settled.filter((o) => o.ok && correct(o.value)).length;
    const deserialize = settled.filter((o) => !o.ok && (o.error as MiraiError).kind === 'deserialize').length;
    // The liar took part, most of its lies were caught, and every task it did not take was right.
    expect(bad.answered).toBeGreaterThan(TASKS / 10);
    expect(deserialize).toBeGreaterThan(bad.answered / 4);
    expect(rightValues).toBeGreaterThanOrEqual(TASKS - bad.answered);
    // The host lives on and the honest daemon still serves correct results.
    const after = await Promise.all(Array.from({ length: 10 }, () => mirai(({ t, df }) => ({ t, df }), { t: args.t, df: args.df }, { profile: PROFILE })));
    expect(after.every(correct)).toBe(true);
  }, TASKS * 100 + 60_000);
});

describe('malformed error records from a daemon that passed the handshake', () => {
  const PROFILE = 'hostile-errors';
  let url = '';
  beforeAll(async () => {
    // Listen only: the liar is the profile's one daemon, so it gets every task.
    const pool = await daemons({ profile: PROFILE, url: 'tcp://127.0.0.1:0', secret, serializers });
    url = pool.url;
  }, 60_000);
  afterAll(async () => {
    await daemons(0, { profile: PROFILE });
  });

  const record = (extra: object): Record<string, unknown> => ({ name: 'Error', message: 'lie', stack: 'Error: lie', classes: ['Error'], props: {}, ...extra });
  const cycle = record({});
  cycle.cause = cycle;
  const protoProps = JSON.parse('{"__proto__": {"polluted": true}, "code": "E_LIE"}') as object;

  /** Sends `payload` as the error record of one task; returns how the task settled. */
  async function answerWith(payload: unknown): Promise<Awaited<ReturnType<typeof settle>>> {
    const segments = (await encodePayload(payload, [], 'error')) as Uint8Array[];
    const bad = await liar(url, () => ({ segments, flags: FrameFlag.Error }));
    try {
      return await settle(mirai(() => 1, {}, { profile: PROFILE }), 5_000);
    } finally {
      bad.close();
    }
  }

  const typed = (o: Awaited<ReturnType<typeof settle>>): MiraiError => {
    expect(o).not.toBe('pending');
    expect(o !== 'pending' && o.ok).toBe(false);
    const error = (o as { error: unknown }).error;
    expect(isMiraiError(error)).toBe(true);
    return error as MiraiError;
  };

  it('settles a task whose error record is null', async () => {
    typed(await answerWith(null));
  });

  it('settles a task whose error record has props: null', async () => {
    typed(await answerWith(record({ props: null })));
  });

  it('settles a task whose error record is its own cause', async () => {
    typed(await answerWith(cycle));
  });

  it('keeps the error class when props carry __proto__', async () => {
    const error = typed(await answerWith(record({ props: protoProps })));
    expect(error).toBeInstanceOf(MiraiError);
    expect((error as unknown as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('does not let a forged kind pass for a host-side outcome', async () => {
    const error = typed(await answerWith(record({ miraiKind: 'timeout' })));
    // A timeout the host did not measure has no errorValue: it must not claim the kind.
    expect(error.kind === 'timeout' && error.errorValue === undefined).toBe(false);
  });
});

describe('a daemon that ignores maxResultBytes', () => {
  const PROFILE = 'hostile-sizes';
  const LIMIT = 100_000;
  let url = '';
  beforeAll(async () => {
    const pool = await daemons(1, { profile: PROFILE, url: 'tcp://127.0.0.1:0', secret, maxResultBytes: LIMIT });
    url = pool.url;
  }, 60_000);
  afterAll(async () => {
    await daemons(0, { profile: PROFILE });
  });

  it('costs each result over the limit its own task, stays connected, and the host keeps none of it', async () => {
    // Every other answer is 1-3 MB (sent in full: this daemon does not check), the rest small
    // and right; an honest daemon serves the same profile, and checks the limit before sending.
    const sizes: number[] = [];
    const big = (n: number): number => 1_000_000 + ((n * 7919) % 2_000_000);
    const bad = await liar(url, (n) => {
      const value = n % 2 === 0 ? new Uint8Array(big(n)).fill(n & 0xff) : 'small';
      const segments = encodePayload(value, [], 'result') as Uint8Array[];
      sizes.push(segments.reduce((s, b) => s + b.byteLength, 0));
      return { segments, flags: 0 };
    });
    const outcomes = await Promise.all(
      Array.from({ length: 60 }, (_, i) => settle(mirai(({ i }: { i: number }) => (i % 3 === 0 ? new Float64Array(20_000) : 'small'), { i }, { profile: PROFILE }), 30_000)),
    );
    expect(outcomes.filter((o) => o === 'pending')).toEqual([]);
    const settled = outcomes as Exclude<(typeof outcomes)[number], 'pending'>[];
    const tooLarge = settled.filter((o) => !o.ok).map((o) => (o as { error: MiraiError }).error);
    expect(tooLarge.every((e) => e.kind === 'result-too-large' && (e as unknown as { limit: number }).limit === LIMIT)).toBe(true);
    // The liar's oversized answers failed as read past by the host ("not read"), the honest
    // daemon's were never sent ("not sent"); every other task got its value.
    expect(bad.answered).toBeGreaterThan(4);
    const readPast = tooLarge.filter((e) => /it was not read$/.test(e.message));
    expect(readPast.length).toBe(Math.ceil(bad.answered / 2));
    expect(readPast.map((e) => (e as unknown as { bytes: number }).bytes).sort()).toEqual(sizes.filter((b) => b > LIMIT).sort());
    expect(tooLarge.filter((e) => /it was not sent$/.test(e.message)).length).toBe(tooLarge.length - readPast.length);
    expect(settled.filter((o) => o.ok).every((o) => (o as { value: unknown }).value === 'small')).toBe(true);
    // Both daemons are still connected: an oversized result is not a protocol violation.
    expect(status(PROFILE)!.connections).toBe(2);
    bad.close();
    expect(await waitFor(() => status(PROFILE)?.connections === 1)).toBe(true);
    expect(await mirai(() => 'served', {}, { profile: PROFILE })).toBe('served');
  }, 120_000);
});
