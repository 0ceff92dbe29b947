// Types of temperature.mjs, for TypeScript users and the tests.
import type { Serializer } from '@mirai-ts/core';

export declare class Temperature {
  constructor(celsius: number, place: string);
  celsius: number;
  place: string;
  get fahrenheit(): number;
}
export declare function temperatureSerializer(): Serializer<Temperature>;
