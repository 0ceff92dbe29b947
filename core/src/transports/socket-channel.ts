import type { Socket } from 'node:net';
import { encodeFrame, FrameDecoder } from '../frame-codec.js';
import type { Frame, FrameLimits } from '../frame.js';
import type { Channel } from '../transport.js';

/** A {@link Channel} over a Node stream socket (Unix socket, TCP, TLS). */
export class SocketChannel implements Channel {
  onFrame: (frame: Frame) => void = () => {};
  onClose: (reason: Error | undefined) => void = () => {};
  closed = false;
  readonly peer: string;
  private readonly socket: Socket;
  private readonly decoder: FrameDecoder;
  private closeReason: Error | undefined;

  constructor(socket: Socket, limits: FrameLimits, peer: string) {
    this.socket = socket;
    this.peer = peer;
    socket.setNoDelay?.(true);
    this.decoder = new FrameDecoder(limits, (frame) => this.onFrame(frame));
    socket.on('data', (chunk: Buffer) => {
      if (this.closed) return;
      try {
        this.decoder.push(chunk);
      } catch (err) {
        this.close(err as Error);
      }
    });
    socket.on('error', (err) => {
      this.closeReason ??= err;
    });
    socket.on('close', () => this.finish());
    // A half-closed peer is a gone peer.
    socket.on('end', () => socket.destroy());
  }

  send(frame: Frame): void {
    if (this.closed) return;
    const chunks = encodeFrame(frame);
    if (chunks.length === 1) {
      this.socket.write(chunks[0]!);
      return;
    }
    // Gather write: one writev for the head and every large segment, no copy.
    this.socket.cork();
    for (const chunk of chunks) this.socket.write(chunk);
    this.socket.uncork();
  }

  close(reason?: Error): void {
    if (this.closed) return;
    this.closeReason ??= reason;
    if (reason !== undefined) {
      // A broken peer: nothing of ours is worth flushing to it.
      this.socket.destroy();
    } else {
      // Let queued frames (an Exit, a final result) leave before the socket goes.
      this.socket.end();
      const timer = setTimeout(() => this.socket.destroy(), 1000);
      timer.unref();
    }
    this.finish();
  }

  setLimits(limits: FrameLimits): void {
    this.decoder.setLimits(limits);
  }

  ref(): void {
    this.socket.ref();
  }

  unref(): void {
    this.socket.unref();
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose(this.closeReason);
  }
}
