/**
 * @mirai-ts/serializer-onnx: ONNX Runtime tensors as task arguments and results, anywhere
 * in the value, with their data sent uncopied.
 *
 * ```ts
 * import { daemons } from '@mirai-ts/core';
 * import { onnxSerializer } from '@mirai-ts/serializer-onnx';
 * await daemons(2, { serializers: [onnxSerializer()] });
 * ```
 */
export { onnxSerializer, ONNX_TAG, type OnnxSerializerOptions } from './onnx-serializer.js';
