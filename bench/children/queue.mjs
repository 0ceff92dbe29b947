// Queues `n` trivial tasks on a listen-only profile (no daemons) and prints the peak RSS.
import { readFileSync } from 'node:fs';
import { daemons, mirai } from '@mirai-ts/core';

const n = Number(process.argv[2]);
const peakMb = () => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) / 1024;
await daemons({});
const base = peakMb();
const queued = new Array(n);
for (let i = 0; i < n; i++) queued[i] = mirai(() => 1);
process.stdout.write(`${JSON.stringify({ peak: peakMb(), base })}\n`);
await daemons(0);
