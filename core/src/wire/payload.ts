/**
 * Payload encoding: a value → segments, and back.
 *
 * Segments of a payload:
 *   [0] V8 structured-serialization skeleton
 *   [1] table of plugin-encoded values (JSON; empty when there are none)
 *   [2…] out-of-band buffers: large typed arrays and plugin bytes, sent as they are
 *
 * Typed arrays of at least {@link OUT_OF_BAND_BYTES} never get copied into the skeleton:
 * the serializer records a reference and the bytes go to the socket by gather write; the
 * receiver gets them back as views of the received segment.
 */
import v8 from 'node:v8';
import { DeserializationError, SerializationError } from '../errors.js';
import { LITTLE_ENDIAN, NOT_FLAT, readDouble, readFlatValue, writeFlatRecord, writeOutOfBandView } from './flat-record.js';
import { jsonSegment, readJsonSegment } from './frame.js';
import { claimant, type EncodedValue, type Serializer } from '../serializer.js';

export const OUT_OF_BAND_BYTES = 32 * 1024;

const VIEW_TYPES = [
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  DataView,
  Buffer,
  BigInt64Array,
  BigUint64Array,
] as const;
type ViewCtor = (typeof VIEW_TYPES)[number];

/** Host-object record kinds written before Node's own record. */
const enum HostKind {
  Inline = 0,
  OutOfBand = 1,
  Plugin = 2,
}

/** Stand-in for a plugin-claimed value inside the skeleton (V8 hands views to `_writeHostObject`). */
class PluginSlot extends Uint8Array {
  constructor(readonly entry: number) {
    super(0);
  }
}

interface TableEntry {
  /** Serializer tag. */
  t: string;
  /** Where the value sat, for error messages. */
  p: string;
  /** First out-of-band segment index (relative to the payload's segment 2). */
  s: number;
  /** Number of segments. */
  n: number;
}

/** Node's DefaultSerializer hooks, which @types/node does not declare. */
interface HostObjectHooks {
  _writeHostObject(object: object): void;
  _readHostObject(): unknown;
}
const baseWriteHostObject = (v8.DefaultSerializer.prototype as unknown as HostObjectHooks)._writeHostObject;
const baseReadHostObject = (v8.DefaultDeserializer.prototype as unknown as HostObjectHooks)._readHostObject;

/** Where a value sent out of band sits in VIEW_TYPES: a typed array, Buffer or DataView of at least OUT_OF_BAND_BYTES; else -1. */
function outOfBandType(value: unknown): number {
  if (!ArrayBuffer.isView(value) || value.byteLength < OUT_OF_BAND_BYTES) return -1;
  return value instanceof Buffer ? 10 : VIEW_TYPES.indexOf(value.constructor as ViewCtor);
}

class PayloadSerializer extends v8.DefaultSerializer {
  readonly outOfBand: Uint8Array[] = [];

  _writeHostObject(object: object): void {
    if (object instanceof PluginSlot) {
      this.writeUint32(HostKind.Plugin);
      this.writeUint32(object.entry);
      return;
    }
    const typeIndex = outOfBandType(object);
    if (typeIndex >= 0) {
      const view = object as ArrayBufferView;
      this.writeUint32(HostKind.OutOfBand);
      this.writeUint32(typeIndex);
      this.writeUint32(this.outOfBand.length);
      this.outOfBand.push(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
      return;
    }
    this.writeUint32(HostKind.Inline);
    baseWriteHostObject.call(this, object);
  }
}

class PayloadDeserializer extends v8.DefaultDeserializer {
  /**
   * Aligned copies of misaligned segments, by index, made once: a peer's skeleton may name one
   * segment many times, and a copy per reference would turn a small frame into gigabytes.
   */
  private readonly aligned = new Map<number, Uint8Array>();

  constructor(
    skeleton: Uint8Array,
    private readonly outOfBand: readonly Uint8Array[],
    private readonly pluginValues: readonly unknown[],
  ) {
    super(Buffer.from(skeleton.buffer, skeleton.byteOffset, skeleton.byteLength));
  }

  _readHostObject(): unknown {
    const kind = this.readUint32();
    if (kind === HostKind.Inline) return baseReadHostObject.call(this);
    if (kind === HostKind.Plugin) return this.pluginValues[this.readUint32()];
    if (kind !== HostKind.OutOfBand) throw new Error(`unknown host object kind ${kind}`);
    const typeIndex = this.readUint32();
    const index = this.readUint32();
    const segment = this.outOfBand[index];
    const ctor = VIEW_TYPES[typeIndex];
    if (segment === undefined || ctor === undefined) throw new Error('out-of-band reference out of range');
    return this.viewOf(ctor, segment, index);
  }

  private viewOf(ctor: ViewCtor, segment: Uint8Array, index: number): unknown {
    return viewOf(ctor, segment, index, this.aligned);
  }
}

/**
 * A view of type `ctor` on out-of-band segment `index`. A segment misaligned in the receive
 * buffer is copied (a fresh buffer is aligned for every view type) once per decode, into
 * `aligned`: a peer's skeleton may name one segment many times, and a copy per reference would
 * turn a small frame into gigabytes.
 */
function viewOf(ctor: ViewCtor, segment: Uint8Array, index: number, aligned: Map<number, Uint8Array>): unknown {
  if (ctor === Buffer) return Buffer.from(segment.buffer, segment.byteOffset, segment.byteLength);
  if (ctor === DataView) return new DataView(segment.buffer, segment.byteOffset, segment.byteLength);
  const size = (ctor as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
  let source = segment;
  if (segment.byteOffset % size !== 0) {
    let copy = aligned.get(index);
    if (copy === undefined) {
      copy = new Uint8Array(segment.byteLength);
      copy.set(segment);
      aligned.set(index, copy);
    }
    source = copy;
  }
  return new (ctor as new (b: ArrayBufferLike, o: number, l: number) => unknown)(source.buffer, source.byteOffset, source.byteLength / size);
}

const EMPTY = new Uint8Array(0);
const NO_SEGMENTS: readonly Uint8Array[] = [];

/*
 * Scalars skip V8's serializer (a native object per call, costly to allocate and collect):
 * a skeleton whose first byte is not V8's version tag (0xFF) holds a number or a string.
 */
const SCALAR_NUMBER = 0x01;
const SCALAR_STRING = 0x02;

function numberSkeleton(value: number): Uint8Array {
  const out = Buffer.allocUnsafe(9);
  out[0] = SCALAR_NUMBER;
  out.writeDoubleLE(value, 1);
  return out;
}

const LONE_SURROGATE = /\p{Cs}/u;

/** Strings longer than this skip the UTF-8 scalar path (see encodePayload). */
const SCALAR_STRING_MAX_CHARS = 1 << 20;

function stringSkeleton(value: string): Uint8Array {
  const out = Buffer.allocUnsafe(1 + Buffer.byteLength(value));
  out[0] = SCALAR_STRING;
  out.write(value, 1);
  return out;
}

function readScalar(skeleton: Uint8Array): unknown {
  if (skeleton[0] === SCALAR_NUMBER && skeleton.byteLength === 9 && LITTLE_ENDIAN) return readDouble(skeleton, 1);
  const b = Buffer.from(skeleton.buffer, skeleton.byteOffset, skeleton.byteLength);
  if (b[0] === SCALAR_NUMBER && b.length === 9) return b.readDoubleLE(1);
  if (b[0] === SCALAR_STRING) return b.toString('utf8', 1);
  throw new DeserializationError(`payload starts with unknown tag 0x${b[0]?.toString(16)}`);
}

const NOT_PRIMITIVE = Symbol('not a primitive');
const primitiveValues = [undefined, null, true, false] as const;

/**
 * Payloads of undefined, null, true and false never change: encoded once, shared (frozen) by
 * every frame that carries one.
 */
const primitivePayloads = new Map<unknown, Uint8Array[]>(
  primitiveValues.map((value) => [value, Object.freeze([v8.serialize(value), EMPTY]) as Uint8Array[]]),
);

function primitivePayload(value: undefined | null | boolean): Uint8Array[] {
  return primitivePayloads.get(value)!;
}

/** Whether two (tiny) byte strings are equal. */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** undefined, null, true or false from their (tiny) V8 encodings, without a deserializer. */
function knownPrimitive(skeleton: Uint8Array): unknown {
  for (const value of primitiveValues) if (sameBytes(primitivePayloads.get(value)![0]!, skeleton)) return value;
  return NOT_PRIMITIVE;
}

/**
 * Encodes `value` into payload segments. Synchronous unless a plugin serializer is async.
 * Throws a {@link SerializationError} naming where the offending value sits (`rootName.a.b`).
 */
export function encodePayload(
  value: unknown,
  serializers: readonly Serializer[],
  rootName: string | readonly string[],
): Uint8Array[] | Promise<Uint8Array[]> {
  if (value === undefined || value === null || typeof value === 'boolean') return primitivePayload(value);
  if (typeof value === 'number') return [numberSkeleton(value), EMPTY];
  // UTF-8 cannot hold a lone surrogate: such strings take V8's path, which keeps them.
  // Long strings take V8's path, which keeps their one- or two-byte form: decoding a UTF-8
  // copy of a string of hundreds of millions of characters would exceed V8's string limit.
  if (typeof value === 'string' && value.length <= SCALAR_STRING_MAX_CHARS && !LONE_SURROGATE.test(value)) {
    return [stringSkeleton(value), EMPTY];
  }
  let root: unknown = value;
  let claimed: Claimed | undefined;
  if (serializers.length > 0) {
    claimed = claimValues(value, serializers, rootName);
    if (claimed.entries.length > 0) root = claimed.value;
  }
  if (root === value) {
    // One large array alone (a task that returns one), or the usual arguments: an object of
    // scalars, short strings and large arrays. Written in V8's bytes without its serializer
    // (flat-record.ts), whose returned buffer is memory outside the heap: allocating any while a
    // large array just arrived is held makes V8 check its external-memory limit again, which the
    // array passed, and collect right there (docs/performance.md, thread daemons).
    const typeIndex = outOfBandType(value);
    if (typeIndex >= 0) {
      const view = value as ArrayBufferView;
      return [writeOutOfBandView(typeIndex), EMPTY, new Uint8Array(view.buffer, view.byteOffset, view.byteLength)];
    }
    if (typeof value === 'object') {
      const outOfBand: Uint8Array[] = [];
      const skeleton = writeFlatRecord(value as object, outOfBandType, outOfBand);
      if (skeleton !== undefined) return outOfBand.length === 0 ? [skeleton, EMPTY] : [skeleton, EMPTY, ...outOfBand];
    }
  }
  const ser = new PayloadSerializer();
  ser.writeHeader();
  try {
    ser.writeValue(root);
  } catch (err) {
    // Search the value as V8 saw it (claimed values replaced), so a claimed value is never blamed.
    throw describeUnserializable(root, rootName, err);
  }
  const skeleton = ser.releaseBuffer();
  if (claimed === undefined || claimed.entries.length === 0) return [skeleton, EMPTY, ...ser.outOfBand];
  return finishClaimed(claimed, skeleton, ser.outOfBand);
}

/** Decodes payload segments starting at `start`. Synchronous unless a plugin decoder is async. */
export function decodePayload(
  segments: readonly Uint8Array[],
  start: number,
  serializers: readonly Serializer[],
): unknown {
  const skeleton = segments[start];
  const table = segments[start + 1];
  if (skeleton === undefined || table === undefined) throw new DeserializationError('payload is missing segments');
  if (table.byteLength === 0) {
    if (skeleton[0] !== 0xff) return readScalar(skeleton);
    if (skeleton.byteLength <= 4) {
      const primitive = knownPrimitive(skeleton);
      if (primitive !== NOT_PRIMITIVE) return primitive;
    }
    let aligned: Map<number, Uint8Array> | undefined;
    const flat = readFlatValue(skeleton, (type, index) => {
      const segment = segments[start + 2 + index];
      // What V8's reader would say of the same reference, without making one.
      if (segment === undefined) throw new DeserializationError('payload could not be deserialized: out-of-band reference out of range');
      const ctor = VIEW_TYPES[type];
      return ctor === undefined ? NOT_FLAT : viewOf(ctor, segment, index, (aligned ??= new Map()));
    });
    if (flat !== NOT_FLAT) return flat;
    return deserialize(skeleton, start === 0 && segments.length === 2 ? NO_SEGMENTS : segments.slice(start + 2), NO_SEGMENTS);
  }
  const outOfBand = segments.slice(start + 2);
  let entries: TableEntry[];
  try {
    entries = readJsonSegment<TableEntry[]>(table);
  } catch (err) {
    throw new DeserializationError('payload table is not valid JSON', err);
  }
  checkTable(entries, outOfBand.length);
  const values = entries.map((entry) => decodeEntry(entry, outOfBand, serializers));
  if (values.some((v) => v instanceof Promise)) {
    return Promise.all(values).then((resolved) => deserialize(skeleton, outOfBand.slice(pluginSegmentCount(entries)), resolved));
  }
  return deserialize(skeleton, outOfBand.slice(pluginSegmentCount(entries)), values);
}

/**
 * Checks a peer's plugin table before anything is decoded: each entry names its own run of
 * segments, back to back from the first, within what arrived. Entries naming the same bytes
 * would have them decoded once per entry (a serializer's copy each time: gigabytes from a
 * small frame).
 */
function checkTable(entries: unknown, segments: number): asserts entries is TableEntry[] {
  if (!Array.isArray(entries)) throw new DeserializationError('payload table is not an array');
  let next = 0;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i] as Partial<TableEntry> | null;
    const ok =
      typeof e === 'object' && e !== null && typeof e.t === 'string' && typeof e.p === 'string' && e.s === next && Number.isSafeInteger(e.n) && e.n! >= 0 && next + e.n! <= segments;
    if (!ok) throw new DeserializationError(`payload table entry ${i} is malformed or names segments another entry holds (segments ${next}.. of ${segments} expected)`);
    next += e.n!;
  }
}

function pluginSegmentCount(entries: readonly TableEntry[]): number {
  let n = 0;
  for (const e of entries) n += e.n;
  return n;
}

function deserialize(skeleton: Uint8Array, outOfBand: readonly Uint8Array[], pluginValues: readonly unknown[]): unknown {
  try {
    const des = new PayloadDeserializer(skeleton, outOfBand, pluginValues);
    des.readHeader();
    return des.readValue();
  } catch (err) {
    throw new DeserializationError(`payload could not be deserialized: ${(err as Error).message}`, err);
  }
}

function decodeEntry(entry: TableEntry, segments: readonly Uint8Array[], serializers: readonly Serializer[]): unknown {
  const serializer = serializers.find((s) => s.tag === entry.t);
  if (serializer === undefined) {
    throw new DeserializationError(
      `${entry.p} was encoded by serializer '${entry.t}', which this process does not have; ` +
        `register it on the profile: daemons(n, { serializers: [...] })`,
    );
  }
  const buffers = segments.slice(entry.s, entry.s + entry.n) as Uint8Array[];
  const fail = (err: unknown): never => {
    throw new DeserializationError(`serializer '${entry.t}' failed to decode ${entry.p}: ${(err as Error)?.message ?? err}`, err);
  };
  try {
    const out = serializer.decode(buffers);
    return out instanceof Promise ? out.catch(fail) : out;
  } catch (err) {
    return fail(err);
  }
}

// ---------------------------------------------------------------------------
// Plugin-claimed values: replaced by slots in a copy-on-write clone of the value.

interface Claimed {
  value: unknown;
  entries: { serializer: Serializer; value: unknown; path: string }[];
}

/** Path of element `i` of the root: `args` for a named root element, `items[3]` otherwise. */
function childPath(rootName: string | readonly string[], path: string, i: number, depth: number): string {
  if (depth === 0 && typeof rootName !== 'string') return rootName[i] ?? `[${i}]`;
  return `${path}[${i}]`;
}

function rootPath(rootName: string | readonly string[]): string {
  return typeof rootName === 'string' ? rootName : 'arguments';
}

function claimValues(value: unknown, serializers: readonly Serializer[], rootName: string | readonly string[]): Claimed {
  const entries: Claimed['entries'] = [];
  const slots = new Map<unknown, PluginSlot>();
  const clones = new Map<object, unknown>();
  /** Objects being walked, each with its copy once one exists. */
  const visiting = new Map<object, { copy?: unknown }>();

  const claim = (v: unknown, path: string, depth: number): unknown => {
    if (typeof v !== 'object' || v === null) return v;
    const slot = slots.get(v);
    if (slot !== undefined) return slot;
    const serializer = claimant(v, serializers);
    if (serializer !== undefined) {
      const fresh = new PluginSlot(entries.length);
      entries.push({ serializer, value: v, path });
      slots.set(v, fresh);
      return fresh;
    }
    if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer || v instanceof Date || v instanceof RegExp) return v;
    if (clones.has(v)) return clones.get(v);
    const walking = visiting.get(v);
    // A cycle back to an object still being walked: it may yet change, so the cycle must
    // point at its copy (made now) or claimed values inside the cycle would be sent as is.
    if (walking !== undefined) return (walking.copy ??= emptyCopy(v));
    const state: { copy?: unknown } = {};
    visiting.set(v, state);
    let result: unknown = v;
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const c = claim(v[i], childPath(rootName, path, i, depth), depth + 1);
        if (c !== v[i]) ((state.copy ??= v.slice()) as unknown[])[i] = c;
      }
      if (state.copy !== undefined) result = state.copy;
    } else if (v instanceof Map) {
      let changed = false;
      const pairs: [unknown, unknown][] = [];
      for (const [k, item] of v) {
        const ck = claim(k, `${path}.<map key>`, depth + 1);
        const c = claim(item, `${path}.get(${describeKey(k)})`, depth + 1);
        if (c !== item || ck !== k) changed = true;
        pairs.push([ck, c]);
      }
      if (changed || state.copy !== undefined) {
        const copy = (state.copy ?? new Map()) as Map<unknown, unknown>;
        for (const [k, c] of pairs) copy.set(k, c);
        result = copy;
      }
    } else if (v instanceof Set) {
      let changed = false;
      const items: unknown[] = [];
      for (const item of v) {
        const c = claim(item, `${path}.<set item>`, depth + 1);
        if (c !== item) changed = true;
        items.push(c);
      }
      if (changed || state.copy !== undefined) {
        const copy = (state.copy ?? new Set()) as Set<unknown>;
        for (const c of items) copy.add(c);
        result = copy;
      }
    } else if (!(v instanceof Error)) {
      for (const key of Object.keys(v)) {
        const item = (v as Record<string, unknown>)[key];
        const c = claim(item, `${path}.${key}`, depth + 1);
        if (c !== item) ((state.copy ??= { ...(v as Record<string, unknown>) }) as Record<string, unknown>)[key] = c;
      }
      if (state.copy !== undefined) result = state.copy;
    }
    visiting.delete(v);
    clones.set(v, result);
    return result;
  };

  const out = claim(value, rootPath(rootName), 0);
  return { value: out, entries };
}

/** A copy of a container to fill in: arrays and objects start as shallow copies, Maps and Sets empty. */
function emptyCopy(v: object): unknown {
  if (Array.isArray(v)) return v.slice();
  if (v instanceof Map) return new Map();
  if (v instanceof Set) return new Set();
  return { ...(v as Record<string, unknown>) };
}

function describeKey(key: unknown): string {
  return typeof key === 'string' ? JSON.stringify(key) : String(key);
}

function finishClaimed(
  claimed: Claimed,
  skeleton: Uint8Array,
  outOfBand: Uint8Array[],
): Uint8Array[] | Promise<Uint8Array[]> {
  const encoded = claimed.entries.map(({ serializer, value, path }) => {
    const fail = (err: unknown): never => {
      throw new SerializationError(
        `serializer '${serializer.tag}' failed to encode ${path}: ${(err as Error)?.message ?? err}`,
        path,
        err,
      );
    };
    try {
      const out = serializer.encode(value);
      return out instanceof Promise ? out.catch(fail) : out;
    } catch (err) {
      return fail(err);
    }
  });
  const assemble = (parts: EncodedValue[]): Uint8Array[] => {
    const table: TableEntry[] = [];
    const pluginSegments: Uint8Array[] = [];
    parts.forEach((part, i) => {
      const buffers = part instanceof Uint8Array ? [part] : [...part];
      const entry = claimed.entries[i]!;
      for (const b of buffers) {
        if (!(b instanceof Uint8Array)) {
          throw new SerializationError(
            `serializer '${entry.serializer.tag}' returned ${typeof b} for ${entry.path}; encode must return Uint8Array(s)`,
            entry.path,
          );
        }
      }
      table.push({ t: entry.serializer.tag, p: entry.path, s: pluginSegments.length, n: buffers.length });
      pluginSegments.push(...buffers);
    });
    return [skeleton, jsonSegment(table), ...pluginSegments, ...outOfBand];
  };
  if (encoded.some((e) => e instanceof Promise)) return Promise.all(encoded).then(assemble);
  return assemble(encoded as EncodedValue[]);
}

// ---------------------------------------------------------------------------
// Finding what could not be serialized, only after V8 refused.

function describeUnserializable(value: unknown, rootName: string | readonly string[], err: unknown): SerializationError {
  const found = findUnserializable(value, rootName, rootPath(rootName), new Set(), 0);
  // Inside an instance of a class (a server, a file handle) the culprit is the instance:
  // name it rather than one of its internals.
  const owner = found?.owner;
  const path = owner?.path ?? found?.path ?? rootPath(rootName);
  if (found !== undefined && isDetachedView(found.value)) {
    return new SerializationError(
      `Cannot serialize ${found.path}: a ${(found.value as object).constructor.name} whose buffer was detached: it was moved to another thread ` +
        '(sent before with transfer: true, or transferred by your own code), so it holds no bytes. Pass each task its own copy (x.slice())',
      found.path,
      err,
    );
  }
  const what = owner
    ? `${describeValue(owner.value)} (its ${found!.path.slice(owner.path.length + 1)} is ${describeValue(found!.value)})`
    : found
      ? describeValue(found.value)
      : 'a value';
  return new SerializationError(
    `Cannot serialize ${path}: ${what} cannot be sent to a daemon. ` +
      'Pass plain data; functions, symbols, promises and native handles must be created on the daemon.',
    path,
    err,
  );
}

/** Whether `value` is a view of a detached buffer (moved away by a transfer): V8 refuses to write it. */
export function isDetachedView(value: unknown): boolean {
  if (!ArrayBuffer.isView(value) || value.byteLength !== 0 || !(value.buffer instanceof ArrayBuffer)) return false;
  try {
    // `ArrayBuffer.prototype.detached` is Node 22's; constructing a view throws on Node 20 too.
    new Uint8Array(value.buffer, 0, 0);
    return false;
  } catch {
    return true;
  }
}

function isPlainContainer(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null || Array.isArray(value) || value instanceof Map || value instanceof Set;
}

function serializes(value: unknown): boolean {
  try {
    const ser = new PayloadSerializer();
    ser.writeHeader();
    ser.writeValue(value);
    return true;
  } catch {
    return false;
  }
}

interface Culprit {
  path: string;
  value: unknown;
  /** The outermost class instance on the way to the culprit, if any. */
  owner?: { path: string; value: unknown };
}

function findUnserializable(
  value: unknown,
  rootName: string | readonly string[],
  path: string,
  seen: Set<object>,
  depth: number,
): Culprit | undefined {
  if (typeof value === 'function' || typeof value === 'symbol') return { path, value };
  if (typeof value !== 'object' || value === null) return undefined;
  if (seen.has(value) || depth > 64) return undefined;
  seen.add(value);
  if (serializes(value)) return undefined;
  const children: [string, unknown][] = [];
  if (Array.isArray(value)) value.forEach((v, i) => children.push([childPath(rootName, path, i, depth), v]));
  else if (value instanceof Map) for (const [k, v] of value) children.push([`${path}.get(${describeKey(k)})`, v], [`${path}.<map key>`, k]);
  else if (value instanceof Set) for (const v of value) children.push([`${path}.<set item>`, v]);
  else for (const key of Object.keys(value)) children.push([`${path}.${key}`, (value as Record<string, unknown>)[key]]);
  for (const [nextPath, child] of children) {
    const found = findUnserializable(child, rootName, nextPath, seen, depth + 1);
    if (found) return isPlainContainer(value) ? found : { ...found, owner: { path, value } };
  }
  return { path, value };
}

function describeValue(value: unknown): string {
  if (typeof value === 'function') return `a function${value.name ? ` (${value.name})` : ''}`;
  if (typeof value === 'symbol') return `a symbol (${String(value.description ?? '')})`;
  // A mirai is a promise too (tagged 'Mirai'); either is sent by value once it has settled.
  if (value instanceof Promise) return `${Object.prototype.toString.call(value) === '[object Mirai]' ? 'a mirai' : 'a promise'} (await it and pass its value)`;
  if (typeof value === 'object' && value !== null) {
    const name = value.constructor?.name;
    return name && name !== 'Object' ? `a ${name} object` : 'an object';
  }
  return typeof value;
}
