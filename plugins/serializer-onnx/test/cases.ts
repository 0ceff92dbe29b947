/** Tensors of every element type, shared by the round-trip and the fuzz tests. */
import ort from 'onnxruntime-node';

/** [name, tensor] for each element type, a scalar and an empty tensor. */
export const every: [string, ort.Tensor][] = [
  ['float32', new ort.Tensor('float32', Float32Array.of(1.5, -0, Number.NaN, Number.POSITIVE_INFINITY), [2, 2])],
  ['float64', new ort.Tensor('float64', Float64Array.of(Math.PI, -1e308), [2])],
  ['float16', new ort.Tensor('float16', Uint16Array.of(0x3c00, 0x7c00), [2])],
  ['int8', new ort.Tensor('int8', Int8Array.of(-128, 127), [2])],
  ['uint8', new ort.Tensor('uint8', Uint8Array.of(0, 255), [2])],
  ['int16', new ort.Tensor('int16', Int16Array.of(-32768, 32767), [2])],
  ['uint16', new ort.Tensor('uint16', Uint16Array.of(0, 65535), [2])],
  ['int32', new ort.Tensor('int32', Int32Array.of(-(2 ** 31), 2 ** 31 - 1), [2])],
  ['uint32', new ort.Tensor('uint32', Uint32Array.of(0, 2 ** 32 - 1), [2])],
  ['int64', new ort.Tensor('int64', BigInt64Array.of(-(2n ** 63n), 2n ** 63n - 1n, 0n), [3])],
  ['uint64', new ort.Tensor('uint64', BigUint64Array.of(2n ** 64n - 1n), [1])],
  ['bool', new ort.Tensor('bool', Uint8Array.of(1, 0, 1, 1), [2, 2])],
  ['int4', new ort.Tensor('int4', Uint8Array.of(0x21, 0x0f) as never, [3])],
  ['uint4', new ort.Tensor('uint4', Uint8Array.of(0xf1), [2])],
  ['string', new ort.Tensor('string', ['', 'ascii', 'é\u{1F600}', 'lone \udc00 surrogate'], [4])],
  ['scalar', new ort.Tensor('float32', Float32Array.of(7), [])],
  ['empty', new ort.Tensor('float32', new Float32Array(0), [0, 5])],
];
