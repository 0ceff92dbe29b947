/**
 * Serializer plugin benchmarks (issue 4): an Arrow Table and a Polars DataFrame of 1 million
 * rows × 4 columns (int32, float64, string, nullable float64), and a 100 MB float32 ONNX
 * tensor, each sent to a daemon and back: `await mirai(({ v }) => v, { v })`, 1 daemon.
 *
 * Each has its raw limit: the plugin's own bytes over a raw Unix socket and back. The host
 * encodes with the plugin, sends the segments (length-prefixed, gather-written, no copy),
 * an echo child decodes and re-encodes them with the plugin, and the host decodes the reply:
 * the same serialization work as the mirai round trip, without mirai around it.
 *
 * Group file for run.mjs (see its contract): `benchmarks` and `cleanup`. Also runnable on
 * its own: `node bench/serializers.mjs [--rounds n]` prints one JSON line of medians, and
 * `runSerializerBenchmarks({ rounds })` does the same for any other harness.
 * Imports the built packages (core and plugin dist): build them first.
 */
import { daemons, mirai, status } from '@mirai-ts/core';
import { FrameReader } from './lib/framing.mjs';
import { gc, killEverything, listenUnix, median, now, spawnNode, stopChild, trackPid } from './lib/harness.mjs';
import { pluginSerializer, readMessages, writeMessage } from './lib/segments.mjs';

const ECHO = new URL('./children/serializer-echo.mjs', import.meta.url).pathname;
const PROFILE = 'bench-serializers';

/** Rows of the table benchmarks, and float32 elements of the tensor one (100 MB). */
export const TABLE_ROWS = 1_000_000;
export const TENSOR_ELEMENTS = 25_000_000;

// ---------------------------------------------------------------- the values, made once per run

async function arrowTable(ctx) {
  if (ctx.shared.arrowTable) return ctx.shared.arrowTable;
  const { Float64, Table, Utf8, vectorFromArray } = await import('apache-arrow');
  const n = TABLE_ROWS;
  ctx.shared.arrowTable = new Table({
    id: vectorFromArray(Int32Array.from({ length: n }, (_, i) => i)),
    x: vectorFromArray(Float64Array.from({ length: n }, (_, i) => i / 7)),
    name: vectorFromArray(Array.from({ length: n }, (_, i) => `name-${i % 5000}`), new Utf8()),
    maybe: vectorFromArray(Array.from({ length: n }, (_, i) => (i % 3 === 0 ? null : i * 0.5)), new Float64()),
  });
  return ctx.shared.arrowTable;
}

async function polarsFrame(ctx) {
  if (ctx.shared.polarsFrame) return ctx.shared.polarsFrame;
  const { default: pl } = await import('nodejs-polars');
  const n = TABLE_ROWS;
  ctx.shared.polarsFrame = pl.DataFrame({
    id: Int32Array.from({ length: n }, (_, i) => i),
    x: Float64Array.from({ length: n }, (_, i) => i / 7),
    name: Array.from({ length: n }, (_, i) => `name-${i % 5000}`),
    maybe: Array.from({ length: n }, (_, i) => (i % 3 === 0 ? null : i * 0.5)),
  });
  return ctx.shared.polarsFrame;
}

async function tensor(ctx) {
  if (ctx.shared.tensor) return ctx.shared.tensor;
  const { default: ort } = await import('onnxruntime-node');
  const data = new Float32Array(TENSOR_ELEMENTS);
  for (let i = 0; i < data.length; i++) data[i] = i % 1024;
  ctx.shared.tensor = new ort.Tensor('float32', data, [5_000, 5_000]);
  return ctx.shared.tensor;
}

/** Throws unless `back` is the value that was sent (cheap checks, not a full compare). */
const checks = {
  arrow(sent, back) {
    if (back?.numRows !== sent.numRows || back.numCols !== 4) throw new Error('arrow: wrong table came back');
    const i = 777_777;
    if (JSON.stringify(back.get(i).toJSON()) !== JSON.stringify(sent.get(i).toJSON())) throw new Error('arrow: row differs');
  },
  polars(sent, back) {
    if (back?.height !== sent.height || back.width !== 4) throw new Error('polars: wrong frame came back');
    if (JSON.stringify(back.row(777_777)) !== JSON.stringify(sent.row(777_777))) throw new Error('polars: row differs');
  },
  onnx(sent, back) {
    if (back?.size !== sent.size || back.type !== 'float32') throw new Error('onnx: wrong tensor came back');
    if (back.data[12_345_678] !== sent.data[12_345_678]) throw new Error('onnx: data differs');
  },
};

// ---------------------------------------------------------------- ours and the limit

/** `await mirai(({ v }) => v, { v })` on 1 daemon of a profile with the plugin. */
async function throughDaemon(plugin, value) {
  const serializer = await pluginSerializer(plugin);
  try {
    await daemons(1, { profile: PROFILE, serializers: [serializer] });
    for (const d of status(PROFILE)?.daemons ?? []) trackPid(d.pid);
    await mirai(({ v }) => v, { v: 1 }, { profile: PROFILE }); // warm-up: task path and socket
    // Load the plugin's library on the daemon before timing (as the echo child has).
    const library = { arrow: 'apache-arrow', polars: 'nodejs-polars', onnx: 'onnxruntime-node' }[plugin];
    await mirai(async ({ library }) => void (await import(library)), { library }, { profile: PROFILE });
    gc();
    const t0 = now();
    const back = await mirai(({ v }) => v, { v: value }, { profile: PROFILE, timeout: 120_000 });
    const seconds = (now() - t0) / 1000;
    checks[plugin](value, back);
    return seconds;
  } finally {
    await daemons(0, { profile: PROFILE });
  }
}

/** Encode → raw Unix socket → echo child (decode, encode) → back → decode. */
async function rawLimit(plugin, value) {
  const serializer = await pluginSerializer(plugin);
  const server = await listenUnix();
  const child = spawnNode(ECHO, [server.path, plugin]);
  try {
    const socket = await server.connection();
    let onMessage = () => {};
    const reader = new FrameReader(readMessages((segments) => onMessage(segments)));
    socket.on('data', (chunk) => reader.push(chunk));
    const roundTrip = async (v) => {
      const reply = new Promise((resolve) => (onMessage = resolve));
      writeMessage(socket, await serializer.encode(v));
      return serializer.decode(await reply);
    };
    await roundTrip(small[plugin] ? await small[plugin]() : value); // warm-up: the child's import and the socket
    gc();
    const t0 = now();
    const back = await roundTrip(value);
    const seconds = (now() - t0) / 1000;
    checks[plugin](value, back);
    return seconds;
  } finally {
    await server.close();
    await stopChild(child);
  }
}

/** Small values of each kind, for warm-ups. */
const small = {
  async arrow() {
    const { Table, vectorFromArray } = await import('apache-arrow');
    return new Table({ a: vectorFromArray(Int32Array.of(1)) });
  },
  async polars() {
    const { default: pl } = await import('nodejs-polars');
    return pl.DataFrame({ a: [1] });
  },
  async onnx() {
    const { default: ort } = await import('onnxruntime-node');
    return new ort.Tensor('float32', Float32Array.of(1), [1]);
  },
};

const make = { arrow: arrowTable, polars: polarsFrame, onnx: tensor };

function pair(plugin, metric, description) {
  return [
    {
      name: metric,
      metrics: { [`${metric}_s`]: 's' },
      limit: `${metric}_limit`,
      description,
      capMs: 180_000,
      run: async (ctx) => ({ [`${metric}_s`]: await throughDaemon(plugin, await make[plugin](ctx)) }),
    },
    {
      name: `${metric}_limit`,
      metrics: { [`${metric}_limit_s`]: 's' },
      description: `raw limit of ${metric}: the plugin's segments over a Unix socket to an echo child (decode, encode) and back`,
      capMs: 180_000,
      run: async (ctx) => ({ [`${metric}_limit_s`]: await rawLimit(plugin, await make[plugin](ctx)) }),
    },
  ];
}

/** The run.mjs group: three benchmarks, each with its raw limit. */
export const benchmarks = [
  ...pair('arrow', 'arrow1m', 'round trip of a 1M-row × 4-column Arrow Table through a daemon (arrowSerializer)'),
  ...pair('polars', 'polars1m', 'round trip of a 1M-row × 4-column Polars DataFrame through a daemon (polarsSerializer)'),
  ...pair('onnx', 'tensor100mb', 'round trip of a 100 MB float32 ort.Tensor through a daemon (onnxSerializer)'),
];

/** Resets the benchmark profile after a failed or capped round. */
export async function cleanup() {
  await daemons(0, { profile: PROFILE });
}

/** Targets of issue 4, in the form targets.mjs uses. */
export const serializerTargets = {
  arrow1m_s: { limit: 'arrow1m_limit_s', max: 1.5 },
  polars1m_s: { limit: 'polars1m_limit_s', max: 1.5 },
  tensor100mb_s: { limit: 'tensor100mb_limit_s', max: 1.5 },
};

/**
 * Runs every serializer benchmark `rounds` times, each beside its limit (swapping order
 * every round), and resolves with the medians: `{ arrow1m_s, arrow1m_limit_s, ... }`,
 * plus `rounds` (per-round figures) for the record.
 */
export async function runSerializerBenchmarks({ rounds = 3, log = () => {} } = {}) {
  const ctx = { shared: {}, note: () => {}, log, pinHost: () => {}, pinPeer: () => {} };
  const perRound = {};
  const byName = new Map(benchmarks.map((b) => [b.name, b]));
  for (const bench of benchmarks.filter((b) => b.limit)) {
    const limit = byName.get(bench.limit);
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? [bench, limit] : [limit, bench];
      for (const b of order) {
        const figures = await b.run({ ...ctx, round, rounds });
        for (const [k, v] of Object.entries(figures)) (perRound[k] ??= []).push(v);
        log(`${b.name} round ${round + 1}: ${JSON.stringify(figures)}`);
      }
    }
  }
  const medians = Object.fromEntries(Object.entries(perRound).map(([k, v]) => [k, median(v)]));
  return { ...medians, rounds: perRound };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const i = process.argv.indexOf('--rounds');
  const rounds = i > 0 ? Number(process.argv[i + 1]) : 3;
  try {
    const out = await runSerializerBenchmarks({ rounds, log: (line) => process.stderr.write(`${line}\n`) });
    process.stdout.write(`${JSON.stringify(out)}\n`);
  } finally {
    await killEverything();
  }
}
