/**
 * Reading a daemon's answer: a Result frame's payload becomes the task's value, or, with the
 * Error flag, a rebuilt error. Never throws: whatever the bytes hold, the outcome is a value
 * or a typed error for that one task.
 */
import { DeserializationError, isMiraiError, type MiraiError } from '../errors.js';
import type { Serializer } from '../serializer.js';
import { fromErrorRecord } from '../wire/error-record.js';
import { FrameFlag, segmentBytes, type Frame } from '../wire/frame.js';
import { decodePayload } from '../wire/payload.js';
import { batchResultEntries, type BatchEntry } from '../wire/task-frame.js';

export type ResultOutcome = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: MiraiError };

/** The outcome a Result frame carries; a promise when a plugin serializer decodes asynchronously. */
export function readResult(f: Frame, serializers: readonly Serializer[]): ResultOutcome | Promise<ResultOutcome> {
  const isError = (f.flags & FrameFlag.Error) !== 0;
  if ((f.flags & FrameFlag.Batch) !== 0 && !isError) return readChunk(f, serializers);
  let decoded: unknown;
  try {
    decoded = decodePayload(f.segments, 0, serializers);
  } catch (err) {
    return failed(f.id, err);
  }
  if (decoded instanceof Promise) {
    return decoded.then(
      (value: unknown) => outcome(f.id, value, isError),
      (err: unknown) => failed(f.id, err),
    );
  }
  return outcome(f.id, decoded, isError);
}

function outcome(taskId: number, decoded: unknown, isError: boolean): ResultOutcome {
  if (!isError) return { ok: true, value: decoded };
  try {
    return { ok: false, error: fromErrorRecord(decoded) };
  } catch (err) {
    return failed(taskId, err);
  }
}

function failed(taskId: number, err: unknown): ResultOutcome {
  return { ok: false, error: isMiraiError(err) ? err : new DeserializationError(`the result of task ${taskId} could not be decoded`, err) };
}

/**
 * A chunk's Result (flag Batch): its value is one {@link ResultOutcome} per item, in item
 * order, each decoded on its own so one item's bad bytes fail only that item.
 */
function readChunk(f: Frame, serializers: readonly Serializer[]): ResultOutcome | Promise<ResultOutcome> {
  let entries: BatchEntry[];
  try {
    entries = batchResultEntries(f);
  } catch (err) {
    return failed(f.id, err);
  }
  if (entries[0]?.whole === true) return readWholeChunk(f, entries[0].start, serializers);
  const items = entries.map(({ start, error }): ResultOutcome | Promise<ResultOutcome> => {
    let decoded: unknown;
    try {
      decoded = decodePayload(f.segments, start, serializers);
    } catch (err) {
      return failed(f.id, err);
    }
    if (decoded instanceof Promise) return decoded.then((v: unknown) => outcome(f.id, v, error), (err: unknown) => failed(f.id, err));
    return outcome(f.id, decoded, error);
  });
  if (items.some((o) => o instanceof Promise)) return Promise.all(items).then((value) => ({ ok: true, value }));
  return { ok: true, value: items };
}

/** A chunk whose items all succeeded, sent as one array of values: one outcome per element. */
function readWholeChunk(f: Frame, start: number, serializers: readonly Serializer[]): ResultOutcome | Promise<ResultOutcome> {
  const split = (values: unknown): ResultOutcome => {
    if (!Array.isArray(values)) return failed(f.id, new DeserializationError(`the result of chunk ${f.id} is not an array of item values`));
    // Every item takes at least a byte: a longer array is a sparse one, whose length alone a
    // peer sends in a few bytes (2^32 - 1 items would be allocated below).
    const bytes = segmentBytes(f.segments);
    if (values.length > bytes) {
      return failed(f.id, new DeserializationError(`the result of chunk ${f.id} claims ${values.length} items in ${bytes} bytes`));
    }
    const items = new Array<ResultOutcome>(values.length);
    for (let i = 0; i < values.length; i++) items[i] = { ok: true, value: values[i] };
    return { ok: true, value: items };
  };
  let decoded: unknown;
  try {
    decoded = decodePayload(f.segments, start, serializers);
  } catch (err) {
    return failed(f.id, err);
  }
  return decoded instanceof Promise ? decoded.then(split, (err: unknown) => failed(f.id, err)) : split(decoded);
}
