import { daemons, mirai } from '@mirai-ts/core';
const now = () => performance.now();
const res = [];
for (let round = 0; round < 4; round++) {
  await daemons(1);
  for (let i = 0; i < 20000; i++) await mirai(() => 1);
  const t0 = now();
  for (let i = 0; i < 20000; i++) await mirai(() => 1);
  res.push(((now() - t0) * 1000 / 20000).toFixed(1));
  await daemons(0);
}
console.log('rtt', res.join(' '));
