/**
 * Frame codec for byte-stream transports (ipc, tcp, tls+tcp).
 *
 * Layout, little-endian (see docs/protocol.md):
 *   0  u8   magic 0xA7
 *   1  u8   type
 *   2  u16  flags
 *   4  u32  id
 *   8  u32  segment count n
 *   12 u32  reserved, 0
 *   16 u32 × n  segment lengths
 *   then the n segments, back to back
 *
 * Large segments are handed to the socket as they are (gather write), never copied into
 * a bigger frame buffer; the decoder gives each segment its own buffer or a view.
 */
import { ProtocolError } from '../errors.js';
import { FrameType, oversizedResult, type Frame, type FrameLimits } from './frame.js';

export const FRAME_MAGIC = 0xa7;
export const FRAME_HEADER_BYTES = 16;
/** Segments below this size are copied into the head buffer: one write instead of many. */
const INLINE_SEGMENT_BYTES = 16 * 1024;

/**
 * Encodes a frame as a list of chunks for a gather write: the header, the length table and
 * the small segments packed together, each large segment as it is (see encodeFrames).
 */
export function encodeFrame(frame: Frame): Uint8Array[] {
  return encodeFrames([frame]);
}

/**
 * Encodes frames back to back for one gather write (the frames a channel sends while it
 * handles a read): every header, length table and small segment is packed into one buffer,
 * and large segments are handed over as they are, in their place, never copied.
 */
export function encodeFrames(frames: readonly (Frame | undefined)[], count = frames.length): Uint8Array[] {
  let packedBytes = 0;
  for (let f = 0; f < count; f++) {
    const segments = frames[f]!.segments;
    packedBytes += FRAME_HEADER_BYTES + 4 * segments.length;
    for (let i = 0; i < segments.length; i++) {
      const len = segments[i]!.byteLength;
      if (len > 0xffffffff) throw new RangeError(`frame segment ${i} is ${len} bytes; the limit is 4 GiB - 1`);
      if (len < INLINE_SEGMENT_BYTES) packedBytes += len;
    }
  }
  const packed = Buffer.allocUnsafe(packedBytes);
  // Made only when a large segment splits the write: most writes are the packed buffer alone.
  let chunks: Uint8Array[] | undefined;
  let at = 0;
  /** Where the packed bytes not yet handed over as a chunk start. */
  let from = 0;
  for (let f = 0; f < count; f++) {
    const frame = frames[f]!;
    const segments = frame.segments;
    const n = segments.length;
    // Byte stores, not writeUInt32LE: the sizes are known to fit, and this runs per frame.
    packed[at] = FRAME_MAGIC;
    packed[at + 1] = frame.type;
    packed[at + 2] = frame.flags & 0xff;
    packed[at + 3] = (frame.flags >>> 8) & 0xff;
    putU32(packed, at + 4, frame.id >>> 0);
    putU32(packed, at + 8, n);
    putU32(packed, at + 12, 0);
    at += FRAME_HEADER_BYTES;
    for (let i = 0; i < n; i++) {
      putU32(packed, at, segments[i]!.byteLength);
      at += 4;
    }
    for (let i = 0; i < n; i++) {
      const segment = segments[i]!;
      if (segment.byteLength < INLINE_SEGMENT_BYTES) {
        packed.set(segment, at);
        at += segment.byteLength;
      } else {
        // A large segment goes out as it is, between what was packed before it and after it.
        chunks ??= [];
        if (at > from) chunks.push(packed.subarray(from, at));
        chunks.push(segment);
        from = at;
      }
    }
  }
  // No large segment: the packed buffer is the whole write (no view of it needed).
  if (chunks === undefined) return [packed];
  if (at > from) chunks.push(packed.subarray(from, at));
  return chunks;
}

/** Writes `value` (an unsigned 32-bit integer) little-endian at `at`. */
function putU32(b: Uint8Array, at: number, value: number): void {
  b[at] = value & 0xff;
  b[at + 1] = (value >>> 8) & 0xff;
  b[at + 2] = (value >>> 16) & 0xff;
  b[at + 3] = value >>> 24;
}

/**
 * Every empty segment decoded is this one view (a fresh empty Uint8Array costs an ArrayBuffer;
 * a result has one empty segment, its table of out-of-band parts). It has no bytes to change.
 */
const EMPTY_SEGMENT = new Uint8Array(0);
/** Length tables up to this many segments are reused by a decoder. */
const REUSED_LENGTHS = 64;

const enum State {
  Header,
  Lengths,
  Segment,
  /** Reading past the bytes of a result over `maxResultBytes` (see readLengths). */
  Skip,
}

/**
 * Incremental decoder: feed it socket chunks, it calls `onFrame` for each whole frame.
 * Violations of the layout or of the limits throw a {@link ProtocolError}; the caller
 * closes the connection.
 */
export class FrameDecoder {
  private limits: FrameLimits;
  private readonly onFrame: (frame: Frame) => void;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private state = State.Header;
  private type = 0;
  private flags = 0;
  private id = 0;
  private count = 0;
  private lengths: number[] = [];
  private segments: Uint8Array[] = [];
  private segmentIndex = 0;
  /** Buffer being filled for a segment that spans chunks. */
  private fill: Buffer | undefined;
  private fillOffset = 0;
  /** Bytes of an oversized result still to read past (State.Skip). */
  private skipping = 0;

  /**
   * @param copyChunks the caller reuses the chunks it pushes (a static read buffer): keep
   *   copies, never views.
   */
  constructor(
    limits: FrameLimits,
    onFrame: (frame: Frame) => void,
    private readonly copyChunks = false,
  ) {
    this.limits = limits;
    this.onFrame = onFrame;
  }

  /** Raise or lower the limits (after the handshake). */
  setLimits(limits: FrameLimits): void {
    this.limits = limits;
  }

  /**
   * Decodes the bytes `chunk[0, end)` (all of it by default); calls `onFrame` for each frame
   * they complete. A reader with one reused buffer passes it whole with the byte count, so no
   * view of it is made per read.
   */
  push(chunk: Buffer, end = chunk.length): void {
    let offset = 0;
    /**
     * With `copyChunks`: one copy of the rest of the chunk, made for its first whole segment;
     * every later segment in it is a view of that copy, not a copy of its own (a run of
     * prefetched tasks is one copy, not three per task).
     */
    let owned: Buffer | undefined;
    let ownedFrom = 0;
    while (offset < end) {
      if (this.state === State.Segment && this.fill === undefined && this.pendingBytes === 0) {
        // Fast path for segment bytes.
        const need = this.lengths[this.segmentIndex]!;
        const available = end - offset;
        if (available >= need) {
          if (!this.copyChunks) this.segments.push(chunk.subarray(offset, offset + need));
          else {
            if (owned === undefined) {
              // Copied in one native call: no view of the chunk made first.
              owned = Buffer.allocUnsafe(end - offset);
              chunk.copy(owned, 0, offset, end);
              ownedFrom = offset;
            }
            this.segments.push(owned.subarray(offset - ownedFrom, offset - ownedFrom + need));
          }
          offset += need;
          this.nextSegment();
          continue;
        }
        // The segment spans chunks: give it its own buffer (aligned, so typed-array views work).
        this.fill = Buffer.allocUnsafeSlow(need);
        this.fillOffset = 0;
      }
      if (this.fill !== undefined) {
        const need = this.fill.length - this.fillOffset;
        const take = Math.min(need, end - offset);
        chunk.copy(this.fill, this.fillOffset, offset, offset + take);
        this.fillOffset += take;
        offset += take;
        if (this.fillOffset === this.fill.length) {
          this.segments.push(this.fill);
          this.fill = undefined;
          this.nextSegment();
        }
        continue;
      }
      if (this.state === State.Skip) {
        const take = Math.min(this.skipping, end - offset);
        this.skipping -= take;
        offset += take;
        if (this.skipping === 0) this.state = State.Header;
        continue;
      }
      // Header or length table: read in place when whole, else gather exactly the bytes needed.
      const need = this.state === State.Header ? FRAME_HEADER_BYTES : 4 * this.count;
      if (this.pendingBytes === 0 && end - offset >= need) {
        if (this.state === State.Header) this.readHeader(chunk, offset);
        else this.readLengths(chunk, offset);
        offset += need;
        continue;
      }
      const take = Math.min(need - this.pendingBytes, end - offset);
      const part = chunk.subarray(offset, offset + take);
      this.pending.push(this.copyChunks ? Buffer.from(part) : part);
      this.pendingBytes += take;
      offset += take;
      if (this.pendingBytes < need) continue;
      const bytes = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, need);
      this.pending = [];
      this.pendingBytes = 0;
      if (this.state === State.Header) this.readHeader(bytes, 0);
      else this.readLengths(bytes, 0);
    }
  }

  private readHeader(h: Buffer, o: number): void {
    if (h[o] !== FRAME_MAGIC) {
      throw new ProtocolError(`bad frame magic 0x${h[o]!.toString(16)} (expected 0xa7): not a mirai-ts peer`);
    }
    if (h.readUInt32LE(o + 12) !== 0) throw new ProtocolError('bad frame header: reserved field is not 0');
    if (h[o + 1] === FrameType.OversizedResult) throw new ProtocolError(`bad frame header: type ${FrameType.OversizedResult} is not sent on the wire`);
    this.type = h[o + 1]!;
    this.flags = h.readUInt16LE(o + 2);
    this.id = h.readUInt32LE(o + 4);
    this.count = h.readUInt32LE(o + 8);
    if (this.count > this.limits.maxSegments) {
      throw new ProtocolError(`frame has ${this.count} segments; the limit is ${this.limits.maxSegments}`);
    }
    this.segments = [];
    this.segmentIndex = 0;
    if (this.count === 0) this.emit();
    else this.state = State.Lengths;
  }

  private readLengths(b: Buffer, o: number): void {
    // Small tables are reused frame after frame (only the first `count` entries are read); a
    // rare frame of many segments gets its own, so a channel never keeps a big one.
    if (this.lengths.length < this.count || this.lengths.length > REUSED_LENGTHS) this.lengths = new Array<number>(this.count);
    const lengths = this.lengths;
    let total = 0;
    for (let i = 0; i < this.count; i++) {
      const len = b.readUInt32LE(o + 4 * i);
      lengths[i] = len;
      total += len;
    }
    if (total > this.limits.maxFrameBytes) {
      throw new ProtocolError(`frame of ${total} bytes exceeds the limit of ${this.limits.maxFrameBytes} bytes`);
    }
    const control = this.limits.maxControlBytes;
    if (control !== undefined && total > control && this.type !== FrameType.Result && this.type !== FrameType.Task && this.type !== FrameType.Everywhere) {
      throw new ProtocolError(`a frame of type ${this.type} holds ${total} bytes; only results and tasks may hold more than ${control}`);
    }
    const maxResult = this.limits.maxResultBytes;
    if (maxResult !== undefined && total > maxResult && this.type === FrameType.Result) {
      // Handed on now (its task fails at once); its bytes are read past as they come, never kept.
      this.state = State.Skip;
      this.skipping = total;
      this.onFrame(oversizedResult(this.id, this.flags, total));
      return;
    }
    this.state = State.Segment;
    this.skipEmptySegments();
  }

  private nextSegment(): void {
    this.segmentIndex++;
    this.skipEmptySegments();
  }

  private skipEmptySegments(): void {
    while (this.segmentIndex < this.count && this.lengths[this.segmentIndex] === 0) {
      this.segments.push(EMPTY_SEGMENT);
      this.segmentIndex++;
    }
    if (this.segmentIndex === this.count) this.emit();
  }

  private emit(): void {
    const frame: Frame = { type: this.type as FrameType, flags: this.flags, id: this.id, segments: this.segments };
    this.state = State.Header;
    this.segments = [];
    this.onFrame(frame);
  }
}
