import type { Socket } from 'node:net';
import { encodeFrame, encodeFrames, FrameDecoder } from '../wire/frame-codec.js';
import type { Frame, FrameLimits } from '../wire/frame.js';
import type { Channel } from '../transport.js';
import { sharedReadBuffer } from './shared-read-buffer.js';

/** Slots of the gathered-frames array kept between reads (see flush). */
const MAX_KEPT_SLOTS = 1024;

/** A {@link Channel} over a Node stream socket (Unix socket, TCP, TLS). */
export class SocketChannel implements Channel {
  onFrame: (frame: Frame) => void = () => {};
  onClose: (reason: Error | undefined) => void = () => {};
  closed = false;
  readonly peer: string;
  private readonly socket: Socket;
  private readonly decoder: FrameDecoder;
  private closeReason: Error | undefined;
  /** While a read is handled: frames sent meanwhile wait in `gathered` (see read). */
  private gathering = false;
  /**
   * The first `gatheredCount` slots are the frames gathered. The array is kept, and its slots
   * cleared after each write: a fresh array per read cost a 150 B backing store per task.
   */
  private gathered: (Frame | undefined)[] = [];
  private gatheredCount = 0;

  /**
   * @param staticReads the socket reads into a reused buffer (a dialled socket's
   *   {@link StaticReader}, an accepted one's shared buffer: see shared-read-buffer.ts),
   *   delivered by {@link SocketChannel.read}; the decoder copies what it keeps.
   */
  constructor(socket: Socket, limits: FrameLimits, peer: string, staticReads = false) {
    this.socket = socket;
    this.peer = peer;
    socket.setNoDelay?.(true);
    this.decoder = new FrameDecoder(limits, (frame) => this.onFrame(frame), staticReads);
    if (!staticReads) socket.on('data', (chunk: Buffer) => this.read(chunk));
    socket.on('error', (err) => {
      this.closeReason ??= err;
    });
    socket.on('close', () => this.finish());
    // A half-closed peer is a gone peer.
    socket.on('end', () => socket.destroy());
  }

  /** Feeds received bytes, `chunk[0, end)`, to the decoder; a protocol violation closes the channel. */
  read(chunk: Buffer, end = chunk.length): void {
    if (this.closed) return;
    // Frames sent while these are handled (a daemon answering a run of prefetched tasks, a
    // host sending the next tasks as results come in) are gathered and leave in one write.
    this.gathering = true;
    try {
      this.decoder.push(chunk, end);
    } catch (err) {
      this.close(err as Error);
    } finally {
      this.gathering = false;
      this.flush();
    }
  }

  send(frame: Frame): void {
    if (this.closed) return;
    if (this.gathering) {
      this.gathered[this.gatheredCount++] = frame;
      return;
    }
    this.write(encodeFrame(frame));
  }

  /**
   * Writes the frames gathered so far, encoded together (see encodeFrames): at the end of a
   * read, or sooner when asked (frames sent later in the read are gathered again).
   */
  flush(): void {
    const count = this.gatheredCount;
    if (count === 0) return;
    this.gatheredCount = 0;
    const frames = this.gathered;
    let chunks: Uint8Array[] | undefined;
    try {
      if (!this.closed) chunks = encodeFrames(frames, count);
    } catch (err) {
      this.close(err as Error);
    } finally {
      // The frames are encoded (or dropped): their slots no longer keep them alive. A burst
      // (a large refill) does not leave a large array behind.
      if (count > MAX_KEPT_SLOTS) this.gathered = [];
      else for (let i = 0; i < count; i++) frames[i] = undefined;
    }
    if (chunks !== undefined) this.write(chunks);
  }

  /** One write for one chunk; else a gather write (one writev, no copy of large segments). */
  private write(chunks: readonly Uint8Array[]): void {
    if (chunks.length === 1) {
      this.socket.write(chunks[0]!);
      return;
    }
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
      if (this.gatheredCount > 0) this.flush();
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

/**
 * Reads for a dialing socket into the process's one read buffer (shared-read-buffer.ts), instead
 * of a fresh buffer per read: the channel's decoder copies what it keeps. A process that dials
 * many connections (a daemon simulator, a proxy) keeps one buffer, not 64 KiB per connection
 * that each read would touch cold. Pass `options` to `net.createConnection()`, then `attach()`
 * the channel; bytes that arrive before that are kept (copied) and replayed.
 */
export class StaticReader {
  private channel: SocketChannel | undefined;
  private early: Buffer[] = [];
  readonly options = {
    onread: {
      buffer: sharedReadBuffer(),
      callback: (bytes: number, buffer: Buffer): boolean => {
        if (this.channel) this.channel.read(buffer, bytes);
        else this.early.push(Buffer.from(buffer.subarray(0, bytes)));
        return true;
      },
    },
  };

  attach(channel: SocketChannel): SocketChannel {
    this.channel = channel;
    for (const chunk of this.early.splice(0)) channel.read(chunk);
    return channel;
  }
}
