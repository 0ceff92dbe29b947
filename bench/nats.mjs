/**
 * NATS benchmarks (issue 6): @mirai-ts/core with @mirai-ts/transport-nats, beside raw NATS
 * request/reply through the same nats-server in the same run. Imports the built packages
 * (core/dist, plugins/transport-nats/dist): build them first.
 *
 *   import { natsBench } from './nats.mjs';
 *   const { rtt_nats_us, rtt_nats_limit_us, tps_nats } = await natsBench({ round: 0 });
 *
 * - rtt_nats_us: mean of sequential `await mirai(() => 1)`, 1 daemon dialling in over NATS.
 * - rtt_nats_limit_us: mean of sequential `nc.request()` of 32 bytes to an echo responder
 *   in another process, through the same nats-server (the raw limit; target: ours ≤ 1.5×).
 * - tps_nats: 20 000 `mirai(() => 1)` submitted at once on 2 NATS daemons, tasks/s.
 *
 * Each call starts its own nats-server on a free 127.0.0.1 port and stops it (by PID)
 * before returning, with the daemons and the responder. Without a nats-server binary every
 * figure is null. `benchmarks` below wraps it in bench/run.mjs's group contract.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runStandalone } from './lib/harness.mjs';
import * as P from './params.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { RTT_WARMUP } = P;
const RTT_COUNT = 3_000;
const TPS_COUNT = 20_000;

const now = () => performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function natsServerBinary() {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/bin', '/usr/bin'];
  for (const dir of dirs.filter(Boolean)) {
    try {
      accessSync(join(dir, 'nats-server'), constants.X_OK);
      return join(dir, 'nats-server');
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Starts nats-server on a port it picks itself; resolves { url, pid, stop }. */
async function startServer(bin) {
  const dir = mkdtempSync(join(tmpdir(), 'mirai-bench-nats-'));
  const child = spawn(bin, ['-a', '127.0.0.1', '-p', '-1', '--ports_file_dir', dir], { stdio: 'ignore' });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      process.kill(child.pid, 'SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    let port;
    try {
      port = Number(new URL(JSON.parse(readFileSync(join(dir, `nats-server_${child.pid}.ports`), 'utf8')).nats[0]).port);
    } catch {
      port = undefined;
    }
    if (port && (await accepts(port))) return { url: `nats://127.0.0.1:${port}`, pid: child.pid, stop };
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error('nats-server did not start');
    }
    await sleep(50);
  }
}

function accepts(port) {
  return new Promise((resolve) => {
    const s = netConnect({ host: '127.0.0.1', port });
    s.once('data', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** An echo responder in its own process (as a daemon is), answering `subject`. */
async function startResponder(url, subject) {
  const source = `
    import { connect } from '@nats-io/transport-node';
    const nc = await connect({ servers: ${JSON.stringify(url)} });
    nc.subscribe(${JSON.stringify(subject)}, { callback: (err, msg) => { if (!err) msg.respond(msg.data); } });
    await nc.flush();
    process.stdout.write('ready\\n');`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', source], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve, reject) => {
    child.stdout.once('data', resolve);
    child.once('exit', (code) => reject(new Error(`echo responder exited (${code})`)));
  });
  return child;
}

async function rawRtt(url) {
  const { connect } = await import('@nats-io/transport-node');
  const subject = `bench.echo.${process.pid}`;
  const responder = await startResponder(url, subject);
  const nc = await connect({ servers: url });
  try {
    const payload = new Uint8Array(32);
    for (let i = 0; i < RTT_WARMUP; i++) await nc.request(subject, payload, { timeout: 5_000 });
    const t0 = now();
    for (let i = 0; i < RTT_COUNT; i++) await nc.request(subject, payload, { timeout: 5_000 });
    return ((now() - t0) * 1000) / RTT_COUNT;
  } finally {
    await nc.close();
    responder.kill('SIGKILL');
  }
}

async function miraiRtt(core, transport, url) {
  try {
    await core.daemons(1, { url: `${url}/bench/rtt`, transports: [transport] });
    for (let i = 0; i < RTT_WARMUP; i++) await core.mirai(() => 1);
    const t0 = now();
    for (let i = 0; i < RTT_COUNT; i++) await core.mirai(() => 1);
    return ((now() - t0) * 1000) / RTT_COUNT;
  } finally {
    await core.daemons(0);
  }
}

async function miraiTps(core, transport, url) {
  try {
    await core.daemons(2, { url: `${url}/bench/tps`, transports: [transport] });
    await Promise.all(Array.from({ length: 200 }, () => core.mirai(() => 1)));
    const t0 = now();
    const ms = new Array(TPS_COUNT);
    for (let i = 0; i < TPS_COUNT; i++) ms[i] = core.mirai(() => 1);
    const values = await Promise.all(ms);
    const seconds = (now() - t0) / 1000;
    if (values[TPS_COUNT - 1] !== 1) throw new Error('a trivial task returned the wrong value');
    return TPS_COUNT / seconds;
  } finally {
    await core.daemons(0);
  }
}

/**
 * One round of the NATS benchmarks. `round` alternates the order of ours and the raw limit
 * (even: ours first), so both see the same machine state across rounds.
 * @param {{ round?: number, log?: (text: string) => void }} [options]
 * @returns {Promise<{ rtt_nats_us: number|null, rtt_nats_limit_us: number|null, tps_nats: number|null }>}
 */
export async function natsBench(options = {}) {
  const log = options.log ?? (() => {});
  const bin = natsServerBinary();
  if (bin === undefined) {
    log('nats-server is not installed (apt-get install -y nats-server): NATS figures are null');
    return { rtt_nats_us: null, rtt_nats_limit_us: null, tps_nats: null };
  }
  const core = await import('@mirai-ts/core');
  const { natsTransport } = await import('@mirai-ts/transport-nats');
  const server = await startServer(bin);
  try {
    const transport = natsTransport();
    const oursFirst = (options.round ?? 0) % 2 === 0;
    let rtt_nats_us;
    let rtt_nats_limit_us;
    if (oursFirst) {
      rtt_nats_us = await miraiRtt(core, transport, server.url);
      rtt_nats_limit_us = await rawRtt(server.url);
    } else {
      rtt_nats_limit_us = await rawRtt(server.url);
      rtt_nats_us = await miraiRtt(core, transport, server.url);
    }
    log(`rtt_nats ${rtt_nats_us.toFixed(1)} µs, raw NATS ${rtt_nats_limit_us.toFixed(1)} µs`);
    const tps_nats = await miraiTps(core, transport, server.url);
    log(`tps_nats ${Math.round(tps_nats)} tasks/s`);
    return { rtt_nats_us, rtt_nats_limit_us, tps_nats };
  } finally {
    await server.stop();
  }
}

/** The same as a bench/run.mjs group (add './nats.mjs' to its GROUPS). */
export const benchmarks = [
  {
    name: 'nats',
    metrics: { rtt_nats_us: 'µs', rtt_nats_limit_us: 'µs', tps_nats: 'tasks/s' },
    description: 'mirai over NATS: sequential RTT beside raw NATS request/reply (same server, same round), and tasks/s on 2 daemons',
    capMs: 180_000,
    run: (ctx) => natsBench({ round: ctx.round, log: ctx.log }),
  },
];

// `node bench/nats.mjs`: one round, printed as JSON.
runStandalone(import.meta.url, natsBench);
