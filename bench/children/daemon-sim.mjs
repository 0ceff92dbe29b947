#!/usr/bin/env node
/**
 * Daemon simulator: `node daemon-sim.mjs <url> <count> [concurrency]` with the profile's secret
 * in MIRAI_SECRET. Opens <count> connections to a mirai-ts host, each with the real daemon
 * handshake, and answers every Task with the value 1 at once (no decoding, no code run): many
 * protocol-speaking daemons in one process, for measuring the host. Prints `ready <ms>` once
 * all are admitted, then serves until killed.
 */
import { daemonHandshake, DEFAULT_LIMITS, encodePayload, frame, FrameType, HANDSHAKE_LIMITS, SECRET_ENV, transportFor } from '@mirai-ts/core/plugin';
import { dialMany } from '../lib/dial-many.mjs';

const [url, countText, concurrencyText = '256'] = process.argv.slice(2);
const count = Number.parseInt(countText ?? '', 10);
const concurrency = Number.parseInt(concurrencyText, 10);
const secret = process.env[SECRET_ENV];
if (!url || !Number.isInteger(count) || count < 1 || !Number.isInteger(concurrency) || concurrency < 1 || !secret) {
  process.stderr.write(`usage: ${SECRET_ENV}=… daemon-sim.mjs <url> <count ≥ 1> [concurrency ≥ 1]\n`);
  process.exit(2);
}
const transport = transportFor(url, []);
const answer = encodePayload(1, [], 'result');

async function simulate() {
  const channel = await transport.dial(url, { limits: HANDSHAKE_LIMITS });
  const { held } = await daemonHandshake(channel, secret);
  channel.setLimits(DEFAULT_LIMITS);
  const onFrame = (f) => {
    if (f.type === FrameType.Task) channel.send(frame(FrameType.Result, f.id, answer));
    else if (f.type === FrameType.Exit) channel.close();
  };
  channel.onFrame = onFrame;
  channel.onClose = () => {};
  for (const f of held) onFrame(f);
}

const t0 = performance.now();
await dialMany('daemon-sim', count, concurrency, simulate);
process.stdout.write(`ready ${(performance.now() - t0).toFixed(1)}\n`);
