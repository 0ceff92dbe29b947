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
export const MessageKind = { Data: 1, Ping: 2, Pong: 3, Close: 4 } as const;

/** Bytes before the stream bytes in a Data message. */
export const DATA_HEADER_BYTES = 9;

export const PongState = { Ok: 0, Unknown: 1 } as const;

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
  const text = Buffer.from(reason ?? '', 'utf8').subarray(0, 1024);
  const b = Buffer.allocUnsafe(1 + text.length);
  b[0] = MessageKind.Close;
  text.copy(b, 1);
  return b;
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
