/**
 * Task frames. Segments:
 *   [0] function source (UTF-8), or a module reference (JSON) with the ModuleRef flag
 *   [1] parameter table: u32 segment count of each parameter's payload
 *   [2…] each parameter's payload, one after another (see payload.ts)
 *   then, in this order, each only with its flag:
 *   - Batch: the function segment (segment 0 is then a refusal stub, see below);
 *   - TraceContext: W3C trace context (JSON);
 *   - Stream: the task's random stream (16 bytes, see random-stream.ts), always last.
 *   Daemons that predate a flag ignore its segment: the parameter table says where the
 *   payloads end.
 *
 * Parameters are encoded separately so a map's shared `args` is encoded once and its
 * buffers are reused by every task frame.
 */
import { ConfigError, DeserializationError } from '../errors.js';
import { frame, FrameFlag, jsonSegment, readJsonSegment, textSegment, type Frame, type FrameType } from './frame.js';
import { decodePayload, encodePayload } from './payload.js';
import type { Serializer } from '../serializer.js';
import { isModuleFunction, type ModuleFunction } from '../task.js';
import { functionSource } from './function-source.js';
import { readStreamSegment, streamSegment, type StreamState } from './random-stream.js';
import { isTraceparent, TRACEPARENT_CHARS, type TraceContext } from '../trace-context.js';

/** What a task frame may carry beside its function and parameters. */
export interface TaskExtras {
  /** The task's random stream (a profile with a seed). */
  readonly stream?: StreamState | undefined;
  /** The task is an element of a `miraiMap()` (the daemon refuses local `daemons(n)` in it). */
  readonly inMap?: boolean | undefined;
  /** W3C trace context to send with the task (from a tracing adapter's provider). */
  readonly trace?: TraceContext | undefined;
  /** The frame is a chunk of a map (flag Batch): its first parameter is the array of items. */
  readonly batch?: boolean | undefined;
}

/** A parameter: its value and its name in error messages, or segments encoded earlier. */
export type TaskParam = { readonly value: unknown; readonly name: string } | { readonly encoded: readonly Uint8Array[] };

/**
 * Function segments by identity, for long sources only. A task is usually a fresh closure per
 * call (`mirai(() => work())` in a loop): a weak entry per closure costs more (the entry, and
 * GC work on weak tables) than finding its segment by text, so short sources go by text alone.
 */
const functionSegments = new WeakMap<Function, Uint8Array>();
/** Sources at least this long are also cached by identity: hashing them costs more than the entry. */
const IDENTITY_CACHE_CHARS = 512;
/** By source text: fresh closures of the same code share one segment. */
const textSegments = new Map<string, Uint8Array>();

function segmentForText(text: string, fn: Function): Uint8Array {
  let head = textSegments.get(text);
  if (head === undefined) {
    head = textSegment(functionSource(fn));
    if (textSegments.size >= 256) textSegments.delete(textSegments.keys().next().value as string);
    textSegments.set(text, head);
  }
  return head;
}

/** The segment naming the function: its source, or a module reference (with {@link functionFlags}). */
export function functionSegment(fn: Function | ModuleFunction): Uint8Array {
  if (typeof fn === 'function') {
    let head = functionSegments.get(fn);
    if (head === undefined) {
      const text = Function.prototype.toString.call(fn);
      head = segmentForText(text, fn);
      if (text.length >= IDENTITY_CACHE_CHARS) functionSegments.set(fn, head);
    }
    return head;
  }
  if (isModuleFunction(fn)) return jsonSegment({ module: fn.module, export: fn.export });
  throw new ConfigError(`fn must be a function or fromModule(...), got ${fn === null ? 'null' : typeof fn}`);
}

/** The frame flags that go with {@link functionSegment}: ModuleRef for `fromModule()`. */
export function functionFlags(fn: Function | ModuleFunction): number {
  return typeof fn === 'function' ? 0 : FrameFlag.ModuleRef;
}

/** What a daemon that predates the Batch flag runs instead of a chunk: a clear refusal. */
const BATCH_REFUSAL = 'this daemon does not support chunked maps (frame flag Batch); upgrade @mirai-ts/core where the daemons run, or map without `chunk`';
const batchStub = textSegment(`() => { throw new Error(${JSON.stringify(BATCH_REFUSAL)}); }`);
const batchModuleStub = jsonSegment({ module: `data:text/javascript,throw new Error(${encodeURIComponent(JSON.stringify(BATCH_REFUSAL))})`, export: 'refused' });

/**
 * Builds a task frame. With `batch`, the frame is a chunk of a map (flag Batch): its first
 * parameter is the array of items, and the function travels last, after a refusal stub.
 * Synchronous unless a plugin serializer is async; throws a SerializationError naming the
 * parameter path when a value cannot be sent.
 */
export function buildTaskFrame(
  type: FrameType,
  id: number,
  fn: Function | ModuleFunction,
  params: readonly TaskParam[],
  serializers: readonly Serializer[],
  extras: TaskExtras = {},
): Frame | Promise<Frame> {
  const head = functionSegment(fn);
  const fnFlags = functionFlags(fn);
  const { stream, trace } = extras;
  const batch = extras.batch === true;
  const flags =
    fnFlags |
    (stream === undefined ? 0 : FrameFlag.Stream) |
    (extras.inMap === true ? FrameFlag.InMap : 0) |
    (trace === undefined ? 0 : FrameFlag.TraceContext) |
    (batch ? FrameFlag.Batch : 0);
  // Loops, not map/some with closures: this runs for every task.
  const encoded = new Array<readonly Uint8Array[] | Promise<readonly Uint8Array[]>>(params.length);
  let pending = false;
  for (let i = 0; i < params.length; i++) {
    const p = params[i]!;
    const e = 'encoded' in p ? p.encoded : encodePayload(p.value, serializers, p.name);
    if (e instanceof Promise) pending = true;
    encoded[i] = e;
  }
  if (pending) return Promise.all(encoded).then((parts) => assemble(type, id, flags, head, parts, extras));
  return assemble(type, id, flags, head, encoded as (readonly Uint8Array[])[], extras);
}

/** The task frame from its encoded parameters (see {@link buildTaskFrame}). */
function assemble(type: FrameType, id: number, flags: number, head: Uint8Array, parts: readonly (readonly Uint8Array[])[], extras: TaskExtras): Frame {
  const { stream, trace } = extras;
  const batch = (flags & FrameFlag.Batch) !== 0;
  // Sized exactly: pushing would over-allocate, and a million queued tasks hold their lists.
  let count = 2 + (batch ? 1 : 0) + (stream === undefined ? 0 : 1) + (trace === undefined ? 0 : 1);
  // Indexed loops: for-of here was left unoptimised and allocated an iterator result per task.
  for (let p = 0; p < parts.length; p++) count += parts[p]!.length;
  const segments = new Array<Uint8Array>(count);
  segments[0] = !batch ? head : (flags & FrameFlag.ModuleRef) !== 0 ? batchModuleStub : batchStub;
  segments[1] = paramTable(parts);
  let i = 2;
  for (let p = 0; p < parts.length; p++) {
    const part = parts[p]!;
    for (let k = 0; k < part.length; k++) segments[i++] = part[k]!;
  }
  if (batch) segments[i++] = head;
  if (trace !== undefined) segments[i++] = traceSegment(trace);
  if (stream !== undefined) segments[i] = streamSegment(stream);
  return frame(type, id, segments, flags);
}

/** Parameter tables repeat (a map's tasks all have the same shape): share them. */
const tables = new Map<string, Uint8Array>();
/** The table of one parameter of n segments, by n (most tasks: `args` alone). */
const singleTables = Array.from({ length: 16 }, (_, n) => new Uint8Array(new Uint32Array([n]).buffer));

function paramTable(parts: readonly (readonly Uint8Array[])[]): Uint8Array {
  if (parts.length === 1 && parts[0]!.length < singleTables.length) return singleTables[parts[0]!.length]!;
  const key = parts.map((p) => p.length).join(',');
  let table = tables.get(key);
  if (table === undefined) {
    const counts = new Uint32Array(parts.map((p) => p.length));
    table = new Uint8Array(counts.buffer);
    if (tables.size < 64) tables.set(key, table);
  }
  return table;
}

/** Daemon side: the parameters of a task frame. Synchronous unless a plugin decoder is async. */
export function decodeTaskParams(f: Frame, serializers: readonly Serializer[]): unknown[] | Promise<unknown[]> {
  const tableSegment = f.segments[1];
  if (tableSegment === undefined || tableSegment.byteLength % 4 !== 0) throw new DeserializationError('task frame has no parameter table');
  const n = tableSegment.byteLength >>> 2;
  // Every parameter has segments of its own: a longer table is malformed (checked before allocating).
  if (n > f.segments.length - 2) throw new DeserializationError(`task frame parameter table lists ${n} parameters for ${f.segments.length - 2} segments`);
  const values = new Array<unknown>(n);
  let pending = false;
  let start = 2;
  for (let i = 0; i < n; i++) {
    const at = 4 * i;
    const count = (tableSegment[at]! | (tableSegment[at + 1]! << 8) | (tableSegment[at + 2]! << 16) | (tableSegment[at + 3]! << 24)) >>> 0;
    if (start + count > f.segments.length) throw new DeserializationError('task frame parameter table is out of range');
    // Payload references are relative to its first segment; later parameters' segments
    // after it are never referenced, so no slice is needed.
    const value = decodePayload(f.segments, start, serializers);
    if (value instanceof Promise) pending = true;
    values[i] = value;
    start += count;
  }
  return pending ? Promise.all(values) : values;
}

/** Daemon side: the task's random stream, when it has one (a profile with a seed). */
export function readTaskStream(f: Frame): StreamState | undefined {
  if ((f.flags & FrameFlag.Stream) === 0) return undefined;
  const stream = readStreamSegment(f.segments[f.segments.length - 1]);
  if (stream === undefined) throw new DeserializationError('task frame has a malformed random stream segment');
  return stream;
}

/**
 * A trace context as a frame segment: 26 bytes, the `traceparent` fields in binary (version,
 * 16-byte trace id, 8-byte parent id, flags), then `tracestate` as UTF-8 if any. Binary, not
 * JSON: it is on every traced task's path, on both sides.
 */
export function traceSegment(trace: TraceContext): Uint8Array {
  const { traceparent, tracestate } = trace;
  const state = tracestate === undefined || tracestate === '' ? 0 : Buffer.byteLength(tracestate);
  const out = Buffer.allocUnsafe(TRACE_BYTES + state);
  // traceparent is checked on the host (traceContextFor): vv-<32 hex>-<16 hex>-ff, lowercase.
  // Hex pairs read in one loop, not four hex writes of four slices (5x faster, per task).
  let at = 0;
  for (let i = 0; i < TRACEPARENT_CHARS; i += 2) {
    if (i === 2 || i === 35 || i === 52) i++; // the dashes
    out[at++] = (hexDigit(traceparent.charCodeAt(i)) << 4) | hexDigit(traceparent.charCodeAt(i + 1));
  }
  if (state > 0) out.write(tracestate!, TRACE_BYTES, 'utf8');
  return out;
}


/** The value of a lowercase hex digit's char code; 0 for anything else (never sent: checked before). */
function hexDigit(code: number): number {
  if (code >= 48 && code <= 57) return code - 48;
  if (code >= 97 && code <= 102) return code - 87;
  return 0;
}

const TRACE_BYTES = 26;
const JSON_OPEN_BRACE = 0x7b;

/** Daemon side: the trace context a task frame carries, if any (malformed context is dropped). */
export function readTraceContext(f: Frame): TraceContext | undefined {
  if ((f.flags & FrameFlag.TraceContext) === 0) return undefined;
  // The stream segment, when there is one, comes last.
  const segment = f.segments[f.segments.length - 1 - ((f.flags & FrameFlag.Stream) === 0 ? 0 : 1)];
  if (segment === undefined) return undefined;
  // Hosts before the binary form sent JSON `{ traceparent, tracestate? }`.
  if (segment[0] === JSON_OPEN_BRACE) return readJsonTraceContext(segment);
  if (segment.byteLength < TRACE_BYTES) return undefined;
  const bytes = Buffer.from(segment.buffer, segment.byteOffset, segment.byteLength);
  // One hex conversion, then slices (four conversions cost about 3x as much).
  const hex = bytes.toString('hex', 0, TRACE_BYTES);
  const traceparent = `${hex.slice(0, 2)}-${hex.slice(2, 34)}-${hex.slice(34, 50)}-${hex.slice(50, 52)}`;
  if (segment.byteLength === TRACE_BYTES) return { traceparent };
  return { traceparent, tracestate: bytes.toString('utf8', TRACE_BYTES) };
}

function readJsonTraceContext(segment: Uint8Array): TraceContext | undefined {
  try {
    const ctx = readJsonSegment<TraceContext>(segment);
    if (!isTraceparent(ctx?.traceparent)) return undefined;
    return typeof ctx.tracestate === 'string' ? { traceparent: ctx.traceparent, tracestate: ctx.tracestate } : { traceparent: ctx.traceparent };
  } catch {
    return undefined;
  }
}

/** The segment naming a task's function: the first, or in a chunk (flag Batch) the one after the parameters. */
export function taskFunctionSegment(f: Frame): Uint8Array | undefined {
  if ((f.flags & FrameFlag.Batch) === 0) return f.segments[0];
  const trailing = ((f.flags & FrameFlag.Stream) === 0 ? 0 : 1) + ((f.flags & FrameFlag.TraceContext) === 0 ? 0 : 1);
  return f.segments[f.segments.length - 1 - trailing];
}

/**
 * A chunk's Result (flag Batch): segment 0 holds one u32 per item, its payload's segment
 * count with the top bit set when the payload is an error record; the payloads follow. When
 * every item succeeded, the daemon may instead send one entry with bit 30 set: its payload is
 * an array of every item's value, one encoding for the whole chunk.
 */
export const BATCH_ERROR_BIT = 0x8000_0000;
/** See {@link BATCH_ERROR_BIT}: the entry's payload is the array of all the items' values. */
export const BATCH_WHOLE_BIT = 0x4000_0000;

/** Daemon side: one Result payload of a chunk from each item's encoded value or error. */
export function batchResultSegments(items: readonly { readonly segments: readonly Uint8Array[]; readonly error: boolean }[]): Uint8Array[] {
  const table = new Uint32Array(items.length);
  const segments: Uint8Array[] = [new Uint8Array(table.buffer)];
  items.forEach((item, i) => {
    table[i] = (item.segments.length | (item.error ? BATCH_ERROR_BIT : 0)) >>> 0;
    for (const s of item.segments) segments.push(s);
  });
  return segments;
}

/** Daemon side: a chunk's Result whose payload (`segments`) is the array of every item's value. */
export function batchWholeSegments(segments: readonly Uint8Array[]): Uint8Array[] {
  const table = new Uint32Array([(segments.length | BATCH_WHOLE_BIT) >>> 0]);
  return [new Uint8Array(table.buffer), ...segments];
}

/** One entry of a chunk's Result: where its payload starts, and what it holds. */
export interface BatchEntry {
  readonly start: number;
  readonly error: boolean;
  /** The payload is the array of all the items' values (the only entry then). */
  readonly whole: boolean;
}

/** Host side: where each item's payload starts in a chunk's Result, and whether it is an error. */
export function batchResultEntries(f: Frame): BatchEntry[] {
  const tableSegment = f.segments[0];
  if (tableSegment === undefined || tableSegment.byteLength % 4 !== 0) throw new DeserializationError('chunk result has no item table');
  const table = new DataView(tableSegment.buffer, tableSegment.byteOffset, tableSegment.byteLength);
  const n = tableSegment.byteLength / 4;
  const entries: BatchEntry[] = [];
  let start = 1;
  for (let i = 0; i < n; i++) {
    const word = table.getUint32(4 * i, true);
    const count = word & ~(BATCH_ERROR_BIT | BATCH_WHOLE_BIT);
    const whole = (word & BATCH_WHOLE_BIT) !== 0;
    if (count === 0 || start + count > f.segments.length) throw new DeserializationError('chunk result item table is out of range');
    if (whole && (n !== 1 || (word & BATCH_ERROR_BIT) !== 0)) throw new DeserializationError('chunk result item table mixes a whole-chunk entry with others');
    entries.push({ start, error: (word & BATCH_ERROR_BIT) !== 0, whole });
    start += count;
  }
  return entries;
}
