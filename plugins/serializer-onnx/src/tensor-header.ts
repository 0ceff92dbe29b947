/**
 * The header of a received tensor, checked before anything is built from it: a peer that sends
 * `dims: [1e9, 1e9]` with 8 bytes of data, or a string tensor whose dims do not match its
 * strings, gets a `DeserializationError` instead of a tensor that lies about its size.
 */
import { DeserializationError } from '@mirai-ts/core';

export interface TensorHeader {
  type: string;
  dims: number[];
  /** The strings of a string tensor. */
  strings?: string[];
  /** Class of the sender's data array when it was not the default (a Float16Array). */
  array?: string;
}

/** Most dims accepted (ONNX models stay far below; ONNX Runtime's own limit is of that order). */
export const MAX_DIMS = 64;
const KEYS = new Set(['type', 'dims', 'strings', 'array']);
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Refuses a received tensor: a DeserializationError naming the serializer. */
export function fail(message: string): never {
  throw new DeserializationError(`onnx: ${message}`);
}

/** Parses segment 0 and checks its shape; `elements` is the product of the dims. */
export function readTensorHeader(head: Uint8Array): { header: TensorHeader; elements: number } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(head));
  } catch (err) {
    fail(`the tensor header is not JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) fail('the tensor header is not an object');
  const header = parsed as Record<string, unknown>;
  const unknown = Object.keys(header).find((k) => !KEYS.has(k));
  if (unknown !== undefined) fail(`the tensor header has an unknown key '${unknown}'`);
  const { type, dims, strings, array } = header;
  if (typeof type !== 'string') fail('the tensor header has no type');
  if (!Array.isArray(dims) || dims.length > MAX_DIMS) fail(`the tensor dims are not an array of at most ${MAX_DIMS} numbers`);
  let elements = 1;
  for (const d of dims) {
    if (!Number.isSafeInteger(d) || (d as number) < 0) fail(`the tensor dims [${dims.join(', ')}] hold ${JSON.stringify(d)}, not a size`);
    elements *= d as number;
  }
  if (!Number.isSafeInteger(elements)) fail(`the tensor dims [${dims.join(', ')}] multiply past 2^53`);
  if (array !== undefined && typeof array !== 'string') fail('the tensor header names its array class with a non-string');
  if (strings !== undefined) {
    if (type !== 'string') fail(`a ${type} tensor header carries strings`);
    if (!Array.isArray(strings) || strings.some((s) => typeof s !== 'string')) fail('a string tensor carries something other than strings');
    if (strings.length !== elements) fail(`a string tensor of dims [${dims.join(', ')}] (${elements} elements) carries ${strings.length} strings`);
  }
  return { header: header as unknown as TensorHeader, elements };
}
