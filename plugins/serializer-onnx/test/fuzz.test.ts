/**
 * Mutated tensor payloads never take the host down: each decodes or fails with a MiraiError,
 * and a header's dims cannot make the host allocate more than the data that arrived.
 */
import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { expectFuzzSurvives, FUZZ_TIMEOUT_MS, fuzzIterations } from '../../serializer-arrow/test/fuzz/run-fuzz.js';
import { onnxSerializer } from '../src/index.js';
import { every } from './cases.js';

const ser = onnxSerializer();
const header = (h: object): Uint8Array => new TextEncoder().encode(JSON.stringify(h));

describe('onnxSerializer under mutated payloads', () => {
  it('decodes or rejects every mutation with a MiraiError, within 1 GB', async () => {
    const big = new ort.Tensor('float32', Float32Array.from({ length: 20_000 }, (_, i) => i), [100, 200]);
    await expectFuzzSurvives({
      plugin: new URL('../dist/index.js', import.meta.url),
      exportName: 'onnxSerializer',
      serializer: ser,
      values: [...every.map(([, t]) => t), big, { pair: [big, every[0]![1]] }],
      iterations: fuzzIterations(20_000, 500_000),
      seed: 0x0e1e,
    });
  }, FUZZ_TIMEOUT_MS + 30_000);

  it('refuses dims that do not match the data, naming the serializer and the sizes', () => {
    const body = new Uint8Array(8);
    const cases: [object, Uint8Array[], RegExp][] = [
      [{ type: 'float32', dims: [1e5, 1e5] }, [body], /onnx: a float32 tensor of dims \[100000, 100000\] needs 40000000000 bytes of data but 8 arrived/],
      [{ type: 'float32', dims: [2 ** 40, 2 ** 40] }, [body], /multiply past 2\^53/],
      [{ type: 'float32', dims: [-1, 2] }, [body], /hold -1, not a size/],
      [{ type: 'float32', dims: [1.5] }, [body], /hold 1.5/],
      [{ type: 'float32', dims: new Array(65).fill(1) }, [body], /at most 64/],
      [{ type: 'int4', dims: [17] }, [body], /needs 9 bytes of data but 8 arrived/],
      [{ type: 'float64', dims: [1] }, [body, body], /2 data segments/],
      [{ type: 'string', dims: [3], strings: ['a'] }, [], /3 elements\) carries 1 strings/],
      [{ type: 'string', dims: [1], strings: [7] }, [], /other than strings/],
      [{ type: 'float32', dims: [2], strings: ['a', 'b'] }, [body], /float32 tensor header carries strings/],
      [{ type: 'float32', dims: [2], __proto__x: 1 }, [body], /unknown key '__proto__x'/],
    ];
    for (const [h, rest, message] of cases) {
      expect(() => ser.decode([header(h), ...rest]), JSON.stringify(h)).toThrow(message);
      try {
        ser.decode([header(h), ...rest]);
      } catch (err) {
        expect((err as Error).name).toBe('DeserializationError');
      }
    }
    expect(() => ser.decode([new Uint8Array([0xff, 0xfe])])).toThrow(/onnx: the tensor header is not JSON/);
  });
});
