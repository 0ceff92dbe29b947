// A class of your own, and a serializer that lets it travel to daemons and back.
import { defineSerializer } from '@mirai-ts/core';

export class Temperature {
  constructor(celsius, place) {
    this.celsius = celsius;
    this.place = place;
  }
  get fahrenheit() {
    return (this.celsius * 9) / 5 + 32;
  }
}

export function temperatureSerializer() {
  return defineSerializer({
    // Names the bytes on the wire; change the version if the format changes.
    tag: 'example.temperature/1',
    // Which values this serializer takes, wherever they sit in arguments and results.
    claims: (value) => value instanceof Temperature,
    // Value → bytes (a Uint8Array, or an array of them).
    encode: (t) => new TextEncoder().encode(JSON.stringify([t.celsius, t.place])),
    // Bytes → value. Check what arrives: a throw becomes a typed error naming the value.
    decode: ([bytes]) => {
      const [celsius, place] = JSON.parse(new TextDecoder().decode(bytes));
      if (typeof celsius !== 'number' || typeof place !== 'string') throw new Error('not a Temperature');
      return new Temperature(celsius, place);
    },
    // How each daemon rebuilds this serializer: it imports this very file.
    ref: { specifier: import.meta.url, exportName: 'temperatureSerializer' },
  });
}
