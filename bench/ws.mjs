/**
 * WebSocket benchmarks (issue 11): @mirai-ts/core with @mirai-ts/transport-ws, beside a raw
 * WebSocket ping-pong between two Node processes on the same `ws` package, in the same run.
 * Imports the built packages (core/dist, plugins/transport-ws/dist): build them first.
 *
 *   import { wsBench } from './ws.mjs';
 *   const { rtt_ws_us, rtt_ws_limit_us, rtt_wss_us } = await wsBench({ round: 0 });
 *
 * - rtt_ws_us: mean of sequential `await mirai(() => 1)`, 1 daemon dialling in at ws://.
 * - rtt_ws_limit_us: mean of sequential raw `ws` ping-pongs laid out as mirai's are: this
 *   process runs the WebSocket server (an HTTP server upgrading at a path, as the host's
 *   listener), another process dials it as a client (masking, as a daemon) and answers each
 *   binary message with one of its own, TASK_BYTES out and RESULT_BYTES back (the sizes of
 *   `mirai(() => 1)`'s frames), perMessageDeflate off and TCP_NODELAY on both ends, as in
 *   the transport (the raw limit; target: ours ≤ 1.5×). Ours and the limit swap order each
 *   round (`round` even: ours first).
 * - rtt_wss_us: the same as rtt_ws_us at wss:// (zero-config TLS); target ≤ 1.5 × rtt_ws_us.
 *
 * Both loops start after a full GC; under `--pin` this process and its peer (the daemon, or
 * the echo client) are pinned as the other latency benchmarks are. Every process started
 * here is stopped before a round returns.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { gc, measureInTurn, pinningOf, pinOneDaemon, runStandalone, stopChild, trackPid } from './lib/harness.mjs';
import * as P from './params.mjs';

const PLUGIN_DIR = fileURLToPath(new URL('../plugins/transport-ws/', import.meta.url));
const { RTT_WARMUP } = P;
const RTT_COUNT = 3_000;
/**
 * Bytes of the task and result frames of `mirai(() => 1)` (header, length table, function
 * reference, arguments; the value): what one round trip of ours puts in its two messages.
 */
const TASK_BYTES = 46;
const RESULT_BYTES = 33;

const now = () => performance.now();

/** Mean µs of `RTT_COUNT` sequential `once()` after a warm-up and a full GC. */
async function timeLoop(once) {
  for (let i = 0; i < RTT_WARMUP; i++) await once();
  gc();
  const t0 = now();
  for (let i = 0; i < RTT_COUNT; i++) await once();
  return ((now() - t0) * 1000) / RTT_COUNT;
}

/** The raw limit's peer: a process that dials `url` as a WebSocket client and answers every message. */
function startEchoClient(url) {
  const source = `
    import WebSocket from 'ws';
    const ws = new WebSocket(${JSON.stringify(url)}, { perMessageDeflate: false });
    const answer = Buffer.alloc(${RESULT_BYTES}, 2);
    ws.on('message', () => ws.send(answer, { binary: true }));
    ws.on('close', () => process.exit(0));
    ws.on('error', () => process.exit(1));`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', source], { cwd: PLUGIN_DIR, stdio: ['ignore', 'ignore', 'inherit'] });
  child.exited = new Promise((resolve) => child.once('exit', resolve));
  trackPid(child.pid);
  return child;
}

async function rawRtt(pin) {
  const { WebSocketServer } = createRequire(`${PLUGIN_DIR}package.json`)('ws');
  const server = createServer();
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, clientTracking: false });
  server.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws)));
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const connected = new Promise((resolve) => wss.once('connection', resolve));
  const child = startEchoClient(`ws://127.0.0.1:${server.address().port}/bench`);
  let ws;
  try {
    ws = await Promise.race([connected, child.exited.then((code) => Promise.reject(new Error(`echo client exited (${code})`)))]);
    pin.pinHost();
    pin.pinPeer(child.pid);
    const payload = Buffer.alloc(TASK_BYTES, 1);
    let resolveOne;
    ws.on('message', () => resolveOne());
    return await timeLoop(
      () =>
        new Promise((resolve) => {
          resolveOne = resolve;
          ws.send(payload, { binary: true });
        }),
    );
  } finally {
    ws?.terminate();
    await new Promise((resolve) => server.close(resolve));
    await stopChild(child);
  }
}

async function miraiRtt(core, transport, url, pin) {
  try {
    await core.daemons(1, { url, transports: [transport] });
    pinOneDaemon(core, pin);
    return await timeLoop(() => core.mirai(() => 1));
  } finally {
    await core.daemons(0);
  }
}

/**
 * One round of the WebSocket benchmarks.
 * @param {{ round?: number, draws?: number, log?: (text: string) => void, pinHost?: () => void, pinPeer?: (pid: number) => void }} [options]
 * @returns {Promise<{ rtt_ws_us: number, rtt_ws_limit_us: number, rtt_wss_us: number }>}
 */
export async function wsBench(options = {}) {
  const log = options.log ?? (() => {});
  const core = await import('@mirai-ts/core');
  const { wsTransport } = await import('@mirai-ts/transport-ws');
  const transport = wsTransport();
  const pin = pinningOf(options);
  // In turn (reversed every other round), each the median over `draws` fresh pairs.
  const { rtt_ws_us, rtt_ws_limit_us, rtt_wss_us } = await measureInTurn(
    { round: options.round ?? 0 },
    {
      rtt_ws_us: () => miraiRtt(core, transport, 'ws://127.0.0.1:0/bench', pin),
      rtt_ws_limit_us: () => rawRtt(pin),
      rtt_wss_us: () => miraiRtt(core, transport, 'wss://127.0.0.1:0/bench', pin),
    },
    options.draws ?? 1,
  );
  log(`rtt_ws ${rtt_ws_us.toFixed(1)} µs, raw ws ${rtt_ws_limit_us.toFixed(1)} µs, rtt_wss ${rtt_wss_us.toFixed(1)} µs`);
  return { rtt_ws_us, rtt_ws_limit_us, rtt_wss_us };
}

/** The same as a bench/run.mjs group. */
export const benchmarks = [
  {
    name: 'ws',
    metrics: { rtt_ws_us: 'µs', rtt_ws_limit_us: 'µs', rtt_wss_us: 'µs' },
    description: 'mirai over WebSocket: sequential RTT at ws:// beside a raw ws ping-pong laid out the same way (same round), and at wss://',
    capMs: 120_000,
    run: (ctx) => wsBench({ round: ctx.round, draws: ctx.draws, log: ctx.log, pinHost: ctx.pinHost, pinPeer: ctx.pinPeer }),
  },
];

/** Resets the default profile after a failed or capped round. */
export async function cleanup() {
  const core = await import('@mirai-ts/core');
  await core.daemons(0);
}

// `node bench/ws.mjs`: one round, printed as JSON.
runStandalone(import.meta.url, wsBench);
