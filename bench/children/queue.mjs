// Queues `n` trivial tasks on a listen-only profile (no daemons) and prints the peak RSS; with
// `awaited`, also the peak once `Promise.all` waits on them all (what waiting adds per mirai).
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { daemons, mirai } from '@mirai-ts/core';

const n = Number(process.argv[2]);
const awaited = process.argv[3] === 'awaited';
const peakMb = () => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) / 1024;
await daemons({});
const base = peakMb();
const queued = new Array(n);
for (let i = 0; i < n; i++) queued[i] = mirai(() => 1);
const peak = peakMb();
let awaitedPeak;
if (awaited) {
  const all = Promise.all(queued);
  await sleep(100); // V8 calls each element's `then` in jobs: let them all run
  awaitedPeak = peakMb();
  all.catch(() => {}); // the reset below rejects them all
}
process.stdout.write(`${JSON.stringify({ peak, base, awaitedPeak })}\n`);
await daemons(0);
