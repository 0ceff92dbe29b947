/**
 * Minimal length-prefixed framing for the raw-limit benchmarks: a u32 little-endian byte
 * count, then the body. Shared by the host side (limits.mjs) and the echo child, so both
 * ends of every raw measurement do the same (small) amount of work.
 */

/** Bytes of the length prefix. */
export const PREFIX_BYTES = 4;

/** Bodies up to this size are copied next to their prefix so a frame is one write. */
const COALESCE_BYTES = 16 * 1024;

/**
 * Writes one frame. Small bodies go out as a single buffer (one syscall, like the core's
 * frame codec packs small segments); large ones as prefix + body under cork (a gather
 * write, no copy of the body).
 */
export function writeFrame(socket, body) {
  const len = body.byteLength;
  if (len <= COALESCE_BYTES) {
    const buf = Buffer.allocUnsafe(PREFIX_BYTES + len);
    buf.writeUInt32LE(len, 0);
    buf.set(body, PREFIX_BYTES);
    return socket.write(buf);
  }
  const prefix = Buffer.allocUnsafe(PREFIX_BYTES);
  prefix.writeUInt32LE(len, 0);
  socket.cork();
  socket.write(prefix);
  const ok = socket.write(body);
  socket.uncork();
  return ok;
}

/**
 * Incremental reader: feed it socket chunks, it calls `onFrame(body)` once per whole frame.
 * A body that arrives inside one chunk is handed over as a view of that chunk; a body split
 * over several chunks is assembled into a fresh buffer of exactly its size (one copy, as any
 * real receiver must do).
 */
export class FrameReader {
  #onFrame;
  #prefix = Buffer.alloc(PREFIX_BYTES);
  #prefixHave = 0;
  /** @type {Buffer | null} body being assembled */
  #body = null;
  #bodyHave = 0;

  constructor(onFrame) {
    this.#onFrame = onFrame;
  }

  push(chunk) {
    let off = 0;
    const end = chunk.length;
    while (off < end) {
      if (this.#body === null) {
        // Fast path: a whole prefix and body in what is left of this chunk.
        if (this.#prefixHave === 0 && end - off >= PREFIX_BYTES) {
          const len = chunk.readUInt32LE(off);
          if (end - off - PREFIX_BYTES >= len) {
            off += PREFIX_BYTES;
            this.#onFrame(chunk.subarray(off, off + len));
            off += len;
            continue;
          }
        }
        const take = Math.min(PREFIX_BYTES - this.#prefixHave, end - off);
        chunk.copy(this.#prefix, this.#prefixHave, off, off + take);
        this.#prefixHave += take;
        off += take;
        if (this.#prefixHave < PREFIX_BYTES) return;
        this.#prefixHave = 0;
        const len = this.#prefix.readUInt32LE(0);
        if (end - off >= len) {
          this.#onFrame(chunk.subarray(off, off + len));
          off += len;
          continue;
        }
        this.#body = Buffer.allocUnsafe(len);
        this.#bodyHave = 0;
      } else {
        const body = this.#body;
        const take = Math.min(body.length - this.#bodyHave, end - off);
        chunk.copy(body, this.#bodyHave, off, off + take);
        this.#bodyHave += take;
        off += take;
        if (this.#bodyHave === body.length) {
          this.#body = null;
          this.#onFrame(body);
        }
      }
    }
  }
}
