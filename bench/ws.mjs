/**
 * WebSocket benchmarks (issue 11): @mirai-ts/core with @mirai-ts/transport-ws, beside a raw
 * WebSocket ping-pong between two Node processes on the same `ws` package, in the same run.
 * Imports the built packages (core/dist, plugins/transport-ws/dist): build them first.
 *
 *   import { wsBench } from './ws.mjs';
 *   const { rtt_ws_us, rtt_ws_limit_us, rtt_wss_us } = await wsBench({ round: 0 });
 *
 * - rtt_ws_us: mean of sequential `await mirai(() => 1)`, 1 daemon dialling in at ws://.
 * - rtt_ws_limit_us: mean of sequential 32-byte binary messages echoed by another process
 *   through `ws` (the raw limit; target: ours ≤ 1.5×). Ours and the limit swap order each
 *   round (`round` even: ours first).
 * - rtt_wss_us: the same as rtt_ws_us at wss:// (zero-config TLS); target ≤ 1.5 × rtt_ws_us.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { runStandalone } from './lib/harness.mjs';

const PLUGIN_DIR = fileURLToPath(new URL('../plugins/transport-ws/', import.meta.url));
const RTT_WARMUP = 300;
const RTT_COUNT = 3_000;

const now = () => performance.now();

/** An echo server in its own process (as a daemon is), on the plugin's own `ws`. */
async function startEcho() {
  const source = `
    import { WebSocketServer } from 'ws';
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
    wss.on('connection', (ws) => ws.on('message', (data) => ws.send(data, { binary: true })));
    wss.on('listening', () => process.stdout.write('ready ' + wss.address().port + '\\n'));`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', source], { cwd: PLUGIN_DIR, stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise((resolve, reject) => {
    child.stdout.once('data', (d) => resolve(Number(/ready (\d+)/.exec(String(d))?.[1])));
    child.once('exit', (code) => reject(new Error(`echo server exited (${code})`)));
  });
  return { child, port };
}

async function rawRtt() {
  const WebSocket = createRequire(`${PLUGIN_DIR}package.json`)('ws');
  const echo = await startEcho();
  const ws = new WebSocket(`ws://127.0.0.1:${echo.port}/`, { perMessageDeflate: false });
  try {
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    const payload = Buffer.alloc(32, 1);
    let resolveOne;
    ws.on('message', () => resolveOne());
    const once = () =>
      new Promise((resolve) => {
        resolveOne = resolve;
        ws.send(payload, { binary: true });
      });
    for (let i = 0; i < RTT_WARMUP; i++) await once();
    const t0 = now();
    for (let i = 0; i < RTT_COUNT; i++) await once();
    return ((now() - t0) * 1000) / RTT_COUNT;
  } finally {
    ws.terminate();
    echo.child.kill('SIGKILL');
  }
}

async function miraiRtt(core, transport, url) {
  try {
    await core.daemons(1, { url, transports: [transport] });
    for (let i = 0; i < RTT_WARMUP; i++) await core.mirai(() => 1);
    const t0 = now();
    for (let i = 0; i < RTT_COUNT; i++) await core.mirai(() => 1);
    return ((now() - t0) * 1000) / RTT_COUNT;
  } finally {
    await core.daemons(0);
  }
}

/**
 * One round of the WebSocket benchmarks.
 * @param {{ round?: number, log?: (text: string) => void }} [options]
 * @returns {Promise<{ rtt_ws_us: number, rtt_ws_limit_us: number, rtt_wss_us: number }>}
 */
export async function wsBench(options = {}) {
  const log = options.log ?? (() => {});
  const core = await import('@mirai-ts/core');
  const { wsTransport } = await import('@mirai-ts/transport-ws');
  const transport = wsTransport();
  const oursFirst = (options.round ?? 0) % 2 === 0;
  let rtt_ws_us;
  let rtt_ws_limit_us;
  if (oursFirst) {
    rtt_ws_us = await miraiRtt(core, transport, 'ws://127.0.0.1:0/bench');
    rtt_ws_limit_us = await rawRtt();
  } else {
    rtt_ws_limit_us = await rawRtt();
    rtt_ws_us = await miraiRtt(core, transport, 'ws://127.0.0.1:0/bench');
  }
  const rtt_wss_us = await miraiRtt(core, transport, 'wss://127.0.0.1:0/bench');
  log(`rtt_ws ${rtt_ws_us.toFixed(1)} µs, raw ws ${rtt_ws_limit_us.toFixed(1)} µs, rtt_wss ${rtt_wss_us.toFixed(1)} µs`);
  return { rtt_ws_us, rtt_ws_limit_us, rtt_wss_us };
}

/** The same as a bench/run.mjs group. */
export const benchmarks = [
  {
    name: 'ws',
    metrics: { rtt_ws_us: 'µs', rtt_ws_limit_us: 'µs', rtt_wss_us: 'µs' },
    description: 'mirai over WebSocket: sequential RTT at ws:// beside a raw ws ping-pong between two processes (same round), and at wss://',
    capMs: 120_000,
    run: (ctx) => wsBench({ round: ctx.round, log: ctx.log }),
  },
];

// `node bench/ws.mjs`: one round, printed as JSON.
runStandalone(import.meta.url, wsBench);
