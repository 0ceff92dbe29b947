/**
 * A single-producer single-consumer ring of frames in a SharedArrayBuffer: how small frames
 * cross between a host and a daemon thread without `postMessage` (whose structured clone and
 * message event cost several µs per frame on each side).
 *
 * Layout: RING_HEADER_BYTES of Int32 words (see HEAD ... COUNT), then `capacity` bytes of
 * records. HEAD and TAIL count bytes written and read (wrapping Int32s; `capacity` is a power
 * of two below 2^31, so `(head - tail) | 0` is what the ring holds and `head & (capacity - 1)`
 * where the next record starts). A record is 4-byte aligned: a u32 length, a u32 sequence
 * number, then a frame as core's codec encodes it (`encodeFrame`), padded to 4 bytes. A record
 * that does not fit before the end of the data is written at its start, after a WRAP length
 * word. The writer copies a record in, then publishes it by storing HEAD; the reader reads it,
 * then frees it by storing TAIL (Atomics: the plain byte writes before a store are visible
 * after a load that sees it).
 *
 * The ring is written by the peer, so nothing read from it is trusted: every length and count
 * is checked against what the ring holds and the receive limits before anything is allocated
 * (see {@link Ring.read}); a bad one is a reason string, and the channel fails.
 */
import { encodeFrame, FRAME_HEADER_BYTES, FRAME_MAGIC, type Frame, type FrameLimits } from '@mirai-ts/core/daemon';

/** Ring bytes per channel direction. */
export const RING_BYTES = 64 * 1024;
/** Frames whose segments total at most this many bytes go through the ring; larger ones by `postMessage`. */
export const RING_MAX_FRAME_BYTES = 4096;
/** Bytes of Int32 words before the data. */
export const RING_HEADER_BYTES = 16;
/** Bytes written (wrapping). */
export const HEAD = 0;
/** Bytes read (wrapping). */
export const TAIL = 1;
/** What the reader does (ReaderState): tells a writer how to wake it. */
export const STATE = 2;
/** Bumped (and notified) to wake a reader in `Atomics.wait`. */
export const COUNT = 3;
/** A record's length word meaning "the rest of the data is unused: the next record is at its start". */
const WRAP = 0xffffffff;
/** Length and sequence words before a record's frame. */
const RECORD_HEADER_BYTES = 8;

/** What the reader does, in its STATE word: reading, or sure to read the ring again before it sleeps (writers need not wake it). */
export const ACTIVE = 0;
/** STATE: the reader is in its event loop; a writer wakes it with a message on the port. */
export const LOOP = 1;
/** STATE: the reader is in `Atomics.wait` on COUNT; a writer bumps COUNT and notifies. */
export const WAIT = 2;

const pad4 = (n: number): number => (n + 3) & ~3;

/** One end's view of a ring: the reader's inbound ring, or the writer's view of its peer's. */
export class Ring {
  /** The header words. */
  readonly words: Int32Array;
  private readonly data: Buffer;
  private readonly mask: number;

  /**
   * @param buffer - RING_HEADER_BYTES plus a power of two of data bytes (a new ring when
   *   omitted). A buffer from the peer is checked by {@link Ring.from}.
   */
  constructor(readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(RING_HEADER_BYTES + RING_BYTES)) {
    this.words = new Int32Array(buffer, 0, RING_HEADER_BYTES / 4);
    this.data = Buffer.from(buffer, RING_HEADER_BYTES);
    this.mask = this.data.length - 1;
  }

  /** The ring a peer sent, or why it is not one. */
  static from(value: unknown): Ring | string {
    if (!(value instanceof SharedArrayBuffer)) return 'a ring that is not a SharedArrayBuffer';
    const capacity = value.byteLength - RING_HEADER_BYTES;
    if (capacity < 1024 || capacity > 2 ** 30 || (capacity & (capacity - 1)) !== 0) return `a ring of ${value.byteLength} bytes (not ${RING_HEADER_BYTES} + a power of two)`;
    return new Ring(value);
  }

  /** Data bytes. */
  get capacity(): number {
    return this.data.length;
  }

  /**
   * Writes a frame as record `seq` and publishes it; false, writing nothing, when it does not
   * fit in the free space (the caller sends it another way).
   */
  write(f: Frame, seq: number): boolean {
    const chunks = encodeFrame(f);
    let bytes = 0;
    for (let i = 0; i < chunks.length; i++) bytes += chunks[i]!.byteLength;
    const words = this.words;
    const head = Atomics.load(words, HEAD);
    const used = (head - Atomics.load(words, TAIL)) | 0;
    const need = RECORD_HEADER_BYTES + pad4(bytes);
    // The peer can write the words too: a count that makes no sense is a full ring here (the
    // frame goes by the port; the reader finds its own ring corrupt), never a write out of bounds.
    if (used < 0 || used > this.data.length || (head & 3) !== 0) return false;
    let at = head & this.mask;
    let skip = 0;
    if (at + need > this.data.length) skip = this.data.length - at;
    if (skip + need > this.data.length - used) return false;
    const data = this.data;
    if (skip > 0) {
      data.writeUInt32LE(WRAP, at);
      at = 0;
    }
    data.writeUInt32LE(bytes, at);
    data.writeUInt32LE(seq >>> 0, at + 4);
    at += RECORD_HEADER_BYTES;
    for (let i = 0; i < chunks.length; i++) {
      data.set(chunks[i]!, at);
      at += chunks[i]!.byteLength;
    }
    Atomics.store(words, HEAD, (head + skip + need) | 0);
    return true;
  }

  /** The sequence number of the next record, undefined when the ring is empty, or why the ring is corrupt. */
  next(): number | undefined | string {
    const words = this.words;
    const tail = Atomics.load(words, TAIL);
    const used = (Atomics.load(words, HEAD) - tail) | 0;
    if (used === 0) return undefined;
    if (used < 0 || used > this.data.length || (used & 3) !== 0) return `a ring holding ${used} bytes (capacity ${this.data.length})`;
    if ((tail & 3) !== 0) return `a ring read up to ${tail}, not a record boundary`;
    let at = tail & this.mask;
    let length = this.data.readUInt32LE(at);
    if (length === WRAP) {
      const skip = this.data.length - at;
      if (skip >= used) return 'a ring whose wrap marker is its last record';
      // Frees the skipped end at once, so the record after it is next.
      Atomics.store(words, TAIL, (tail + skip) | 0);
      at = 0;
      length = this.data.readUInt32LE(0);
      if (length === WRAP) return 'a ring with two wrap markers in a row';
    }
    return this.data.readUInt32LE(at + 4);
  }

  /**
   * Takes the next record (after {@link Ring.next} gave its sequence number) as a frame within
   * `limits`, or why it is not one (the ring is then left as it is: the channel fails).
   */
  read(limits: FrameLimits | undefined): Frame | string {
    const words = this.words;
    const tail = Atomics.load(words, TAIL);
    const used = (Atomics.load(words, HEAD) - tail) | 0;
    const data = this.data;
    const at = tail & this.mask;
    const bytes = data.readUInt32LE(at);
    const need = RECORD_HEADER_BYTES + pad4(bytes);
    if (bytes < FRAME_HEADER_BYTES || need > used || at + need > data.length) return `a ring record of ${bytes} bytes (the ring holds ${used})`;
    const start = at + RECORD_HEADER_BYTES;
    if (data[start] !== FRAME_MAGIC || data.readUInt32LE(start + 12) !== 0) return 'a ring record that is not a frame';
    const count = data.readUInt32LE(start + 8);
    const maxSegments = limits?.maxSegments ?? Infinity;
    if (count > maxSegments) return `a frame over the limits (${count} segments, at most ${maxSegments})`;
    const body = FRAME_HEADER_BYTES + 4 * count;
    if (body > bytes) return `a ring record of ${bytes} bytes too short for ${count} segment lengths`;
    let sum = 0;
    for (let i = 0; i < count; i++) sum += data.readUInt32LE(start + FRAME_HEADER_BYTES + 4 * i);
    if (body + sum !== bytes) return `a ring record whose segment lengths (${sum} bytes) do not match its size (${bytes - body})`;
    const maxBytes = limits?.maxFrameBytes ?? Infinity;
    if (sum > maxBytes) return `a frame over the limits (${sum} bytes, at most ${maxBytes})`;
    // One copy out of the shared memory (the writer reuses it once TAIL moves); segments are views of it.
    const copy = Buffer.from(data.subarray(start + body, start + bytes));
    const segments = new Array<Uint8Array>(count);
    let from = 0;
    for (let i = 0; i < count; i++) {
      const n = data.readUInt32LE(start + FRAME_HEADER_BYTES + 4 * i);
      segments[i] = copy.subarray(from, from + n);
      from += n;
    }
    const f: Frame = { type: data[start + 1] as Frame['type'], flags: data.readUInt16LE(start + 2), id: data.readUInt32LE(start + 4), segments };
    Atomics.store(words, TAIL, (tail + need) | 0);
    return f;
  }
}
