/**
 * Mutated Polars payloads never take the host down: each decodes or fails with a MiraiError
 * (nodejs-polars aborts the process on a forged length, so the IPC file is checked first).
 */
import pl from 'nodejs-polars';
import { describe, it } from 'vitest';
import { expectFuzzSurvives, FUZZ_TIMEOUT_MS, fuzzIterations } from '../../serializer-arrow/test/fuzz/run-fuzz.js';
import { polarsSerializer, type PolarsSerializerOptions } from '../src/index.js';
import { everyDtype } from './cases.js';

function values(): unknown[] {
  const all = everyDtype();
  const one = all.columns.map((name) => all.select(name));
  const wide = pl.DataFrame({
    i: Array.from({ length: 300 }, (_, k) => k),
    s: Array.from({ length: 300 }, (_, k) => (k % 5 ? `string number ${k}` : null)),
  });
  return [...one, all, all.head(0), wide, pl.Series('c', ['b', 'a', null, 'b']).cast(pl.Categorical), { nested: [wide] }];
}

async function fuzz(options: PolarsSerializerOptions, iterations: number, seed: number): Promise<void> {
  await expectFuzzSurvives({
    plugin: new URL('../dist/index.js', import.meta.url),
    exportName: 'polarsSerializer',
    options,
    serializer: polarsSerializer(options),
    values: values(),
    iterations,
    seed,
  });
}

describe('polarsSerializer under mutated payloads', () => {
  it('decodes or rejects every mutation with a MiraiError, within 1 GB', () => fuzz({}, fuzzIterations(5000, 200_000), 0xda7a), FUZZ_TIMEOUT_MS + 30_000);

  it('does the same for compressed (zstd) payloads', () => fuzz({ compression: 'zstd' }, fuzzIterations(2000, 50_000), 0xc0de), FUZZ_TIMEOUT_MS + 30_000);
});
