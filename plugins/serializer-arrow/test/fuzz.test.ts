/**
 * Mutated Arrow payloads never take the host down: each decodes or fails with a MiraiError,
 * and memory stays bounded. Seeded, so a failing case reproduces (see fuzz/fuzz-child.mjs).
 */
import { Dictionary, Int32, Int64, Table, Utf8, vectorFromArray } from 'apache-arrow';
import { describe, it } from 'vitest';
import { arrowSerializer } from '../src/index.js';
import { everyType } from './cases.js';
import { expectFuzzSurvives, FUZZ_TIMEOUT_MS, fuzzIterations } from './fuzz/run-fuzz.js';

function values(): unknown[] {
  const columns = everyType();
  const one = columns.map(([name, type, v]) => new Table({ [name]: vectorFromArray(v, type) }));
  const all = new Table(Object.fromEntries(columns.map(([name, type, v]) => [name, vectorFromArray(v, type)])));
  const dict = () => new Dictionary(new Utf8(), new Int32());
  const batches = new Table({ d: vectorFromArray(['x', 'y'], dict()) }).concat(new Table({ d: vectorFromArray(['z', 'x', 'z'], dict()) }));
  const wide = new Table({
    i: vectorFromArray(Int32Array.from({ length: 300 }, (_, k) => k)),
    s: vectorFromArray(Array.from({ length: 300 }, (_, k) => (k % 5 ? `s${k}` : null)), new Utf8()),
    b: vectorFromArray(Array.from({ length: 300 }, (_, k) => (k % 3 ? BigInt(k) : null)), new Int64()),
  });
  return [...one, all, batches, wide, all.batches[0], all.getChild('list'), { nested: [wide] }];
}

describe('arrowSerializer under mutated payloads', () => {
  it('decodes or rejects every mutation with a MiraiError, within 1 GB', async () => {
    await expectFuzzSurvives({
      plugin: new URL('../dist/index.js', import.meta.url),
      exportName: 'arrowSerializer',
      serializer: arrowSerializer(),
      values: values(),
      iterations: fuzzIterations(6000, 200_000),
      seed: 0x5eed,
    });
  }, FUZZ_TIMEOUT_MS + 30_000);
});
