import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '@mirai-ts/core';
import { ONNX_TAG, onnxSerializer } from '../src/index.js';
import { every } from './cases.js';

const ser = onnxSerializer();
const roundTrip = async (t: ort.Tensor): Promise<ort.Tensor> => ser.decode((await ser.encode(t)) as Uint8Array[]) as ort.Tensor;

function expectSame(a: ort.Tensor, e: ort.Tensor): void {
  expect([a.type, [...a.dims], a.size, a.data.constructor]).toEqual([e.type, [...e.dims], e.size, e.data.constructor]);
  expect(Array.from(a.data as ArrayLike<unknown>)).toEqual(Array.from(e.data as ArrayLike<unknown>));
}


describe('onnxSerializer', () => {
  it('has a ref daemons can rebuild it from', () => {
    expect(ser.tag).toBe(ONNX_TAG);
    expect(ser.ref).toEqual({ specifier: '@mirai-ts/serializer-onnx', exportName: 'onnxSerializer', options: {} });
  });

  it('refuses options, as it takes none yet: a ConfigError naming the option and its value', () => {
    const refused = (options: unknown, message: RegExp) => {
      expect(() => onnxSerializer(options as never)).toThrow(ConfigError);
      expect(() => onnxSerializer(options as never)).toThrow(message);
    };
    refused(42, /^onnxSerializer\(\): options must be an object, got 42$/);
    refused({ device: 'cuda' }, /^onnxSerializer\(\): unknown option 'device' \(got 'cuda' \(a string\)\); it takes no options yet$/);
    refused([], /^onnxSerializer\(\): options must be an object, got an array of 0$/);
    expect(onnxSerializer(undefined).ref?.options).toEqual({});
  });

  it.each(every)('round-trips a %s tensor exactly (type, dims, data class and values)', async (_name, tensor) => {
    const back = await roundTrip(tensor);
    expect(back).toBeInstanceOf(ort.Tensor);
    expectSame(back, tensor);
  });

  it('sends the data buffer itself and decodes a view of it', () => {
    const data = new Float32Array(100_000).fill(3);
    const tensor = new ort.Tensor('float32', data, [1000, 100]);
    const segments = ser.encode(tensor) as Uint8Array[];
    expect(segments[1]!.buffer).toBe(data.buffer);
    const back = ser.decode(segments) as ort.Tensor;
    expect((back.data as Float32Array).buffer).toBe(data.buffer);
  });

  it('decodes data at a misaligned offset (one copy) and a subarray of a larger buffer', async () => {
    const big = BigInt64Array.of(1n, 2n, 3n, 4n);
    const tensor = new ort.Tensor('int64', big.subarray(1, 3), [2]);
    const [head, body] = (await ser.encode(tensor)) as Uint8Array[];
    expect(body!.byteLength).toBe(16);
    const misaligned = new Uint8Array(body!.byteLength + 3).subarray(3);
    misaligned.set(body!);
    const back = ser.decode([head!, misaligned]) as ort.Tensor;
    expect(Array.from(back.data as BigInt64Array)).toEqual([2n, 3n]);
  });

  it('downloads tensors that live off the CPU before sending them (async encode)', async () => {
    const tensor = ort.Tensor.fromGpuBuffer({ size: 8 } as never, {
      dataType: 'float32',
      dims: [2],
      download: async () => Float32Array.of(1, 2),
    });
    const encoded = ser.encode(tensor);
    expect(encoded).toBeInstanceOf(Promise);
    const back = ser.decode((await encoded) as Uint8Array[]) as ort.Tensor;
    expect([back.location, Array.from(back.data as Float32Array)]).toEqual(['cpu', [1, 2]]);
  });

  it('claims tensors (also from another copy of onnxruntime) and nothing else', () => {
    const t = new ort.Tensor('float32', Float32Array.of(1), [1]);
    const lookalike = { type: 'float32', dims: [1], location: 'cpu', data: Float32Array.of(5), getData: async () => Float32Array.of(5) };
    expect([ser.claims(t), ser.claims(lookalike)]).toEqual([true, true]);
    expect((ser.decode(ser.encode(lookalike as never) as Uint8Array[]) as ort.Tensor).data).toEqual(Float32Array.of(5));
    expect([ser.claims({ type: 'x', dims: [] }), ser.claims(Float32Array.of(1)), ser.claims(null)]).toEqual([false, false, false]);
  });

  it('throws on a bad header, an unknown type, or data that does not fit the dims', () => {
    const [head, body] = ser.encode(new ort.Tensor('int32', Int32Array.of(1, 2, 3, 4), [4])) as Uint8Array[];
    const header = (h: object) => new TextEncoder().encode(JSON.stringify(h));
    const bad: Uint8Array[][] = [
      [],
      [new TextEncoder().encode('{not json')],
      [header({ type: 'int32' }), body!],
      [header({ type: 'complex64', dims: [4] }), body!],
      [head!],
      [head!, body!.subarray(0, 8)],
      [head!, body!.subarray(0, 6)],
      [header({ type: 'string', dims: [1] })],
    ];
    for (const buffers of bad) expect(() => ser.decode(buffers)).toThrow();
  });
});
