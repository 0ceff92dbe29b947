/**
 * Reading a daemon's answer: a Result frame's payload becomes the task's value, or, with the
 * Error flag, a rebuilt error. Never throws: whatever the bytes hold, the outcome is a value
 * or a typed error for that one task.
 */
import { DeserializationError, isMiraiError, type MiraiError } from '../errors.js';
import type { Serializer } from '../serializer.js';
import { fromErrorRecord } from '../wire/error-record.js';
import { FrameFlag, type Frame } from '../wire/frame.js';
import { decodePayload } from '../wire/payload.js';

export type ResultOutcome = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: MiraiError };

/** The outcome a Result frame carries; a promise when a plugin serializer decodes asynchronously. */
export function readResult(f: Frame, serializers: readonly Serializer[]): ResultOutcome | Promise<ResultOutcome> {
  const isError = (f.flags & FrameFlag.Error) !== 0;
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
