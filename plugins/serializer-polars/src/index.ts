/**
 * @mirai-ts/serializer-polars: Polars DataFrames and Series as task arguments and results,
 * anywhere in the value.
 *
 * ```ts
 * import { daemons } from '@mirai-ts/core';
 * import { polarsSerializer } from '@mirai-ts/serializer-polars';
 * await daemons(2, { serializers: [polarsSerializer()] });
 * ```
 */
export { polarsSerializer, POLARS_TAG, type PolarsSerializerOptions, type PolarsValue } from './polars-serializer.js';
