/**
 * Remote-transport benchmarks (issue 5): @mirai-ts/core over tcp:// and tls+tcp:// on
 * 127.0.0.1, beside a raw TCP ping-pong measured in the same run. Imports the built
 * package (core/dist): build it first.
 *
 *   import { remoteBench } from './remote.mjs';
 *   const { rtt_tcp_us, rtt_tls_us, rtt_tcp_limit_us } = await remoteBench({ round: 0 });
 *
 * - rtt_tcp_us: mean of sequential `await mirai(() => 1)`, 1 local daemon dialling
 *   tcp://127.0.0.1, dispatcher on (target: ≤ 1.5 × rtt_tcp_limit_us).
 * - rtt_tls_us: the same over tls+tcp://127.0.0.1 with zero-config TLS (target: ≤ 1.5 ×
 *   rtt_tcp_us).
 * - rtt_tcp_limit_us: mean of sequential request/reply of a 32-byte body with a 4-byte
 *   length prefix over TCP 127.0.0.1 to an echo child process (bench/lib/framing.mjs on
 *   both ends): the raw limit.
 *
 * The three run in turn in one call; `round` reverses their order every other round so each
 * sees the same machine state across rounds, and `draws` > 1 takes each figure's median over
 * that many fresh pairs (free placement). Every process started here is stopped before returning.
 * `benchmarks` below wraps it in bench/run.mjs's group contract.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { FrameReader, writeFrame } from './lib/framing.mjs';
import { gc, measureInTurn, now, pinningOf, pinOneDaemon, runStandalone, stopChild, trackPid } from './lib/harness.mjs';
import { RTT_LIMIT_BODY_BYTES, RTT_WARMUP } from './params.mjs';

/**
 * The warm-up of every round trip here: `rtt`'s (params.mjs). With 300, much of the timed part
 * still ran in V8's lower tiers, its compiler sharing the CPU when pinned: 65 µs over TCP on one
 * core, against 20 µs after 3 000.
 */
const WARMUP = RTT_WARMUP;
const COUNT = 3_000;
const FRAMING = new URL('./lib/framing.mjs', import.meta.url).href;

/** Mean µs of `COUNT` sequential `await mirai(() => 1)` on 1 daemon dialling `url`. */
async function miraiRtt(core, url, pin) {
  try {
    await core.daemons(1, { url });
    pinOneDaemon(core, pin);
    for (let i = 0; i < WARMUP; i++) await core.mirai(() => 1);
    gc();
    const t0 = now();
    for (let i = 0; i < COUNT; i++) await core.mirai(() => 1);
    return ((now() - t0) * 1000) / COUNT;
  } finally {
    await core.daemons(0);
  }
}

/** Mean µs of `COUNT` sequential framed ping-pongs over TCP 127.0.0.1 to an echo child. */
async function tcpLimit(pin) {
  const server = createServer();
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  const accepted = new Promise((resolve) => server.once('connection', resolve));
  const source = `
    import { connect } from 'node:net';
    import { FrameReader, writeFrame } from ${JSON.stringify(FRAMING)};
    const socket = connect(${port}, '127.0.0.1');
    socket.setNoDelay(true);
    const reader = new FrameReader((body) => writeFrame(socket, body));
    socket.on('data', (chunk) => reader.push(chunk));
    socket.on('close', () => process.exit(0));
    socket.on('error', () => process.exit(1));`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', source], { stdio: ['ignore', 'ignore', 'inherit'] });
  child.exited = new Promise((resolve) => child.once('exit', resolve));
  trackPid(child.pid);
  let socket;
  try {
    socket = await accepted;
    pin.pinHost();
    pin.pinPeer(child.pid);
    socket.setNoDelay(true);
    let onFrame = () => {};
    const reader = new FrameReader((body) => onFrame(body));
    socket.on('data', (chunk) => reader.push(chunk));
    const body = Buffer.alloc(RTT_LIMIT_BODY_BYTES, 7);
    const ping = () =>
      new Promise((resolve) => {
        onFrame = resolve;
        writeFrame(socket, body);
      });
    for (let i = 0; i < WARMUP; i++) await ping();
    gc();
    const t0 = now();
    for (let i = 0; i < COUNT; i++) await ping();
    return ((now() - t0) * 1000) / COUNT;
  } finally {
    socket?.destroy();
    await new Promise((resolve) => server.close(resolve));
    await stopChild(child);
  }
}

/**
 * One round of the remote benchmarks: the three in turn (the order reversed every other round),
 * each the median over `draws` fresh pairs (lib/harness.mjs `overDraws`).
 * @param {{ round?: number, draws?: number, log?: (text: string) => void, pinHost?: () => void, pinPeer?: (pid: number) => void }} [options]
 * @returns {Promise<{ rtt_tcp_us: number, rtt_tls_us: number, rtt_tcp_limit_us: number }>}
 */
export async function remoteBench(options = {}) {
  const log = options.log ?? (() => {});
  const core = await import('@mirai-ts/core');
  // Pinned as `--pin` asks (host and daemon or echo child alike); free without it.
  const pin = pinningOf(options);
  const figures = await measureInTurn(
    { round: options.round ?? 0 },
    {
      rtt_tcp_us: () => miraiRtt(core, 'tcp://127.0.0.1:0', pin),
      rtt_tls_us: () => miraiRtt(core, 'tls+tcp://127.0.0.1:0', pin),
      rtt_tcp_limit_us: () => tcpLimit(pin),
    },
    options.draws ?? 1,
  );
  log(`rtt tcp ${figures.rtt_tcp_us.toFixed(1)} µs, tls ${figures.rtt_tls_us.toFixed(1)} µs, raw TCP ${figures.rtt_tcp_limit_us.toFixed(1)} µs`);
  return figures;
}

/**
 * The same as a bench/run.mjs group (add './remote.mjs' to its GROUPS). Targets for
 * targets.mjs: rtt_tcp_us ≤ 1.5 × rtt_tcp_limit_us, rtt_tls_us ≤ 1.5 × rtt_tcp_us.
 */
export const benchmarks = [
  {
    name: 'remote',
    metrics: { rtt_tcp_us: 'µs', rtt_tls_us: 'µs', rtt_tcp_limit_us: 'µs' },
    description: 'mirai RTT over tcp:// and tls+tcp:// (1 daemon, 127.0.0.1) beside a raw TCP ping-pong, same round',
    capMs: 120_000,
    run: (ctx) => remoteBench({ round: ctx.round, draws: ctx.draws, log: ctx.log, pinHost: ctx.pinHost, pinPeer: ctx.pinPeer }),
  },
];

/** Resets the default profile after a failed or capped round. */
export async function cleanup() {
  const core = await import('@mirai-ts/core');
  await core.daemons(0);
}

// `node bench/remote.mjs`: one round, printed as JSON.
runStandalone(import.meta.url, remoteBench);
