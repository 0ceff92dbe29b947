import { daemons, miraiMap } from '@mirai-ts/core';
const opts = {};
if (process.env.DPROF) opts.nodeOptions = ['--cpu-prof', '--cpu-prof-dir=/tmp/prof'];
await daemons(2, opts);
const items = Array.from({ length: 10000 }, (_, i) => i);
await miraiMap(items.slice(0, 1000), (x) => x, { chunk: 50 });
for (let r = 0; r < 5; r++) {
  const t0 = performance.now();
  const v = await miraiMap(items, (x) => x, { chunk: 500 });
  console.log(`map10k chunked ${((performance.now() - t0) / 1000).toFixed(4)} s`, v.length);
}
await daemons(0);
