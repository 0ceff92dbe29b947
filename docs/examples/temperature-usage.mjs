import { daemons, mirai } from '@mirai-ts/core';
import { Temperature, temperatureSerializer } from './temperature.mjs';

await daemons(2, { serializers: [temperatureSerializer()] });

const readings = { today: new Temperature(21.5, 'Lyon'), past: [new Temperature(-3, 'Oslo')] };
const { warmest, inF } = await mirai(({ readings }) => {
  // Real Temperature objects here too: their getters work on the daemon.
  const warmest = [readings.today, ...readings.past].reduce((a, b) => (a.celsius > b.celsius ? a : b));
  return { warmest, inF: warmest.fahrenheit };
}, { readings });

console.log(warmest instanceof Temperature, warmest.place, inF); // true Lyon 70.7
await daemons(0);
