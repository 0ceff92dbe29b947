/**
 * Errors crossing the wire. V8 serialization keeps an error's name, message, stack and
 * cause but drops own properties such as `code`; a record keeps them all.
 */
import {
  DeserializationError,
  isMiraiError,
  MiraiError,
  SerializationError,
  TaskError,
  type MiraiErrorKind,
} from '../errors.js';
import { explainReferenceError, TASK_SOURCE_URL } from './function-source.js';

/** A serializable description of a thrown value. */
export interface ErrorRecord {
  name: string;
  message: string;
  stack?: string;
  /** Constructor names along the prototype chain, most derived first. */
  classes: string[];
  /** Own enumerable properties that could be serialized. */
  props: Record<string, unknown>;
  cause?: ErrorRecord;
  /** Set when the thrown value was not an Error: the value itself (if serializable). */
  thrown?: unknown;
  /** Set when the error was a MiraiError produced on the daemon (e.g. a deserialization failure). */
  miraiKind?: string;
}

const RESERVED = new Set(['name', 'message', 'stack', 'cause', 'kind', 'errorValue', 'retryable', 'remoteClass']);

/** Builds a record from anything thrown. `canSerialize` filters property values. */
export function toErrorRecord(thrown: unknown, canSerialize: (v: unknown) => boolean, depth = 0): ErrorRecord {
  if (!(thrown instanceof Error)) {
    const text = safeString(thrown);
    return {
      name: 'Error',
      message: `the task threw a non-Error value: ${text}`,
      classes: [],
      props: {},
      ...(canSerialize(thrown) ? { thrown } : {}),
    };
  }
  const classes: string[] = [];
  for (let p = Object.getPrototypeOf(thrown); p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    const name = p.constructor?.name;
    if (typeof name === 'string' && name !== '') classes.push(name);
  }
  let message = String(thrown.message);
  if (thrown instanceof ReferenceError) message = explainReferenceError(message) ?? message;
  const props: Record<string, unknown> = {};
  for (const key of Object.keys(thrown)) {
    if (RESERVED.has(key)) continue;
    const value = (thrown as unknown as Record<string, unknown>)[key];
    if (canSerialize(value)) props[key] = value;
  }
  const record: ErrorRecord = { name: String(thrown.name), message, classes, props };
  if (typeof thrown.stack === 'string') {
    const stack = message === thrown.message ? thrown.stack : thrown.stack.replace(thrown.message, message);
    record.stack = withoutDaemonFrames(stack);
  }
  if (thrown.cause !== undefined && depth < 8) record.cause = toErrorRecord(thrown.cause, canSerialize, depth + 1);
  if (isMiraiError(thrown)) record.miraiKind = thrown.kind;
  return record;
}

/**
 * The package's code: frames from here are the daemon's, not the task's. One level up from
 * this module is `core/` when built (dist/) and `src/` when run from source.
 */
const OWN_CODE = new URL('..', import.meta.url).href;

/**
 * Cuts a stack at the first frame of the daemon's own code: what called the task is noise
 * to its author. The task's frames (and what they called) are kept.
 */
export function withoutDaemonFrames(stack: string): string {
  const lines = stack.split('\n');
  const cut = lines.findIndex((line) => /^\s+at /.test(line) && line.includes(OWN_CODE) && !line.includes(TASK_SOURCE_URL));
  return cut < 0 ? stack : lines.slice(0, cut).join('\n');
}

/**
 * Rebuilds the error on the host from a record: a {@link TaskError} for what the task threw,
 * or the same MiraiError class for a failure of mirai-ts itself on the daemon (a value that
 * could not be decoded there, say).
 */
export function fromErrorRecord(record: ErrorRecord): MiraiError {
  const cause = record.cause === undefined ? undefined : fromErrorRecord(record.cause);
  let err: MiraiError;
  if (record.miraiKind === 'deserialize') err = new DeserializationError(record.message, cause);
  else if (record.miraiKind === 'serialize') {
    err = new SerializationError(record.message, typeof record.props.path === 'string' ? record.props.path : '', cause);
  } else if (record.miraiKind !== undefined && record.miraiKind !== 'task') {
    err = new MiraiError(record.miraiKind as MiraiErrorKind, record.message, { cause });
  } else err = new TaskError(record.message, record.classes, cause);
  Object.defineProperty(err, 'name', { value: record.name, configurable: true, writable: true, enumerable: false });
  if (record.stack !== undefined) {
    Object.defineProperty(err, 'stack', { value: record.stack, configurable: true, writable: true, enumerable: false });
  }
  for (const [key, value] of Object.entries(record.props)) {
    if (!RESERVED.has(key)) (err as unknown as Record<string, unknown>)[key] = value;
  }
  if ('thrown' in record) (err as unknown as Record<string, unknown>).thrown = record.thrown;
  return err;
}

function safeString(value: unknown): string {
  try {
    return typeof value === 'string' ? JSON.stringify(value) : String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}
