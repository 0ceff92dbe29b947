/**
 * How a frame travels as one MessagePort message, and the checks a received one passes
 * before anything is allocated for it: its shape, then its segment count and byte total
 * against the receive limits.
 */
import { isSharedSegment, segmentBytes, type Frame, type FrameLimits } from '@mirai-ts/core/daemon';

/** Segments at least this big are moved with `transfer`; smaller ones cost less to copy. */
export const TRANSFER_MIN_BYTES = 64 * 1024;
/** Frames up to this size travel packed in one string (see postedFrame). */
const PACK_MAX_BYTES = 4096;

/**
 * A frame as posted. A small one, packed: [type, flags, id, bytes as latin1, ...segment
 * lengths] (flat: a nested array costs about a µs more to clone). A large one: [type, flags,
 * id, entries, small bytes as latin1], each entry a large segment or the length of a small one
 * in the string: a small segment copied into an ArrayBuffer of its own would allocate memory
 * outside the heap, and V8 answers that with a young-generation collection while a large
 * array (just received, say) is young: milliseconds per frame.
 */
export type Posted = (number | string)[] | [number, number, number, (Uint8Array | number)[], string];

/** A frame as one message, and the buffers to move with it (`transfer`). */
export function postedFrame(f: Frame, transfer: boolean): { message: Posted; moved: ArrayBuffer[] | undefined } {
  const segments = f.segments;
  const total = segmentBytes(segments);
  if (total <= PACK_MAX_BYTES) {
    // Small frame (every task and result of small work): cloning a string costs a third of
    // cloning a typed array, so its bytes travel as one string of char codes 0-255.
    // latin1 maps each byte to the char code of the same value, natively both ways.
    const packed = Buffer.allocUnsafe(total);
    const message = new Array<number | string>(4 + segments.length);
    message[0] = f.type;
    message[1] = f.flags;
    message[2] = f.id;
    let at = 0;
    for (let i = 0; i < segments.length; i++) {
      const s = segments[i]!;
      packed.set(s, at);
      at += s.byteLength;
      message[4 + i] = s.byteLength;
    }
    message[3] = packed.toString('latin1', 0, total);
    return { message, moved: undefined };
  }
  let moved: ArrayBuffer[] | undefined;
  let small = 0;
  for (let i = 0; i < segments.length; i++) if (segments[i]!.byteLength <= PACK_MAX_BYTES) small += segments[i]!.byteLength;
  const packed = Buffer.allocUnsafe(small);
  let at = 0;
  const entries = new Array<Uint8Array | number>(segments.length);
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i]!;
    if (s.byteLength <= PACK_MAX_BYTES) {
      packed.set(s, at);
      at += s.byteLength;
      entries[i] = s.byteLength;
      continue;
    }
    const whole = s.byteOffset === 0 && s.byteLength === s.buffer.byteLength && s.buffer instanceof ArrayBuffer;
    // A segment other frames carry too (a map's args, everywhere()) is copied: a move would
    // leave them nothing to send.
    if (transfer && whole && s.byteLength >= TRANSFER_MIN_BYTES && !isSharedSegment(s) && !(moved ?? []).includes(s.buffer as ArrayBuffer)) {
      (moved ??= []).push(s.buffer as ArrayBuffer);
      entries[i] = s;
    } else {
      // A view into a bigger buffer would clone all of it: copy just the view.
      entries[i] = whole ? s : s.slice();
    }
  }
  return { message: [f.type, f.flags, f.id, entries, packed.toString('latin1', 0, small)], moved };
}

/** Why a received message is not a frame within the limits, or the frame. */
export function receivedFrame(message: unknown, limits: FrameLimits | undefined): Frame | string {
  if (!Array.isArray(message) || message.length < 4) return 'a message that is not a frame';
  const type: unknown = message[0];
  const flags: unknown = message[1];
  const id: unknown = message[2];
  const body: unknown = message[3];
  if (!isUint32(type) || !isUint32(flags) || !isUint32(id)) return 'a frame with a bad type, flags or id';
  const maxSegments = limits?.maxSegments ?? Infinity;
  const maxBytes = limits?.maxFrameBytes ?? Infinity;
  if (typeof body === 'string') {
    const count = message.length - 4;
    if (count > maxSegments) return `a frame over the limits (${count} segments, at most ${maxSegments})`;
    let sum = 0;
    for (let i = 4; i < message.length; i++) {
      const n: unknown = message[i];
      if (!isUint32(n)) return 'a packed frame with a bad segment length';
      sum += n;
    }
    if (sum !== body.length) return `a packed frame whose lengths (${sum} bytes) do not match its bytes (${body.length})`;
    if (sum > maxBytes) return `a frame over the limits (${sum} bytes, at most ${maxBytes})`;
    const packed = Buffer.from(body, 'latin1');
    const segments = new Array<Uint8Array>(count);
    let at = 0;
    for (let i = 0; i < count; i++) {
      const n = message[4 + i] as number;
      segments[i] = packed.subarray(at, at + n);
      at += n;
    }
    return { type: type as Frame['type'], flags, id, segments };
  }
  const text: unknown = message[4];
  if (message.length !== 5 || !Array.isArray(body) || typeof text !== 'string') return 'a frame without segments';
  if (body.length > maxSegments) return `a frame over the limits (${body.length} segments, at most ${maxSegments})`;
  let bytes = 0;
  let small = 0;
  for (const s of body as unknown[]) {
    if (s instanceof Uint8Array) bytes += s.byteLength;
    else if (isUint32(s)) small += s;
    else return 'a frame with a segment that is neither bytes nor a length';
  }
  if (small !== text.length) return `a frame whose small segments (${small} bytes) do not match its bytes (${text.length})`;
  if (bytes + small > maxBytes) return `a frame over the limits (${bytes + small} bytes, at most ${maxBytes})`;
  const packed = small === 0 ? undefined : Buffer.from(text, 'latin1');
  const segments = new Array<Uint8Array>(body.length);
  let at = 0;
  for (let i = 0; i < body.length; i++) {
    const s = body[i] as Uint8Array | number;
    if (typeof s === 'number') {
      segments[i] = packed === undefined ? new Uint8Array(0) : packed.subarray(at, at + s);
      at += s;
    } else segments[i] = s;
  }
  return { type: type as Frame['type'], flags, id, segments };
}

/** Whether a value read from a message is a u32 (a type, id, length or sequence number). */
export function isUint32(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff;
}
