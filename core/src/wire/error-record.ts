/**
 * Errors crossing the wire. V8 serialization keeps an error's name, message, stack and
 * cause but drops own properties such as `code`; a record keeps them all.
 */
import { fileURLToPath } from 'node:url';
import {
  AuthError,
  CancelledError,
  ConfigError,
  LaunchError,
  NoDaemonsError,
  ProtocolError,
  QueueFullError,
  ResultTooLargeError,
  ConnectionResetError,
  DeserializationError,
  isMiraiError,
  MiraiError,
  SerializationError,
  TaskError,
  TimeoutError,
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
  /** Set when the error was a MiraiError: its kind (a nested `mirai()` timing out, say). */
  miraiKind?: string;
  /**
   * Set when the daemon's own machinery failed (decoding the task's arguments, encoding its
   * result), not the task: the host then rebuilds the error as that MiraiError itself.
   */
  machinery?: boolean;
}

/** How deep a chain of causes travels (and is rebuilt): a cycle ends here too. */
const MAX_CAUSE_DEPTH = 8;

const RESERVED = new Set(['name', 'message', 'stack', 'cause', 'kind', 'errorValue', 'retryable', 'remoteClass']);

/** Builds a record from anything thrown. `canSerialize` filters property values. */
export function toErrorRecord(thrown: unknown, canSerialize: (v: unknown) => boolean, depth = 0): ErrorRecord {
  try {
    return recordOf(thrown, canSerialize, depth);
  } catch (err) {
    // A getter that throws (`message`, `stack`, a property): describe what can be described.
    return { name: 'Error', message: `the task threw an error that could not be read: ${safeString(err)}`, classes: [], props: {} };
  }
}

function recordOf(thrown: unknown, canSerialize: (v: unknown) => boolean, depth: number): ErrorRecord {
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
    // A MiraiError the task got from mirai-ts itself (a nested mirai() timing out, a nested
    // daemons() refused) was made inside the package: its frames are where it came from.
    record.stack = isMiraiError(thrown) ? stack : withoutDaemonFrames(stack);
  }
  if (thrown.cause !== undefined && depth < MAX_CAUSE_DEPTH) record.cause = toErrorRecord(thrown.cause, canSerialize, depth + 1);
  if (isMiraiError(thrown)) record.miraiKind = thrown.kind;
  return record;
}

/**
 * The package's code: frames from here are the daemon's, not the task's. One level up from
 * this module is `core/` when built (dist/) and `src/` when run from source, or the plugin's
 * directory in a bundle that carries core (a thread's worker.cjs). An ES module's frames name it
 * by URL, a CommonJS script's by path.
 */
const OWN_CODE_URL = new URL('..', import.meta.url);
const OWN_CODE = [OWN_CODE_URL.href, fileURLToPath(OWN_CODE_URL)];

/**
 * Cuts a stack at the first frame of the daemon's own code: what called the task is noise
 * to its author. The task's frames (and what they called) are kept.
 */
export function withoutDaemonFrames(stack: string): string {
  const lines = stack.split('\n');
  const cut = lines.findIndex((line) => /^\s+at /.test(line) && OWN_CODE.some((own) => line.includes(own)) && !line.includes(TASK_SOURCE_URL));
  return cut < 0 ? stack : lines.slice(0, cut).join('\n');
}

/** Own properties a record may not set: they would change the error's prototype or shape. */
const FORBIDDEN = new Set([...RESERVED, '__proto__', 'constructor', 'prototype']);

/**
 * Kinds rebuilt as their own classes (a nested mirai() timing out, a nested daemons() refused),
 * so `instanceof` works on the host. `serialize` and `deserialize` are built above.
 */
const KIND_CLASSES: Partial<Record<MiraiErrorKind, { prototype: MiraiError }>> = {
  timeout: TimeoutError,
  'connection-reset': ConnectionResetError,
  cancelled: CancelledError,
  config: ConfigError,
  'no-daemons': NoDaemonsError,
  launch: LaunchError,
  protocol: ProtocolError,
  auth: AuthError,
  'queue-full': QueueFullError,
  'result-too-large': ResultTooLargeError,
};

const KINDS: ReadonlySet<string> = new Set<MiraiErrorKind>([
  'task', 'timeout', 'connection-reset', 'cancelled', 'serialize', 'deserialize', 'no-daemons', 'launch',
  'protocol', 'auth', 'config', 'plugin', 'queue-full', 'result-too-large',
]);

/**
 * Rebuilds the error on the host from what a daemon sent, which is checked first: anything
 * that is not a well-formed record becomes a {@link DeserializationError}. The result is a
 * {@link TaskError} for what the task threw (with a MiraiError the task threw itself, from a
 * nested `mirai()`, as its cause in its own class), or the MiraiError of the daemon's own
 * machinery when that failed.
 */
export function fromErrorRecord(record: unknown): MiraiError {
  const checked = checkRecord(record, 0);
  if (typeof checked === 'string') return new DeserializationError(`the daemon sent a malformed error record: ${checked}`);
  if (checked.machinery && (checked.miraiKind === 'serialize' || checked.miraiKind === 'deserialize' || checked.miraiKind === 'result-too-large')) return rebuild(checked, 0);
  const err = rebuild(checked, 0);
  if (!isMiraiError(err) || err instanceof TaskError) return err;
  // A MiraiError the task itself threw: the task failed, because of it.
  return new TaskError(err.message, checked.classes, err);
}

function rebuild(record: ErrorRecord, depth: number): MiraiError {
  const cause = record.cause === undefined ? undefined : rebuild(record.cause, depth + 1);
  let err: MiraiError;
  const kind = record.miraiKind as MiraiErrorKind | undefined;
  if (kind === 'deserialize') err = new DeserializationError(record.message, cause);
  else if (kind === 'serialize') {
    err = new SerializationError(record.message, typeof record.props.path === 'string' ? record.props.path : '', cause);
  } else if (kind !== undefined && kind !== 'task') {
    const errorValue = kind === 'timeout' ? 5 : kind === 'connection-reset' ? 19 : kind === 'cancelled' ? 20 : undefined;
    const retryable = errorValue !== undefined ? errorValue !== 20 : kind === 'queue-full';
    err = new MiraiError(kind, record.message, { cause, retryable, ...(errorValue !== undefined ? { errorValue } : {}) });
    const cls = KIND_CLASSES[kind];
    if (cls !== undefined) Object.setPrototypeOf(err, cls.prototype);
  } else err = new TaskError(record.message, record.classes, cause);
  define(err, 'name', record.name, false);
  if (record.stack !== undefined) define(err, 'stack', record.stack, false);
  for (const key of Object.keys(record.props)) define(err, key, record.props[key], true);
  if ('thrown' in record) define(err, 'thrown', record.thrown, true);
  return err;
}

function define(target: object, key: string, value: unknown, enumerable: boolean): void {
  Object.defineProperty(target, key, { value, configurable: true, writable: true, enumerable });
}

/** The record if it is well-formed (cause chains cut at {@link MAX_CAUSE_DEPTH}), else what is wrong. */
function checkRecord(value: unknown, depth: number): ErrorRecord | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return `expected an object, got ${value === null ? 'null' : typeof value}`;
  const r = value as Record<string, unknown>;
  const name = typeof r.name === 'string' ? r.name : 'Error';
  if (typeof r.message !== 'string') return `'message' is ${typeof r.message}, not a string`;
  if (r.stack !== undefined && typeof r.stack !== 'string') return `'stack' is ${typeof r.stack}, not a string`;
  // Sliced first: a sparse array's length (2^32 - 1 in a few bytes) would make filter() walk every index.
  const classes = Array.isArray(r.classes) ? (r.classes as unknown[]).slice(0, 32).filter((c): c is string => typeof c === 'string') : [];
  const props: Record<string, unknown> = {};
  if (typeof r.props === 'object' && r.props !== null && !Array.isArray(r.props)) {
    for (const key of Object.keys(r.props)) if (!FORBIDDEN.has(key)) props[key] = (r.props as Record<string, unknown>)[key];
  }
  if (r.miraiKind !== undefined && !(typeof r.miraiKind === 'string' && KINDS.has(r.miraiKind))) return `unknown error kind ${safeString(r.miraiKind)}`;
  const record: ErrorRecord = { name, message: r.message, classes, props };
  if (r.stack !== undefined) record.stack = r.stack as string;
  if (r.miraiKind !== undefined) record.miraiKind = r.miraiKind as string;
  if (r.machinery === true) record.machinery = true;
  if ('thrown' in r) record.thrown = r.thrown;
  if (r.cause !== undefined && depth < MAX_CAUSE_DEPTH) {
    const cause = checkRecord(r.cause, depth + 1);
    if (typeof cause === 'string') return `cause: ${cause}`;
    record.cause = cause;
  }
  return record;
}

function safeString(value: unknown): string {
  try {
    return typeof value === 'string' ? JSON.stringify(value) : String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}
