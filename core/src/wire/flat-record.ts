/**
 * Flat records, and large arrays alone, in V8's serialization format, written and read without
 * V8's serializer.
 *
 * A task's arguments are almost always an object literal of a few scalars, short strings and
 * arrays (`mirai(fn, { n, label, x })`), and so are many results. V8's serializer costs a
 * native object per payload on each side (about 4 µs to encode and 3 µs to decode such an
 * object, warm) and, after a large array arrived, tens of µs: the payload path is cold then.
 * These functions write the bytes V8 would (any V8 can read them, so a peer without this path
 * decodes them as before) and read them back, for the shapes below; anything else returns
 * undefined (write) or NOT_FLAT (read), and the caller takes V8's path. The reader checks every
 * tag, length and count against the bytes before it allocates: a hostile peer's bytes fall
 * back to V8's reader, which fails them with its own error.
 *
 * A flat record: a plain object (prototype Object.prototype) of at most MAX_KEYS own
 * enumerable string keys, none an array index or `__proto__`, each at most MAX_CHARS Latin-1
 * characters, whose values are numbers, booleans, null, undefined, Latin-1 strings of at most
 * MAX_CHARS characters, or typed arrays large enough to travel out of band (the payload's host
 * objects), not a Proxy. An own getter is read once here and, if the record falls back, once
 * more by V8. A payload that is one such array alone (a task that returns an array) is the same
 * host object without the record around it.
 */
import { types } from 'node:util';
import v8 from 'node:v8';

/** Most keys of a record written here; a bigger object takes V8's path. */
export const MAX_KEYS = 64;
/** Longest key or string value written or read here, in characters. */
export const MAX_CHARS = 1024;

/** What readFlatValue returns for bytes it does not read (the caller takes V8's path). */
export const NOT_FLAT: unique symbol = Symbol('not a flat record');

/** V8's serialization tags (v8/src/objects/value-serializer.cc). */
const enum Tag {
  Int32 = 0x49, // 'I' zigzag varint
  Double = 0x4e, // 'N' 8 bytes, host order
  True = 0x54, // 'T'
  False = 0x46, // 'F'
  Null = 0x30, // '0'
  Undefined = 0x5f, // '_'
  OneByteString = 0x22, // '"' varint length, Latin-1 bytes
  HostObject = 0x5c, // '\' then the delegate's bytes
  BeginObject = 0x6f, // 'o'
  EndObject = 0x7b, // '{' varint property count
}

/** The payload's host-object record for an out-of-band array: kind, view type, segment (see payload.ts). */
const OUT_OF_BAND_KIND = 1;

/** V8's header (0xFF, format version) as this process's V8 writes it: the same bytes its serializer would. */
const HEADER = ((): Uint8Array => {
  const probe = v8.serialize(null);
  return probe.subarray(0, probe.byteLength - 1);
})();

/** Whether this machine stores numbers little-endian, as V8's doubles travel from x86 and ARM: the fast paths need it. */
export const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
/** A double's 8 bytes go through these (no Buffer per value). */
const doubleScratch = new Float64Array(1);
const doubleBytes = new Uint8Array(doubleScratch.buffer);

/** The double in `bytes` at `at`, in this machine's order (the caller checked the 8 bytes are there). */
export function readDouble(bytes: Uint8Array, at: number): number {
  for (let b = 0; b < 8; b++) doubleBytes[b] = bytes[at + b]!;
  return doubleScratch[0]!;
}
const LATIN1_ONLY = /^[\0-\xff]*$/;
const ARRAY_INDEX = /^(?:0|[1-9]\d*)$/;

/** Whether V8 writes `key` as a one-byte string key (not a number: an array index is written as one). */
function plainKey(key: string): boolean {
  if (key.length > MAX_CHARS || key === '__proto__' || !LATIN1_ONLY.test(key)) return false;
  return !(ARRAY_INDEX.test(key) && Number(key) < 4294967295);
}

function varintBytes(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5;
}

function isInt32(n: number): boolean {
  return (n | 0) === n && !Object.is(n, -0);
}

/**
 * The skeleton V8 would write for `record`, its out-of-band arrays appended to `outOfBand`
 * (as views of their bytes) with `outOfBandType` giving each array's type index (-1: not out
 * of band); undefined if `record` is not a flat record (nothing appended).
 */
export function writeFlatRecord(record: object, outOfBandType: (value: unknown) => number, outOfBand: Uint8Array[]): Uint8Array | undefined {
  // A Proxy passes for a plain object here, but V8 refuses to clone one: so must this.
  if (!LITTLE_ENDIAN || Object.getPrototypeOf(record) !== Object.prototype || types.isProxy(record)) return undefined;
  const keys = Object.keys(record);
  if (keys.length > MAX_KEYS) return undefined;
  for (let i = 0; i < keys.length; i++) if (!plainKey(keys[i]!)) return undefined;
  const values = new Array<unknown>(keys.length);
  const viewTypes = new Array<number>(keys.length);
  let size = HEADER.byteLength + 1 + 1 + varintBytes(keys.length);
  let views = 0;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    const value = (record as Record<string, unknown>)[key];
    values[i] = value;
    size += 1 + varintBytes(key.length) + key.length;
    switch (typeof value) {
      case 'number':
        size += isInt32(value) ? 1 + varintBytes(((value << 1) ^ (value >> 31)) >>> 0) : 9;
        break;
      case 'boolean':
      case 'undefined':
        size += 1;
        break;
      case 'string':
        if (value.length > MAX_CHARS || !LATIN1_ONLY.test(value)) return undefined;
        size += 1 + varintBytes(value.length) + value.length;
        break;
      case 'object': {
        if (value === null) {
          size += 1;
          break;
        }
        const type = outOfBandType(value);
        if (type < 0) return undefined;
        viewTypes[i] = type;
        size += 1 + varintBytes(OUT_OF_BAND_KIND) + varintBytes(type) + varintBytes(outOfBand.length + views);
        views++;
        break;
      }
      default:
        return undefined;
    }
  }
  // From Node's pool, as the scalar skeletons: no memory outside the heap per payload, and a
  // Buffer a socket writes as it is.
  const out = Buffer.allocUnsafe(size);
  out.set(HEADER);
  let at = HEADER.byteLength;
  const varint = (n: number): void => {
    while (n >= 0x80) {
      out[at++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    out[at++] = n;
  };
  const latin1 = (s: string): void => {
    varint(s.length);
    for (let c = 0; c < s.length; c++) out[at++] = s.charCodeAt(c);
  };
  out[at++] = Tag.BeginObject;
  for (let i = 0; i < keys.length; i++) {
    out[at++] = Tag.OneByteString;
    latin1(keys[i]!);
    const value = values[i];
    if (typeof value === 'number') {
      if (isInt32(value)) {
        out[at++] = Tag.Int32;
        varint(((value << 1) ^ (value >> 31)) >>> 0);
      } else {
        out[at++] = Tag.Double;
        doubleScratch[0] = value;
        out.set(doubleBytes, at);
        at += 8;
      }
    } else if (typeof value === 'string') {
      out[at++] = Tag.OneByteString;
      latin1(value);
    } else if (value === true) out[at++] = Tag.True;
    else if (value === false) out[at++] = Tag.False;
    else if (value === undefined) out[at++] = Tag.Undefined;
    else if (value === null) out[at++] = Tag.Null;
    else {
      const view = value as ArrayBufferView;
      out[at++] = Tag.HostObject;
      varint(OUT_OF_BAND_KIND);
      varint(viewTypes[i]!);
      varint(outOfBand.length);
      outOfBand.push(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
    }
  }
  out[at++] = Tag.EndObject;
  varint(keys.length);
  return out;
}

/** writeOutOfBandView's skeletons, by type: the same bytes for every array of a type, shared by the payloads. */
const outOfBandViews: Uint8Array[] = [];

/** The skeleton V8 would write for one out-of-band array of VIEW_TYPES index `typeIndex` alone (its segment 0). */
export function writeOutOfBandView(typeIndex: number): Uint8Array {
  const known = outOfBandViews[typeIndex];
  if (known !== undefined) return known;
  const out = (outOfBandViews[typeIndex] = Buffer.alloc(HEADER.byteLength + 4));
  out.set(HEADER);
  let at = HEADER.byteLength;
  out[at++] = Tag.HostObject;
  out[at++] = OUT_OF_BAND_KIND;
  out[at++] = typeIndex; // < 0x80: one varint byte
  out[at++] = 0;
  return out;
}

/**
 * The value in `skeleton` if it is a flat record, or one out-of-band array alone, that this
 * reader knows (its arrays made by `view(typeIndex, segmentIndex)`, which returns NOT_FLAT for a
 * reference it cannot resolve), else NOT_FLAT.
 */
export function readFlatValue(skeleton: Uint8Array, view: (typeIndex: number, segmentIndex: number) => unknown): unknown {
  const end = skeleton.byteLength;
  if (!LITTLE_ENDIAN || end < HEADER.byteLength + 3) return NOT_FLAT;
  for (let i = 0; i < HEADER.byteLength; i++) if (skeleton[i] !== HEADER[i]) return NOT_FLAT;
  let at = HEADER.byteLength;
  const first = skeleton[at++];
  if (first !== Tag.BeginObject && first !== Tag.HostObject) return NOT_FLAT;
  /** A varint of at most 5 bytes within the skeleton, or -1. */
  const varint = (): number => {
    let n = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (at >= end) return -1;
      const b = skeleton[at++]!;
      n += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return n <= 0xffffffff ? n : -1;
    }
    return -1;
  };
  /** An out-of-band array (after its HostObject tag) from `view`, or NOT_FLAT. */
  const hostObject = (): unknown => {
    const kind = varint();
    const type = varint();
    const segment = varint();
    return kind !== OUT_OF_BAND_KIND || type < 0 || segment < 0 ? NOT_FLAT : view(type, segment);
  };
  if (first === Tag.HostObject) {
    const value = hostObject();
    return at === end ? value : NOT_FLAT;
  }
  /** A Latin-1 string of at most MAX_CHARS within the skeleton, or undefined. */
  const latin1 = (): string | undefined => {
    const length = varint();
    if (length < 0 || length > MAX_CHARS || length > end - at) return undefined;
    let s = '';
    for (let c = 0; c < length; c++) s += String.fromCharCode(skeleton[at++]!);
    return s;
  };
  const record: Record<string, unknown> = {};
  let count = 0;
  while (at < end) {
    const tag = skeleton[at++];
    if (tag === Tag.EndObject) {
      const written = varint();
      return written === count && at === end ? record : NOT_FLAT;
    }
    if (tag !== Tag.OneByteString || count >= MAX_KEYS) return NOT_FLAT;
    const key = latin1();
    // V8 writes array indices as numbers; one written as a string would make a different object here.
    if (key === undefined || !plainKey(key)) return NOT_FLAT;
    let value: unknown;
    switch (skeleton[at++]) {
      case Tag.Int32: {
        const zigzag = varint();
        if (zigzag < 0) return NOT_FLAT;
        value = (zigzag >>> 1) ^ -(zigzag & 1);
        break;
      }
      case Tag.Double:
        if (end - at < 8) return NOT_FLAT;
        value = readDouble(skeleton, at);
        at += 8;
        break;
      case Tag.True:
        value = true;
        break;
      case Tag.False:
        value = false;
        break;
      case Tag.Null:
        value = null;
        break;
      case Tag.Undefined:
        value = undefined;
        break;
      case Tag.OneByteString:
        value = latin1();
        if (value === undefined) return NOT_FLAT;
        break;
      case Tag.HostObject:
        value = hostObject();
        if (value === NOT_FLAT) return NOT_FLAT;
        break;
      default:
        return NOT_FLAT;
    }
    // A key seen twice: V8 keeps the last value and counts both, and so does this.
    record[key] = value;
    count++;
  }
  return NOT_FLAT;
}
