/**
 * @mirai-ts/serializer-arrow: Apache Arrow Tables, RecordBatches and Vectors as task
 * arguments and results, anywhere in the value, without copying column buffers.
 *
 * ```ts
 * import { daemons, mirai } from '@mirai-ts/core';
 * import { arrowSerializer } from '@mirai-ts/serializer-arrow';
 * await daemons(2, { serializers: [arrowSerializer()] });
 * ```
 */
export { arrowSerializer, ARROW_TAG, type ArrowSerializerOptions, type ArrowValue } from './arrow-serializer.js';
export { arrowRows } from './arrow-rows.js';
