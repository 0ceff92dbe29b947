/**
 * The ONNX Runtime serializer: `ort.Tensor`s as a small JSON header plus their raw data.
 *
 * Wire form (tag {@link ONNX_TAG}): segment 0 is JSON `{ type, dims }` (string tensors also
 * carry their strings there, as JSON keeps every JavaScript string exact); segment 1 is the
 * tensor's data buffer itself, sent without a copy and read back as a view.
 */
import ort from 'onnxruntime-node';
import { ConfigError, type Serializer } from '@mirai-ts/core';
import { checkOptions, show } from '@mirai-ts/core/daemon';
import { fail, readTensorHeader, type TensorHeader } from './tensor-header.js';

/** Wire tag of this serializer's bytes. */
export const ONNX_TAG = 'onnx.tensor/1';

/** Options of {@link onnxSerializer} (none yet; kept for forward compatibility). */
export type OnnxSerializerOptions = Record<string, never>;

type TypedArrayCtor = new (buffer: ArrayBufferLike, byteOffset: number, length: number) => ArrayBufferView;

/** The data array each numeric tensor type is built from (onnxruntime checks the class). */
const ARRAY_OF: Record<string, TypedArrayCtor & { BYTES_PER_ELEMENT: number }> = {
  float32: Float32Array,
  float64: Float64Array,
  float16: Uint16Array,
  int8: Int8Array,
  uint8: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
  bool: Uint8Array,
  int4: Uint8Array, // two 4-bit values per byte
  uint4: Uint8Array,
};

const encoder = new TextEncoder();

/**
 * A serializer for ONNX Runtime tensors (`ort.Tensor`), wherever they sit in a task's
 * arguments or result: every element type (float16/32/64, int4–int64 and unsigned, bool,
 * string), any dims including scalars and empty tensors. Tensors that live off the CPU are
 * downloaded with `getData()` first.
 *
 * ```ts
 * await daemons(2, { serializers: [onnxSerializer()] });
 * const y = await mirai(async ({ x }) => (await session.run({ x })).y, { x: tensor });
 * ```
 */
export function onnxSerializer(options: OnnxSerializerOptions = {}): Serializer<ort.Tensor> {
  // None are known yet: a typo must not travel to daemons unnoticed.
  if (typeof options === 'object' && options !== null && !Array.isArray(options)) {
    for (const [key, value] of Object.entries(options)) throw new ConfigError(`onnxSerializer(): unknown option '${key}' (got ${show(value)}); it takes no options yet`);
  }
  checkOptions('onnxSerializer()', options, {}); // anything but an object (or undefined)
  return {
    tag: ONNX_TAG,
    claims(value: unknown): value is ort.Tensor {
      return value instanceof ort.Tensor || isTensorLike(value);
    },
    encode(tensor: ort.Tensor): Uint8Array[] | Promise<Uint8Array[]> {
      const location = (tensor as { location?: string }).location ?? 'cpu';
      if (location === 'cpu' || location === 'cpu-pinned') return encodeData(tensor, tensor.data);
      return tensor.getData().then((data) => encodeData(tensor, data));
    },
    decode(buffers: Uint8Array[]): ort.Tensor {
      const [head, body] = buffers;
      if (head === undefined) fail('not an ONNX tensor: the header segment is missing');
      const { header, elements } = readTensorHeader(head);
      if (header.type === 'string') {
        if (header.strings === undefined) fail('a string tensor arrived without its strings');
        if (buffers.length !== 1) fail(`a string tensor arrived with ${buffers.length} segments`);
        return new ort.Tensor('string', header.strings, header.dims);
      }
      const ctor = arrayClass(header);
      if (body === undefined || buffers.length !== 2) fail(`a ${header.type} tensor arrived with ${buffers.length - 1} data segments, not 1`);
      // 4-bit types pack two elements per byte.
      const expected = header.type.endsWith('int4') ? Math.ceil(elements / 2) : elements * ctor.BYTES_PER_ELEMENT;
      if (body.byteLength !== expected) {
        fail(`a ${header.type} tensor of dims [${header.dims.join(', ')}] needs ${expected} bytes of data but ${body.byteLength} arrived`);
      }
      return new ort.Tensor(header.type as ort.Tensor.Type, viewAs(ctor, body) as ort.Tensor.DataType, header.dims);
    },
    ref: { specifier: '@mirai-ts/serializer-onnx', exportName: 'onnxSerializer', options: {} },
  };
}

function encodeData(tensor: ort.Tensor, data: ort.Tensor.DataType): Uint8Array[] {
  const header: TensorHeader = { type: tensor.type, dims: [...tensor.dims] };
  if (tensor.type === 'string') {
    header.strings = data as string[];
    return [encoder.encode(JSON.stringify(header))];
  }
  const view = data as ArrayBufferView;
  if (!ArrayBuffer.isView(view)) throw new TypeError(`the ${tensor.type} tensor's data is not a typed array`);
  if (view.constructor !== ARRAY_OF[tensor.type]) header.array = view.constructor.name;
  return [encoder.encode(JSON.stringify(header)), new Uint8Array(view.buffer, view.byteOffset, view.byteLength)];
}

function arrayClass(header: TensorHeader): TypedArrayCtor & { BYTES_PER_ELEMENT: number } {
  const fallback = ARRAY_OF[header.type];
  if (fallback === undefined) fail(`unknown tensor type '${header.type}'`);
  if (header.array === undefined) return fallback;
  // e.g. Float16Array where the runtime has it; otherwise the default of the same width.
  const named = (globalThis as Record<string, unknown>)[header.array] as (TypedArrayCtor & { BYTES_PER_ELEMENT: number }) | undefined;
  return typeof named === 'function' && named.BYTES_PER_ELEMENT === fallback.BYTES_PER_ELEMENT ? named : fallback;
}

/** A view of `bytes` as `ctor`; copied once only when the bytes sit at a misaligned offset. */
function viewAs(ctor: TypedArrayCtor & { BYTES_PER_ELEMENT: number }, bytes: Uint8Array): ArrayBufferView {
  const size = ctor.BYTES_PER_ELEMENT;
  if (bytes.byteLength % size !== 0) fail(`tensor data of ${bytes.byteLength} bytes is not a whole number of ${size}-byte elements`);
  const source = bytes.byteOffset % size === 0 ? bytes : new Uint8Array(bytes); // (Buffer#slice would not copy)
  return new ctor(source.buffer, source.byteOffset, source.byteLength / size);
}

/** A tensor made by another copy of onnxruntime (instanceof fails): same shape of object. */
function isTensorLike(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.type === 'string' && Array.isArray(v.dims) && typeof v.getData === 'function' && 'location' in v;
}
