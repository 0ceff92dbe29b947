/**
 * A Channel over a MessagePort: one frame per message, in order. Segments are copied by the
 * structured clone, except that with `transfer` a large segment that spans its whole buffer
 * is moved (transferList) instead: no copy, and the sender's array is left detached. Tiny
 * frames travel packed in one string: cheaper to clone than typed arrays.
 */
import type { MessagePort } from 'node:worker_threads';
import type { Channel } from '@mirai-ts/core';
import type { Frame, FrameLimits } from '@mirai-ts/core/plugin';

/** Segments at least this big are moved with `transfer`; smaller ones cost less to copy. */
export const TRANSFER_MIN_BYTES = 64 * 1024;
/** Frames up to this size travel packed in one string (see send). */
const PACK_MAX_BYTES = 4096;

/** A frame as posted: [type, flags, id, segments], or a tiny one packed: [type, flags, id, bytes as char codes, segment lengths]. */
type Posted = [number, number, number, Uint8Array[]] | [number, number, number, string, number[]];

export class PortChannel implements Channel {
  onFrame: (frame: Frame) => void = () => {};
  onClose: (reason: Error | undefined) => void = () => {};
  closed = false;
  private limits: FrameLimits | undefined;
  private reported = false;

  constructor(
    private readonly port: MessagePort,
    readonly peer: string,
    private readonly transfer: boolean,
  ) {
    port.on('message', (message: Posted) => this.receive(message));
    port.on('close', () => this.ended(undefined));
  }

  send(f: Frame): void {
    if (this.closed) return;
    let total = 0;
    for (const s of f.segments) total += s.byteLength;
    if (total <= PACK_MAX_BYTES) {
      // Tiny frame (every task and result of tiny work): cloning a string costs a third of
      // cloning a typed array, so its bytes travel as one string of char codes 0-255.
      // latin1 maps each byte to the char code of the same value, natively both ways.
      const packed = Buffer.allocUnsafe(total);
      const segments = f.segments;
      const lengths = new Array<number>(segments.length);
      let at = 0;
      for (let i = 0; i < segments.length; i++) {
        const s = segments[i]!;
        packed.set(s, at);
        at += s.byteLength;
        lengths[i] = s.byteLength;
      }
      const message: Posted = [f.type, f.flags, f.id, packed.toString('latin1', 0, total), lengths];
      this.port.postMessage(message);
      return;
    }
    const moved: ArrayBuffer[] = [];
    const segments = f.segments.map((s) => {
      const whole = s.byteOffset === 0 && s.byteLength === s.buffer.byteLength && s.buffer instanceof ArrayBuffer;
      if (this.transfer && whole && s.byteLength >= TRANSFER_MIN_BYTES && !moved.includes(s.buffer)) {
        moved.push(s.buffer);
        return s;
      }
      // A view into a bigger buffer (a pooled Buffer) would clone all of it: copy just the view.
      return whole ? s : s.slice();
    });
    const message: Posted = [f.type, f.flags, f.id, segments];
    this.port.postMessage(message, moved);
  }

  close(reason?: Error): void {
    if (this.closed) return;
    this.port.close();
    this.ended(reason);
  }

  setLimits(limits: FrameLimits): void {
    this.limits = limits;
  }

  ref(): void {
    this.port.ref();
  }

  unref(): void {
    this.port.unref();
  }

  private receive(message: Posted): void {
    if (this.closed) return;
    const [type, flags, id] = message;
    let segments: Uint8Array[];
    if (message.length === 5) {
      const [, , , text, lengths] = message;
      const packed = Buffer.from(text, 'latin1');
      segments = new Array<Uint8Array>(lengths.length);
      let at = 0;
      for (let i = 0; i < lengths.length; i++) {
        const n = lengths[i]!;
        segments[i] = packed.subarray(at, at + n);
        at += n;
      }
    } else segments = message[3];
    const limits = this.limits;
    if (limits !== undefined) {
      let bytes = 0;
      for (const s of segments) bytes += s.byteLength;
      if (segments.length > limits.maxSegments || bytes > limits.maxFrameBytes) {
        this.close(new Error(`frame over the limits (${segments.length} segments, ${bytes} bytes)`));
        return;
      }
    }
    this.onFrame({ type: type as Frame['type'], flags, id, segments });
  }

  private ended(reason: Error | undefined): void {
    if (this.reported) return;
    this.closed = true;
    this.reported = true;
    this.onClose(reason);
  }
}
