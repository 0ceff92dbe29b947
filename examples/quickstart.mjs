// The quick start: 5 local daemons, one task, one map, shutdown.
import { daemons, mirai, miraiMap } from '@mirai-ts/core';

await daemons(5);

// A task: sleeps a second on a daemon, then adds its two arguments.
const m = mirai(
  async ({ a, b }) => {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    return a + b;
  },
  { a: 100, b: 42 },
);
console.log('while it runs:', m);

// A map: x² for 1..9, each item sleeping a second; 9 items on 5 daemons take about 2 s.
const started = Date.now();
const squares = await miraiMap([1, 2, 3, 4, 5, 6, 7, 8, 9], async (x) => {
  await new Promise((resolve) => setTimeout(resolve, 1000));
  return x * x;
}).flat();

console.log('mirai:', await m);
console.log('map:', squares, `in ${((Date.now() - started) / 1000).toFixed(1)} s`);

await daemons(0);
