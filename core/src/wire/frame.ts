/**
 * Frames: the unit every transport carries between host and daemon.
 * The byte layout on stream transports is in `frame-codec.ts`; the meaning of each
 * type is written down in docs/protocol.md.
 */

/** Wire protocol version; host and daemon must agree (checked in the handshake). */
export const PROTOCOL_VERSION = 1;

/** Message types. */
export const FrameType = {
  /** host -> daemon, first frame: protocol version and a nonce to prove the secret against. */
  Challenge: 1,
  /** daemon -> host: protocol version, proof of the secret, the daemon's own nonce, pid. */
  Hello: 2,
  /** host -> daemon: accepted; the host's proof, the daemon id and the profile's daemon config. */
  Init: 3,
  /** host -> daemon: run a task (id = task id). */
  Task: 4,
  /** daemon -> host: a task's outcome (id = task id). */
  Result: 5,
  /** host -> daemon: stop the task with this id. */
  Cancel: 6,
  /** host -> daemon: exit now (also the acknowledgement of a final result or of a Bye). */
  Exit: 7,
  /** daemon -> host: I am leaving (idletime, walltime); assign me nothing more. */
  Bye: 8,
  /** host -> daemon: run this once, before any later task (everywhere). */
  Everywhere: 9,
  /** host -> a daemon's watchdog: the daemon is stuck; start a fresh one and end it. */
  Replace: 10,
  /**
   * Never on the wire (a peer that sends it breaks the protocol): what a receiver hands on in
   * place of a Result frame larger than its limits' `maxResultBytes` ({@link OversizedResult}).
   */
  OversizedResult: 255,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

/** Flag bits. */
export const FrameFlag = {
  /** Result: the payload is an error record, not a value. */
  Error: 1 << 0,
  /** Result: this is the daemon's last result; it exits after the host's Exit. */
  Final: 1 << 1,
  /** Task: segment 0 is a module reference (JSON), not function source. */
  ModuleRef: 1 << 2,
  /** Task: the last segment is the task's random stream (16 bytes, see random-stream.ts). */
  Stream: 1 << 3,
  /** Task: an element of a `miraiMap()`; local `daemons(n)` inside it is refused, as in mirai. */
  InMap: 1 << 4,
  /** Task: a segment of W3C trace context (JSON `{ traceparent, tracestate? }`), before the stream segment. */
  TraceContext: 1 << 5,
  /**
   * Task: a chunk of a map. The parameters are (items, args); the function segment follows the
   * parameters (before trace context and stream), and segment 0 is a stub that makes daemons
   * without this flag refuse the chunk. With Stream, the stream is the first item's; item i
   * draws from it jumped i times. Result: one payload per item, each a value or an error
   * record (see task-frame.ts).
   */
  Batch: 1 << 6,
} as const;

/**
 * A frame: type, flags, a 32-bit id and a list of byte segments. Segments let large binary
 * values travel beside the serialized skeleton without being copied into one buffer.
 */
export interface Frame {
  readonly type: FrameType;
  readonly flags: number;
  readonly id: number;
  readonly segments: readonly Uint8Array[];
}

/** Size limits a receiver enforces; a frame over them closes the connection. */
export interface FrameLimits {
  /** Most bytes in one frame, all segments together. */
  readonly maxFrameBytes: number;
  /** Most segments in one frame. */
  readonly maxSegments: number;
  /**
   * Most bytes in one Result frame (a profile's `maxResultBytes`; default: maxFrameBytes). A
   * larger result does not close the connection: the receiver reads past its bytes without
   * keeping them and hands on an {@link OversizedResult} instead, so only its task fails.
   */
  readonly maxResultBytes?: number;
  /**
   * Most bytes in a frame that carries no task's data (any type but Result, Task and
   * Everywhere: a daemon's Bye, a Cancel): a larger one is a protocol violation, refused once
   * its length table is read, not buffered first. Unset: `maxFrameBytes`.
   */
  readonly maxControlBytes?: number;
}

/** A host's `maxControlBytes` for daemons past the handshake: a Bye names its reason, no more. */
export const MAX_CONTROL_BYTES = 64 * 1024;

/** Stands in for a Result frame over `maxResultBytes`: the result's id and flags, and its size. */
export interface OversizedResult extends Frame {
  readonly type: typeof FrameType.OversizedResult;
  /** Bytes of the result's segments, all together. */
  readonly bytes: number;
}

/** The stand-in a receiver hands on for a Result frame over `maxResultBytes` (a decoder makes it once it has read the length table). */
export function oversizedResult(id: number, flags: number, bytes: number): OversizedResult {
  return { type: FrameType.OversizedResult, flags, id, segments: [], bytes };
}

/**
 * For transports that receive frames whole (thread daemons): `f`, or its
 * {@link OversizedResult} when it is a Result over `limits.maxResultBytes`.
 */
export function withinResultLimit(f: Frame, limits: FrameLimits | undefined): Frame {
  const max = limits?.maxResultBytes;
  if (max === undefined || f.type !== FrameType.Result) return f;
  const bytes = segmentBytes(f.segments);
  return bytes > max ? oversizedResult(f.id, f.flags, bytes) : f;
}

/** The bytes a frame's segments hold, all together (not its header or length table). */
export function segmentBytes(segments: readonly Uint8Array[]): number {
  let n = 0;
  for (let i = 0; i < segments.length; i++) n += segments[i]!.byteLength;
  return n;
}

/** Limits before a peer has proved the secret: only handshake frames fit. */
export const HANDSHAKE_LIMITS: FrameLimits = { maxFrameBytes: 16 * 1024, maxSegments: 4 };

/**
 * What a daemon takes as the host's Init, once it has sent its Hello: Init names the
 * serializers and instrumentation daemons load, with their options, which can outgrow the
 * handshake's 16 KiB. The host refuses settings whose Init would not fit (daemons()).
 */
export const INIT_LIMITS: FrameLimits = { maxFrameBytes: 1024 * 1024, maxSegments: 4 };

/** Limits after the handshake. A single segment is at most 4 GiB − 1 (u32 length). */
export const DEFAULT_LIMITS: FrameLimits = { maxFrameBytes: 2 ** 40, maxSegments: 65_536 };

/**
 * Segments that several frames carry (a map's shared `args`, an `everywhere()` frame sent to
 * each daemon): a channel that moves large buffers to its peer (the thread transport's
 * `transfer`) must copy these, since a move would leave the next frame with nothing to send.
 */
const sharedSegments = new WeakSet<Uint8Array>();

/** Marks `segments` as carried by several frames (see {@link isSharedSegment}). */
export function markShared(segments: readonly Uint8Array[]): void {
  for (const s of segments) sharedSegments.add(s);
}

/** Whether `segment` is carried by several frames: to be copied, never moved. */
export function isSharedSegment(segment: Uint8Array): boolean {
  return sharedSegments.has(segment);
}

export function frame(type: FrameType, id: number, segments: readonly Uint8Array[], flags = 0): Frame {
  return { type, flags, id, segments };
}

const frameTypeNames = new Map<number, string>(Object.entries(FrameType).map(([k, v]) => [v, k]));

/** `'Task'` for 4, `'unknown(99)'` for 99: for log lines. */
export function frameTypeName(type: number): string {
  return frameTypeNames.get(type) ?? `unknown(${type})`;
}

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

/** JSON as a segment, for the small control frames. */
export function jsonSegment(value: unknown): Uint8Array {
  return utf8.encode(JSON.stringify(value));
}

/** Reads a JSON segment; throws on bad UTF-8 or JSON. */
export function readJsonSegment<T>(segment: Uint8Array | undefined): T {
  if (segment === undefined) throw new Error('missing segment');
  return JSON.parse(utf8Decoder.decode(segment)) as T;
}

export function textSegment(text: string): Uint8Array {
  return utf8.encode(text);
}

export function readTextSegment(segment: Uint8Array | undefined): string {
  if (segment === undefined) throw new Error('missing segment');
  return utf8Decoder.decode(segment);
}
