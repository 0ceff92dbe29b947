/**
 * Raw limits: what Node itself can do on this machine, measured in the same run as our
 * figures (run.mjs interleaves each with the core benchmark it bounds). No mirai code here:
 * plain Unix sockets, length-prefixed frames and bare child processes.
 *
 * Extension point: add a `{ name, metrics, run }` entry to `benchmarks` (see run.mjs for
 * the contract) and name it as the `limit` of the benchmark it bounds.
 */
import { deserialize, serialize } from 'node:v8';
import { readIntoSharedBuffer } from '@mirai-ts/core/plugin';
import { FrameReader, writeFrame } from './lib/framing.mjs';
import { gc, listenUnix, measureInTurn, now, spawnNode, stopChild } from './lib/harness.mjs';
import * as P from './params.mjs';
import { checkPayload, payloadArray } from './lib/payload.mjs';
import { calibratedIterations } from './lib/busy.mjs';

const ECHO = new URL('./children/echo.mjs', import.meta.url).pathname;
const DIAL = new URL('./children/dial.cjs', import.meta.url).pathname;
const BURN = new URL('./children/burn.mjs', import.meta.url).pathname;
const ECHO_MANY = new URL('./children/echo-many.mjs', import.meta.url).pathname;

/**
 * Starts `n` peer children on a fresh Unix socket (`spawnPeer(socketPath)` starts one, which
 * dials it) and runs `fn(peers)`, where each peer is `{ send(body), onFrame }` (assign `onFrame`
 * to receive replies) in length-prefixed frames. `sharedReads`: the host reads as mirai-ts does,
 * into the core's shared read buffer (small bodies only). With `ctx`, the host and the children
 * are pinned as `--pin` asks (no-op without it). Everything is closed and every child stopped
 * afterwards.
 */
export async function withPeers(n, spawnPeer, fn, ctx, sharedReads = false) {
  const server = await listenUnix();
  const children = Array.from({ length: n }, () => spawnPeer(server.path));
  try {
    if (ctx) {
      ctx.pinHost();
      for (const c of children) ctx.pinPeer(c.pid);
    }
    const peers = [];
    for (let i = 0; i < n; i++) {
      const socket = await server.connection();
      const peer = { onFrame: () => {}, send: (body) => writeFrame(socket, body) };
      const reader = new FrameReader((body) => peer.onFrame(body));
      const fast = sharedReads && readIntoSharedBuffer(socket, (buffer, bytes) => reader.push(buffer.subarray(0, bytes)));
      if (sharedReads && !fast) throw new Error('this Node cannot read an accepted socket into a shared buffer');
      if (!fast) socket.on('data', (chunk) => reader.push(chunk));
      peers.push(peer);
    }
    return await fn(peers);
  } finally {
    await server.close();
    await Promise.all(children.map((c) => stopChild(c)));
  }
}

/**
 * {@link withPeers} with `n` echo children (mode 'raw', 'v8' or 'raw-onread'). In 'raw-onread'
 * both ends read as mirai-ts does: the children through `onread`, the host into the core's
 * shared read buffer.
 */
function withEchoes(n, mode, fn, ctx) {
  return withPeers(n, (path) => spawnNode(ECHO, [path, mode]), fn, ctx, mode === 'raw-onread');
}

/**
 * `count` raw echo connections from one child (`children/echo-many.mjs`), each read by the host
 * into the core's shared read buffer as mirai-ts reads its daemons' connections; runs
 * `fn(peers)` (as {@link withPeers}) and closes them all after.
 */
async function withManyEchoes(count, fn) {
  const server = await listenUnix({ backlog: 4096 });
  const child = spawnNode(ECHO_MANY, [server.path, String(count)], { manyFds: true });
  // A child that dies while dialling ends the wait for its connections.
  const died = child.exited.then((code) => {
    throw new Error(`echo-many exited with code ${code}`);
  });
  died.catch(() => {});
  try {
    const peers = [];
    for (let i = 0; i < count; i++) {
      const socket = await Promise.race([server.connection(), died]);
      const peer = { onFrame: () => {}, send: (body) => writeFrame(socket, body) };
      const reader = new FrameReader((body) => peer.onFrame(body));
      if (!readIntoSharedBuffer(socket, (buffer, bytes) => reader.push(buffer.subarray(0, bytes)))) throw new Error('this Node cannot read an accepted socket into a shared buffer');
      peers.push(peer);
    }
    return await fn(peers);
  } finally {
    await server.close();
    await stopChild(child);
  }
}

/** Per-message µs of SCALE_TASKS messages over `count` raw echo connections, one in flight each. */
function rawDispatchUs(count) {
  return withManyEchoes(count, async (peers) => {
    const body = Buffer.alloc(P.RTT_LIMIT_BODY_BYTES, 7);
    gc(); // before the warm-up, not after: see TPS_WARMUP
    await pump(peers, P.TPS_WARMUP, body);
    const t0 = now();
    await pump(peers, P.SCALE_TASKS, body);
    return ((now() - t0) * 1000) / P.SCALE_TASKS;
  });
}

/** One request and its reply, as a promise (the same await per message as `await mirai()`). */
export function request(peer, body) {
  return new Promise((resolve) => {
    peer.onFrame = resolve;
    peer.send(body);
  });
}

/** Sends `total` messages over `peers`, one in flight per peer; resolves when all came back. */
function pump(peers, total, body) {
  return new Promise((resolve) => {
    let sent = 0;
    let received = 0;
    for (const peer of peers) {
      peer.onFrame = () => {
        if (++received === total) resolve();
        else if (sent < total) {
          sent++;
          peer.send(body);
        }
      };
    }
    for (const peer of peers) {
      if (sent < total) {
        sent++;
        peer.send(body);
      }
    }
  });
}

export const benchmarks = [
  {
    name: 'rtt_limit',
    metrics: { rtt_limit_us: 'µs', rtt_limit_onread_us: 'µs' },
    description: "raw ping-pong, 4-byte prefix + 32 bytes, Unix socket, echo child: through 'data' events, and reading as mirai-ts does",
    async run(ctx) {
      const body = Buffer.alloc(P.RTT_LIMIT_BODY_BYTES, 7);
      const pingPong = (mode) =>
        withEchoes(
          1,
          mode,
          async ([peer]) => {
            for (let i = 0; i < P.RTT_WARMUP; i++) await request(peer, body);
            gc();
            const t0 = now();
            for (let i = 0; i < P.RTT_COUNT; i++) await request(peer, body);
            return ((now() - t0) * 1000) / P.RTT_COUNT;
          },
          ctx,
        );
      // Node's public reads (the limit `rtt_us` is held to) and the reads mirai-ts itself uses
      // (a faster floor), in alternating order, each over as many fresh echo children as `rtt`.
      return measureInTurn(
        ctx,
        {
          rtt_limit_us: () => pingPong('raw'),
          rtt_limit_onread_us: () => pingPong('raw-onread'),
        },
        ctx.draws,
      );
    },
  },
  {
    name: 'tps_limit',
    metrics: { tps_limit: 'tasks/s' },
    description: 'raw messages, 2 echo children, one in flight each',
    run: () =>
      withEchoes(2, 'raw', async (peers) => {
        const body = Buffer.alloc(P.RTT_LIMIT_BODY_BYTES, 7);
        gc(); // before the warm-up, not after: see TPS_WARMUP
        await pump(peers, P.TPS_WARMUP, body);
        const t0 = now();
        await pump(peers, P.TPS_COUNT, body);
        return { tps_limit: (P.TPS_COUNT * 1000) / (now() - t0) };
      }),
  },
  {
    name: 'startup2_limit',
    metrics: { startup2_limit_s: 's' },
    description: 'spawn 2 bare node children until both connect back over a Unix socket',
    async run() {
      const server = await listenUnix();
      let children = [];
      try {
        gc();
        const t0 = now();
        children = [spawnNode(DIAL, [server.path]), spawnNode(DIAL, [server.path])];
        await server.connection();
        await server.connection();
        return { startup2_limit_s: (now() - t0) / 1000 };
      } finally {
        await server.close();
        await Promise.all(children.map((c) => stopChild(c)));
      }
    },
  },
  {
    name: 'payload100mb_limit',
    metrics: { payload100mb_limit_s: 's' },
    description: '100 MB Float64Array, v8.serialize → Unix socket → echo child (deserialize, serialize) → v8.deserialize',
    run: (ctx) =>
      withEchoes(1, 'v8', async ([peer]) => {
        const x = payloadArray(ctx);
        await request(peer, serialize(1)); // warm-up: child's v8 path and the socket
        gc();
        const t0 = now();
        const y = deserialize(await request(peer, serialize(x)));
        const seconds = (now() - t0) / 1000;
        checkPayload(x, y);
        return { payload100mb_limit_s: seconds };
      }),
  },
  {
    name: 'payload100mb_bytes_limit',
    metrics: { payload100mb_bytes_limit_s: 's' },
    description:
      "100 MB of raw bytes → Unix socket → echo child → back, into fresh buffers, no serialization: the floor for a result handed to its caller (anchors.md: 0.287 s; reusing one buffer, 0.106 s, is not open to us)",
    run: (ctx) =>
      withEchoes(1, 'raw', async ([peer]) => {
        const x = payloadArray(ctx);
        const bytes = new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
        await request(peer, new Uint8Array(8)); // warm-up
        gc();
        const t0 = now();
        const back = await request(peer, bytes);
        const seconds = (now() - t0) / 1000;
        checkPayload(x, new Float64Array(back.buffer.slice(back.byteOffset, back.byteOffset + back.byteLength)));
        return { payload100mb_bytes_limit_s: seconds };
      }),
  },
  {
    name: 'cpu8x500_limit',
    metrics: { cpu8x500_limit_s: 's' },
    description:
      'the CPU work of cpu8x500 in 2 bare node children (each runs the same loop CPU_TASKS / 2 times in a row), wall time: what the machine gives two busy processes at once (on a VM whose vCPUs slow down when both are busy, more than CPU_TASKS / 2 × CPU_TASK_MS)',
    run: (ctx) => {
      const n = calibratedIterations(ctx);
      const job = (count, iterations) => Buffer.from(JSON.stringify({ n: iterations, count }));
      return withPeers(2, (path) => spawnNode(BURN, [path]), async (peers) => {
        // Both children compile the loop before the clock starts, as the daemons do.
        await Promise.all(peers.map((peer) => request(peer, job(1, 1e5))));
        gc();
        const t0 = now();
        await Promise.all(peers.map((peer) => request(peer, job(P.CPU_TASKS / 2, n))));
        return { cpu8x500_limit_s: (now() - t0) / 1000 };
      });
    },
  },
  {
    name: 'scale_limit',
    metrics: { dispatch_10_limit_us: 'µs', dispatch_10k_limit_us: 'µs' },
    derived: {
      dispatch_10k_scaling_limit: { unit: '×', of: ['dispatch_10k_limit_us', 'dispatch_10_limit_us'], compute: (many, few) => many / few },
      dispatch_10k_added_limit_us: { unit: 'µs', of: ['dispatch_10k_limit_us', 'dispatch_10_limit_us'], compute: (many, few) => many - few },
    },
    description: `the dispatch figures of \`scale\` without mirai-ts: ${P.SCALE_TASKS} raw messages (one in flight per connection) over ${P.SCALE_SMALL} and over ${P.SCALE_LARGE} Unix-socket connections from one echo child (children/echo-many.mjs), the host reading as mirai-ts does; dispatch_10k_scaling_limit: what many connections cost bare sockets, the per-message ratio`,
    capMs: 120_000,
    run: async () => ({
      dispatch_10_limit_us: await rawDispatchUs(P.SCALE_SMALL),
      dispatch_10k_limit_us: await rawDispatchUs(P.SCALE_LARGE),
    }),
  },
];
