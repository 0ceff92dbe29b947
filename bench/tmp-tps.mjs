import { daemons, mirai } from '@mirai-ts/core';
const N = Number(process.argv[2] ?? 50000);
const opts = { prefetch: Number(process.argv[3] ?? 64) };
if (process.env.DPROF) opts.nodeOptions = ['--cpu-prof', '--cpu-prof-dir=/tmp/prof'];
await daemons(2, opts);
async function batch(n) { const ms = new Array(n); for (let i = 0; i < n; i++) ms[i] = mirai(() => 1); await Promise.all(ms); }
await batch(5000);
const t0 = performance.now();
await batch(N);
const dt = performance.now() - t0;
console.log(`tps ${(N * 1000 / dt).toFixed(0)}  (${(dt*1000/N).toFixed(1)} µs/task)`);
await daemons(0);
