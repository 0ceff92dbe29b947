/**
 * A core {@link Channel} over one WebSocket: each frame is one binary WebSocket message,
 * in core's frame layout (`encodeFrame`), sent as fragments so large segments are never
 * copied into one buffer on the sending side.
 *
 * Small frames (every task and result of a round trip) are one `ws.send` of one buffer,
 * further messages of the same tick join one write, and a received message is decoded by
 * the channel's one decoder (bench/ws.mjs measures a round trip beside a raw `ws` ping-pong).
 *
 * Reads skip the socket's `'data'` events where they can (see `readsShared`): the bytes of
 * each read are handed to ws's receiver straight from the process's shared read buffer.
 */
import type { Socket } from 'node:net';
import { ProtocolError, type Channel } from '@mirai-ts/core';
import { encodeFrame, FRAME_HEADER_BYTES, FrameDecoder, FrameType, readIntoSharedBuffer, segmentBytes, type Frame, type FrameLimits } from '@mirai-ts/core/plugin';
import type WebSocket from 'ws';
import { SILENT_HEARTBEATS } from './defaults.js';
import { WsTransportError } from './errors.js';

/**
 * How a channel tells a live peer from a lost one. Each side pings every `heartbeatMs`; `ws`
 * answers pings by itself, but on the event loop: a peer whose loop is blocked (a daemon in a
 * synchronous task, a host in the application's code) answers nothing until it is free, and
 * nothing on the wire tells that apart from a path that stopped forwarding (a proxy keeps the
 * TCP connection to each side alive). So silence is judged by what the peer may be doing:
 * a daemon that owes no result has nothing to block it, and is lost after
 * {@link SILENT_HEARTBEATS} silent heartbeats; a daemon running a task, and the host as a
 * daemon sees it, after `busyTimeoutMs`.
 */
export interface Liveness {
  /** Ping interval, ms; 0: no pings, and no silence check. */
  readonly heartbeatMs: number;
  /** Silence allowed of a peer that may be busy, ms; 0: no limit. */
  readonly busyTimeoutMs: number;
  /**
   * This is the host's side: the peer runs the tasks sent here and answers each with a
   * Result, so when it owes none it is idle and must answer pings.
   */
  readonly peerRunsTasks: boolean;
}

/**
 * The largest message `ws` can be told to accept: it keeps `maxPayload` as a signed 32-bit
 * integer (larger values wrap and would turn the limit off). Frames over this cannot cross.
 */
export const MAX_MESSAGE_BYTES = 2 ** 31 - 1;

/**
 * How much more than `maxResultBytes` a host takes in one message (besides the frame's header
 * and length table). `ws` holds a message whole before the channel sees its frame header, so
 * a result over the limit but within this room is held, then handed on as its stand-in (its
 * task fails, the daemon serves on, as over TCP): what a daemon that does not know the limit
 * (an older one) costs. Anything larger is refused from its WebSocket header, unheld, and
 * costs the connection. It also leaves room for a daemon's small control frames (a Bye).
 */
export const RESULT_ROOM_BYTES = 16 * 1024 * 1024;

/**
 * The largest WebSocket message a frame within `limits` can make. Where `limits` carry
 * `maxResultBytes` (the host's side after the handshake: a daemon sends it only Results and
 * small control frames) it follows that limit too, so what the host holds of one message is
 * bounded by the result limit, not the frame limit (up to 2 GiB). Honest daemons never send a
 * Result over `maxResultBytes`: they learn it in Init and send a ResultTooLargeError instead.
 */
export function messageLimit(limits: FrameLimits): number {
  let body = limits.maxFrameBytes;
  if (limits.maxResultBytes !== undefined) body = Math.min(body, limits.maxResultBytes + RESULT_ROOM_BYTES);
  return Math.min(MAX_MESSAGE_BYTES, FRAME_HEADER_BYTES + 4 * limits.maxSegments + body);
}

/** Why a message over `messageLimit(limits)` was refused. */
function messageLimitBreach(limits: FrameLimits, peer: string): ProtocolError {
  const limit = messageLimit(limits);
  const bound =
    limit === MAX_MESSAGE_BYTES
      ? `the most ws takes in one message`
      : limits.maxResultBytes !== undefined && limits.maxResultBytes + RESULT_ROOM_BYTES < limits.maxFrameBytes
        ? `the profile's maxResultBytes (${limits.maxResultBytes}) and ${RESULT_ROOM_BYTES} bytes of room: a daemon sends a ResultTooLargeError in place of a larger result, so this one is broken or hostile`
        : `${limits.maxFrameBytes} bytes per frame`;
  return new ProtocolError(`a WebSocket message from ${peer} exceeds the limit of ${limit} bytes (${bound})`);
}

/**
 * What ws keeps inside a WebSocket that we need to reach: its receiver, with its message
 * limit, and the `write` its own `'data'` listener feeds each read to.
 */
interface WithReceiver {
  _receiver?: { _maxPayload?: number; write?: (chunk: Buffer) => boolean } | null;
}

/** Close codes that mean "done", not "broken". */
const NORMAL_CLOSE = new Set([1000, 1001, 1005]);

/** `ws.send` options, made once: the last (or only) fragment of a message, and the others. */
const LAST_FRAGMENT = { binary: true, compress: false, fin: true } as const;
const MORE_FRAGMENTS = { binary: true, compress: false, fin: false } as const;

export class WsChannel implements Channel {
  onClose: (reason: Error | undefined) => void = () => {};
  closed = false;
  readonly peer: string;
  private handler: ((frame: Frame) => void) | undefined;
  /** Frames that arrived before `onFrame` was set (the host may speak first). */
  private early: Frame[] = [];
  private limits: FrameLimits;
  private closeReason: Error | undefined;
  private readonly heartbeat: NodeJS.Timeout | undefined;
  /** Whether any bytes arrived since the last heartbeat (pongs, pings, frames, parts of one). */
  private heard = false;
  /** When the current silence began (as seen at a heartbeat), and when the last heartbeat ran. */
  private silentSince = Date.now();
  private lastBeat = Date.now();
  /** Tasks sent (Task, Everywhere) that the peer has not answered with a Result yet. */
  private owed = 0;
  /**
   * One decoder for every message: a message is decoded only once its header declares exactly
   * its own length, so each one starts the decoder on a frame boundary and leaves it on the
   * next; a message that breaks the layout closes the channel, decoder and all.
   */
  private readonly decoder: FrameDecoder;
  /** What the decoder produced from the current message. */
  private decoded: Frame | undefined;
  private decodedCount = 0;
  /**
   * True when the socket's reads go to ws's receiver from the shared read buffer, without a
   * `'data'` event each (see readShared); false where this ws or Node is not laid out as
   * expected, and reads come through `'data'` events as usual.
   */
  readonly readsShared: boolean;
  /** Whether the socket is corked: while a read is handled (see the constructor). */
  private corked = false;
  private readonly startRead = (): void => {
    this.heard = true;
    this.cork();
  };
  private readonly endRead = (): void => this.uncork();

  constructor(
    private readonly ws: WebSocket,
    private readonly socket: Socket,
    limits: FrameLimits,
    peer: string,
    private readonly liveness: Liveness,
  ) {
    this.peer = peer;
    this.limits = limits;
    this.decoder = new FrameDecoder(limits, (frame) => {
      this.decoded = frame;
      this.decodedCount++;
    });
    // Fragments as they arrived: a large message is never copied into one buffer to be read.
    ws.binaryType = 'fragments';
    this.applyMessageLimit();
    ws.on('message', (data, isBinary) => this.receive(data as Buffer[] | Buffer, isBinary));
    // Messages sent while a read is handled (a dispatcher refilling prefetch slots, a daemon
    // answering a run of tasks) leave in one write, as core's socket channels gather theirs:
    // ws parses a read and delivers its messages synchronously, within the cork.
    this.readsShared = this.readShared(ws, socket);
    if (!this.readsShared) {
      // startRead also marks the peer as heard.
      socket.prependListener('data', this.startRead);
      socket.on('data', this.endRead);
    }
    ws.on('error', (err: Error & { code?: string }) => {
      if (this.closeReason !== undefined) return;
      this.closeReason =
        err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH'
          ? messageLimitBreach(this.limits, peer)
          : new WsTransportError(`WebSocket error from ${peer}: ${err.message}`, err);
    });
    ws.on('close', (code: number, reason: Buffer) => {
      if (!NORMAL_CLOSE.has(code)) {
        this.closeReason ??= new WsTransportError(`the WebSocket to ${peer} closed abnormally (code ${code}${reason.length > 0 ? `: ${reason.toString().slice(0, 120)}` : ''})`);
      }
      this.finish();
    });
    if (liveness.heartbeatMs > 0) {
      // Traffic both ways keeps proxies from closing a quiet connection, and the pongs (ws
      // answers pings itself) show the path still forwards: see Liveness.
      this.heartbeat = setInterval(() => this.beat(), liveness.heartbeatMs);
      this.heartbeat.unref();
    }
  }

  /**
   * One heartbeat: ends the connection if the peer has been silent for longer than it may be
   * (see Liveness), else pings it. TCP keep-alive cannot find a path that stopped forwarding
   * behind a proxy: it only tests the hop to the proxy, which answers for the peer.
   */
  private beat(): void {
    if (this.closed || this.ws.readyState !== this.ws.OPEN) return;
    const now = Date.now();
    // This side's own event loop was blocked (this timer is late): what the peer sent
    // meanwhile is still unread, so the silence so far proves nothing. Start again.
    const stalled = now - this.lastBeat > 1.5 * this.liveness.heartbeatMs;
    this.lastBeat = now;
    if (this.heard || stalled) {
      this.heard = false;
      this.silentSince = now;
    } else {
      const silent = now - this.silentSince;
      const busy = !this.liveness.peerRunsTasks || this.owed > 0;
      const idleLimit = SILENT_HEARTBEATS * this.liveness.heartbeatMs;
      const limit = !busy ? idleLimit : this.liveness.busyTimeoutMs === 0 ? Infinity : Math.max(this.liveness.busyTimeoutMs, idleLimit);
      if (silent >= limit) {
        const why = !busy
          ? `it runs no task, so its WebSocket should have answered`
          : this.liveness.peerRunsTasks
            ? `it runs a task, and may be busy in synchronous code; if tasks block its event loop longer, raise busyTimeoutMs (${this.liveness.busyTimeoutMs} ms)`
            : `busyTimeoutMs is ${this.liveness.busyTimeoutMs} ms`;
        this.close(
          new WsTransportError(
            `nothing from ${this.peer} for ${silent} ms, not even a pong (pings every ${this.liveness.heartbeatMs} ms; ${why}): the connection, or a proxy on its path, stopped forwarding`,
          ),
        );
        return;
      }
    }
    this.ws.ping();
  }

  /**
   * Hands each read of the socket to ws's receiver from the shared read buffer: a 'data' event
   * costs a buffer, a Readable push and a tick per read, 1.5-3 µs of a round trip here. The
   * receiver keeps the bytes of a WebSocket frame that is cut across reads, so each read is
   * copied out (its bytes only; a fresh buffer per read is what 'data' events cost anyway).
   * ws's own 'data' listener stays, for nothing: reads no longer come as events, and the
   * socket must hold nothing unread when the switch is made (checked). Its return value is
   * the receiver's backpressure, which ws turns into a pause; with compression off (always,
   * here) the receiver handles each write before returning, so there is none to honour.
   */
  private readShared(ws: WebSocket, socket: Socket): boolean {
    const receiver = (ws as unknown as WithReceiver)._receiver;
    const write = receiver?.write;
    if (typeof write !== 'function' || socket.readableLength !== 0) return false;
    return readIntoSharedBuffer(socket, (buffer, bytes) => {
      this.heard = true;
      const chunk = Buffer.allocUnsafe(bytes);
      buffer.copy(chunk, 0, 0, bytes);
      this.cork();
      try {
        write.call(receiver, chunk);
      } finally {
        this.uncork();
      }
    });
  }

  get onFrame(): (frame: Frame) => void {
    return this.handler ?? ((frame) => this.early.push(frame));
  }

  set onFrame(handler: (frame: Frame) => void) {
    this.handler = handler;
    if (this.early.length === 0) return;
    const early = this.early.splice(0);
    // After the caller's current tick, once its other handlers (onClose) are in place too.
    queueMicrotask(() => {
      for (const frame of early) if (!this.closed) handler(frame);
    });
  }

  send(frame: Frame): void {
    if (this.closed) return;
    const chunks = encodeFrame(frame);
    let bytes = 0;
    for (const chunk of chunks) bytes += chunk.byteLength;
    if (bytes > MAX_MESSAGE_BYTES) {
      this.close(new ProtocolError(`a frame of ${bytes} bytes exceeds the WebSocket transport's limit of ${MAX_MESSAGE_BYTES} bytes per frame`));
      return;
    }
    // One message: the head, then each large segment as it is, as fragments of it, in one
    // gather write. A lone message (a round trip's task or result) goes straight out.
    const gather = chunks.length > 1 && !this.corked;
    if (gather) this.cork();
    const last = chunks.length - 1;
    for (let i = 0; i < last; i++) this.ws.send(chunks[i]!, MORE_FRAGMENTS);
    this.ws.send(chunks[last]!, LAST_FRAGMENT);
    if (gather) this.uncork();
    if (frame.type === FrameType.Task || frame.type === FrameType.Everywhere) this.owed++;
  }

  /**
   * Writes what was sent so far in the read being handled (a read is corked, see the
   * constructor): a dispatcher's refill leaves at once, not after the rest of the read.
   */
  flush(): void {
    if (!this.corked || this.closed) return;
    this.socket.uncork();
    this.socket.cork();
  }

  private cork(): void {
    if (this.corked) return;
    this.corked = true;
    this.socket.cork();
  }

  private uncork(): void {
    if (!this.corked) return;
    this.corked = false;
    this.socket.uncork();
  }

  close(reason?: Error): void {
    if (this.closed) return;
    this.closeReason ??= reason;
    if (reason !== undefined) {
      // A broken peer: nothing of ours is worth flushing to it.
      this.ws.terminate();
    } else {
      // Let queued frames (an Exit, a final result) leave before the close frame.
      this.ws.close(1000);
      const timer = setTimeout(() => this.ws.terminate(), 1000);
      timer.unref();
    }
    this.finish();
  }

  setLimits(limits: FrameLimits): void {
    this.limits = limits;
    this.decoder.setLimits(limits);
    this.applyMessageLimit();
  }

  ref(): void {
    this.socket.ref();
  }

  unref(): void {
    this.socket.unref();
  }

  /**
   * ws checks each message's announced length against its receiver's limit before it buffers
   * the payload; ws offers no setter, so the limit follows ours through its receiver (the
   * same field its constructor sets). The pinned ws version is checked by the tests.
   */
  private applyMessageLimit(): void {
    const receiver = (this.ws as unknown as WithReceiver)._receiver;
    if (receiver == null || typeof receiver._maxPayload !== 'number') {
      throw new WsTransportError('this version of the ws package keeps its message limit elsewhere: the WebSocket transport cannot enforce frame limits with it');
    }
    receiver._maxPayload = messageLimit(this.limits);
  }

  private receive(data: Buffer[] | Buffer, isBinary: boolean): void {
    if (this.closed) return;
    if (!isBinary) {
      this.close(new ProtocolError(`a text WebSocket message from ${this.peer}: mirai-ts peers send binary frames only`));
      return;
    }
    const parts = Array.isArray(data) ? data : [data];
    let bytes = 0;
    for (const part of parts) bytes += part.length;
    // The decoder sizes a segment's buffer by the length the frame declares; a message
    // declaring more than it holds must not get that far (it would allocate the claim).
    const declared = declaredFrameBytes(parts, bytes, this.limits.maxSegments);
    if (declared !== undefined && declared !== bytes) {
      this.close(new ProtocolError(`a WebSocket message of ${bytes} bytes from ${this.peer} declares a frame of ${declared} bytes`));
      return;
    }
    this.decoded = undefined;
    this.decodedCount = 0;
    try {
      for (const part of parts) this.decoder.push(part);
    } catch (err) {
      this.close(err as Error);
      return;
    }
    const frame = this.decoded as Frame | undefined; // set by the decoder callback, which TypeScript does not see
    this.decoded = undefined;
    // A frame may not spill into the next message, nor two share one. (A result over
    // maxResultBytes comes out as its stand-in, without segments: the declared size, checked
    // above, is its size.)
    if (this.decodedCount !== 1 || frame === undefined || (frame.type !== FrameType.OversizedResult && frameBytes(frame) !== bytes)) {
      this.close(new ProtocolError(`a WebSocket message from ${this.peer} does not hold exactly one frame (${bytes} bytes, ${this.decodedCount} whole frame(s))`));
      return;
    }
    // Each Task and Everywhere is answered by one Result (a cancelled one too).
    if ((frame.type === FrameType.Result || frame.type === FrameType.OversizedResult) && this.owed > 0) this.owed--;
    if (this.handler !== undefined) this.handler(frame);
    else this.early.push(frame);
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.heartbeat !== undefined) clearInterval(this.heartbeat);
    this.early = [];
    this.onClose(this.closeReason);
  }
}

/** Bytes of a frame on the wire: header, length table and segments. */
function frameBytes(frame: Frame): number {
  return FRAME_HEADER_BYTES + 4 * frame.segments.length + segmentBytes(frame.segments);
}

/**
 * The size the frame in a message says it has (header, length table, segments), read from
 * its header; `undefined` when the header is too short or over the segment limit (the
 * decoder then reports the violation itself), -1 when the length table is cut short.
 */
export function declaredFrameBytes(parts: readonly Buffer[], bytes: number, maxSegments: number): number | undefined {
  if (bytes < FRAME_HEADER_BYTES) return undefined;
  let head = parts[0]!;
  if (head.length < FRAME_HEADER_BYTES) head = Buffer.concat(parts as Buffer[], FRAME_HEADER_BYTES);
  const count = head.readUInt32LE(8);
  if (count > maxSegments) return undefined;
  const tableEnd = FRAME_HEADER_BYTES + 4 * count;
  if (bytes < tableEnd) return -1;
  // Bounded by maxSegments and by what arrived: 256 KiB at most with the default limits.
  if (head.length < tableEnd) head = Buffer.concat(parts as Buffer[], tableEnd);
  let total = tableEnd;
  for (let i = 0; i < count; i++) total += head.readUInt32LE(FRAME_HEADER_BYTES + 4 * i);
  return total;
}
