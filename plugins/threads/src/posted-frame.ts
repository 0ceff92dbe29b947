/**
 * How a frame travels as one MessagePort message, and the checks a received one passes
 * before anything is allocated for it: its shape, then its segment count and byte total
 * against the receive limits.
 */
import type { Frame, FrameLimits } from '@mirai-ts/core/plugin';

/** Segments at least this big are moved with `transfer`; smaller ones cost less to copy. */
export const TRANSFER_MIN_BYTES = 64 * 1024;
/** Frames up to this size travel packed in one string (see postedFrame). */
const PACK_MAX_BYTES = 4096;

/** A frame as posted: [type, flags, id, segments], or a small one packed: [type, flags, id, bytes as latin1, segment lengths]. */
export type Posted = [number, number, number, Uint8Array[]] | [number, number, number, string, number[]];

/** A frame as one message, and the buffers to move with it (`transfer`). */
export function postedFrame(f: Frame, transfer: boolean): { message: Posted; moved: ArrayBuffer[] | undefined } {
  const segments = f.segments;
  let total = 0;
  for (let i = 0; i < segments.length; i++) total += segments[i]!.byteLength;
  if (total <= PACK_MAX_BYTES) {
    // Small frame (every task and result of small work): cloning a string costs a third of
    // cloning a typed array, so its bytes travel as one string of char codes 0-255.
    // latin1 maps each byte to the char code of the same value, natively both ways.
    const packed = Buffer.allocUnsafe(total);
    const lengths = new Array<number>(segments.length);
    let at = 0;
    for (let i = 0; i < segments.length; i++) {
      const s = segments[i]!;
      packed.set(s, at);
      at += s.byteLength;
      lengths[i] = s.byteLength;
    }
    return { message: [f.type, f.flags, f.id, packed.toString('latin1', 0, total), lengths], moved: undefined };
  }
  let moved: ArrayBuffer[] | undefined;
  const out = new Array<Uint8Array>(segments.length);
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i]!;
    const whole = s.byteOffset === 0 && s.byteLength === s.buffer.byteLength && s.buffer instanceof ArrayBuffer;
    if (transfer && whole && s.byteLength >= TRANSFER_MIN_BYTES && !(moved ?? []).includes(s.buffer as ArrayBuffer)) {
      (moved ??= []).push(s.buffer as ArrayBuffer);
      out[i] = s;
    } else {
      // A view into a bigger buffer (a pooled Buffer) would clone all of it: copy just the view.
      out[i] = whole ? s : s.slice();
    }
  }
  return { message: [f.type, f.flags, f.id, out], moved };
}

/** Why a received message is not a frame within the limits, or the frame. */
export function receivedFrame(message: unknown, limits: FrameLimits | undefined): Frame | string {
  if (!Array.isArray(message) || (message.length !== 4 && message.length !== 5)) return 'a message that is not a frame';
  const [type, flags, id, body, lengths] = message as unknown[];
  if (!isUint32(type) || !isUint32(flags) || !isUint32(id)) return 'a frame with a bad type, flags or id';
  const maxSegments = limits?.maxSegments ?? Infinity;
  const maxBytes = limits?.maxFrameBytes ?? Infinity;
  if (message.length === 5) {
    if (typeof body !== 'string' || !Array.isArray(lengths)) return 'a packed frame without its bytes or lengths';
    if (lengths.length > maxSegments) return `a frame over the limits (${lengths.length} segments, at most ${maxSegments})`;
    let sum = 0;
    for (const n of lengths) {
      if (!isUint32(n)) return 'a packed frame with a bad segment length';
      sum += n;
    }
    if (sum !== body.length) return `a packed frame whose lengths (${sum} bytes) do not match its bytes (${body.length})`;
    if (sum > maxBytes) return `a frame over the limits (${sum} bytes, at most ${maxBytes})`;
    const packed = Buffer.from(body, 'latin1');
    const segments = new Array<Uint8Array>(lengths.length);
    let at = 0;
    for (let i = 0; i < lengths.length; i++) {
      const n = lengths[i] as number;
      segments[i] = packed.subarray(at, at + n);
      at += n;
    }
    return { type: type as Frame['type'], flags, id, segments };
  }
  if (!Array.isArray(body)) return 'a frame without segments';
  if (body.length > maxSegments) return `a frame over the limits (${body.length} segments, at most ${maxSegments})`;
  let bytes = 0;
  for (const s of body) {
    if (!(s instanceof Uint8Array)) return 'a frame with a segment that is not bytes';
    bytes += s.byteLength;
  }
  if (bytes > maxBytes) return `a frame over the limits (${bytes} bytes, at most ${maxBytes})`;
  return { type: type as Frame['type'], flags, id, segments: body as Uint8Array[] };
}

function isUint32(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff;
}
