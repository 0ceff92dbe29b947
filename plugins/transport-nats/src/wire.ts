/**
 * The messages a NATS channel exchanges. Frames are encoded with core's stream codec and
 * the resulting byte stream is cut into numbered Data messages (each at most the server's
 * max_payload), so a frame of any size crosses NATS and is reassembled in order.
 *
 *   Data  [1][seq f64][stream bytes]       numbered from 1, per direction
 *   Ping  [2][lastSent f64][received f64]  a NATS request: liveness, acknowledgement, resync
 *   Pong  [3][received f64][state u8]      its reply; state 1 = "I do not know this channel"
 *   Close [4][reason, UTF-8]               the sender closed the channel (empty reason: normally)
 *
 * Sequence numbers are float64: exact up to 2^53, so they never wrap.
 */
import { NatsTransportError } from './errors.js';

export const MessageKind = { Data: 1, Ping: 2, Pong: 3, Close: 4 } as const;

/** Bytes before the stream bytes in a Data message. */
export const DATA_HEADER_BYTES = 9;

export const PongState = { Ok: 0, Unknown: 1 } as const;

/**
 * The smallest NATS message size (max_payload) a channel works with. A peer states its
 * server's max_payload before the handshake, so anything smaller is refused: a tiny size
 * would cut every frame into millions of messages in one synchronous loop.
 */
export const MIN_MESSAGE_BYTES = 1024;
/** The largest max_payload a NATS server accepts (64 MiB): no honest peer states more. */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/** Whether `value` is a message size a channel may use: a whole number of bytes in range. */
export function isMessageSize(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= MIN_MESSAGE_BYTES && value <= MAX_MESSAGE_BYTES;
}

/** How `isMessageSize` values are described in messages. */
export const MESSAGE_SIZE_EXPECTED = `a whole number of bytes from ${MIN_MESSAGE_BYTES} to ${MAX_MESSAGE_BYTES}`;

/**
 * The longest close reason kept from a peer, in bytes (the sender cuts its own there too).
 * The text ends up in errors and logs, so a peer must not choose its size.
 */
export const MAX_CLOSE_REASON_BYTES = 1024;

export function pingMessage(lastSent: number, received: number): Uint8Array {
  const b = Buffer.allocUnsafe(17);
  b[0] = MessageKind.Ping;
  b.writeDoubleLE(lastSent, 1);
  b.writeDoubleLE(received, 9);
  return b;
}

export function pongMessage(received: number, state: number): Uint8Array {
  const b = Buffer.allocUnsafe(10);
  b[0] = MessageKind.Pong;
  b.writeDoubleLE(received, 1);
  b[9] = state;
  return b;
}

export function closeMessage(reason: string | undefined): Uint8Array {
  const text = Buffer.from(reason ?? '', 'utf8').subarray(0, MAX_CLOSE_REASON_BYTES);
  const b = Buffer.allocUnsafe(1 + text.length);
  b[0] = MessageKind.Close;
  text.copy(b, 1);
  return b;
}

/**
 * The reason in a Close message, as text safe to put in an error message: at most
 * {@link MAX_CLOSE_REASON_BYTES} bytes are decoded, and control characters (line breaks that
 * could fake log lines) become spaces. Empty means "closed normally".
 */
export function readCloseReason(data: Uint8Array): string {
  const end = Math.min(data.length, 1 + MAX_CLOSE_REASON_BYTES);
  const text = Buffer.from(data.buffer, data.byteOffset + 1, Math.max(0, end - 1)).toString('utf8');
  const clean = text.replace(/[\u0000-\u001f\u007f]/g, ' ');
  return data.length > end ? `${clean}… (cut)` : clean;
}

export function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** A decoded Ping or Pong; undefined when the message is too short. */
export function readPing(data: Uint8Array): { lastSent: number; received: number } | undefined {
  if (data.length < 17) return undefined;
  const b = asBuffer(data);
  return { lastSent: b.readDoubleLE(1), received: b.readDoubleLE(9) };
}

export function readPong(data: Uint8Array): { received: number; state: number } | undefined {
  if (data.length < 10 || data[0] !== MessageKind.Pong) return undefined;
  const b = asBuffer(data);
  return { received: b.readDoubleLE(1), state: b[9]! };
}

/**
 * Cuts an encoded frame (core's gather-write chunks) into Data message buffers of at most
 * `maxStreamBytes` stream bytes each, header space included; the caller writes the `seq`.
 */
export function packData(chunks: readonly Uint8Array[], maxStreamBytes: number): Buffer[] {
  // A fraction or zero would make the loop below allocate without end: never let it start.
  if (!Number.isSafeInteger(maxStreamBytes) || maxStreamBytes < 1) {
    throw new NatsTransportError(`internal: a Data message must carry a whole number of bytes >= 1, got ${maxStreamBytes}`);
  }
  let total = 0;
  for (const c of chunks) total += c.byteLength;
  const out: Buffer[] = [];
  let chunkIndex = 0;
  let chunkOffset = 0;
  let left = total;
  while (left > 0) {
    const take = Math.min(left, maxStreamBytes);
    const msg = Buffer.allocUnsafe(DATA_HEADER_BYTES + take);
    msg[0] = MessageKind.Data;
    let at = DATA_HEADER_BYTES;
    let need = take;
    while (need > 0) {
      const c = chunks[chunkIndex]!;
      const n = Math.min(need, c.byteLength - chunkOffset);
      msg.set(c.subarray(chunkOffset, chunkOffset + n), at);
      at += n;
      need -= n;
      chunkOffset += n;
      if (chunkOffset === c.byteLength) {
        chunkIndex++;
        chunkOffset = 0;
      }
    }
    out.push(msg);
    left -= take;
  }
  return out;
}
