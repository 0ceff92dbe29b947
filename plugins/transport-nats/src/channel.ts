/**
 * A core {@link Channel} over NATS. One direction is one subject; frames become a numbered
 * stream of Data messages. NATS keeps order between one publisher and one subscriber but
 * may lose messages when the server restarts, so the sender keeps what it sent until the
 * peer acknowledges it (in Ping and Pong messages) and sends again what the peer lacks; the
 * receiver drops duplicates and anything past a gap. Nothing is delivered twice.
 *
 * Liveness: NATS has no per-peer connection, so each side pings the other every
 * heartbeat as a NATS request. A reply means alive; a timeout means busy (a daemon whose
 * task blocks its event loop still has its subscription); the server's "no responders"
 * means the peer's NATS connection is gone, and after `peerTimeoutMs` of that the channel
 * closes with a cause, so the dispatcher settles the peer's task with connection reset (19).
 */
import { ProtocolError, type Channel } from '@mirai-ts/core';
import type { Frame, FrameLimits } from '@mirai-ts/core/plugin';
import { encodeFrame, FrameDecoder } from '@mirai-ts/core/plugin';
import type { Msg } from '@nats-io/transport-node';
import type { Connection, ConnectionEvents } from './connection.js';
import { describe } from './connection.js';
import { NatsTransportError } from './errors.js';
import { MAX_TIMER_MS, type Timing } from './options.js';
import { asBuffer, closeMessage, DATA_HEADER_BYTES, MessageKind, packData, pingMessage, pongMessage, PongState, readCloseReason, readPing, readPong } from './wire.js';

export interface NatsChannelParams {
  readonly conn: Connection;
  /** Where this side's messages go. */
  readonly sendSubject: string;
  readonly limits: FrameLimits;
  readonly timing: Timing;
  readonly peer: string;
  /** Releases what the channel holds (a subscription, a registry entry, a connection). */
  readonly dispose: () => void;
}

export class NatsChannel implements Channel, ConnectionEvents {
  readonly peer: string;
  closed = false;
  /** Largest number of stream bytes per Data message (set once both sides' limits are known). */
  maxStreamBytes: number;
  private readonly conn: Connection;
  private readonly sendSubject: string;
  private readonly timing: Timing;
  private readonly decoder: FrameDecoder;
  private readonly dispose: () => void;
  private frameHandler: ((frame: Frame) => void) | undefined;
  private closeHandler: ((reason: Error | undefined) => void) | undefined;
  /** Frames (and a close) that arrived before the owner set `onFrame`. */
  private early: Frame[] = [];
  private earlyClose: { reason: Error | undefined } | undefined;
  private flushing = false;
  /** Next sequence number to send, and the next one expected. */
  private sendNext = 1;
  private recvNext = 1;
  /** Data messages sent and not yet acknowledged: seq = firstUnacked + index. */
  private unacked: Buffer[] = [];
  private firstUnacked = 1;
  private timer: NodeJS.Timeout | undefined;
  private probing = false;
  private noRespondersSince: number | undefined;
  /** The host told the peer to exit: its disappearance is then the normal end. */
  private leaving = false;

  constructor(params: NatsChannelParams) {
    this.conn = params.conn;
    this.sendSubject = params.sendSubject;
    this.timing = params.timing;
    this.peer = params.peer;
    this.dispose = params.dispose;
    this.maxStreamBytes = params.conn.maxPayload - DATA_HEADER_BYTES;
    this.decoder = new FrameDecoder(params.limits, (f) => this.deliver(f));
    this.conn.addWatcher(this);
    this.conn.hold(this, true);
  }

  get onFrame(): (frame: Frame) => void {
    return this.frameHandler ?? ((f) => this.early.push(f));
  }

  /** Setting the handler delivers frames that came early, on the next microtask, in order. */
  set onFrame(handler: (frame: Frame) => void) {
    this.frameHandler = handler;
    if ((this.early.length > 0 || this.earlyClose !== undefined) && !this.flushing) {
      this.flushing = true;
      queueMicrotask(() => this.flushEarly());
    }
  }

  get onClose(): (reason: Error | undefined) => void {
    return this.closeHandler ?? (() => {});
  }

  set onClose(handler: (reason: Error | undefined) => void) {
    this.closeHandler = handler;
  }

  /** Starts the heartbeat. */
  start(): void {
    this.schedule();
  }

  send(frame: Frame): void {
    if (this.closed) return;
    for (const message of packData(encodeFrame(frame), this.maxStreamBytes)) {
      message.writeDoubleLE(this.sendNext++, 1);
      this.unacked.push(message);
      if (!this.publish(message)) return;
    }
  }

  peerLeaving(): void {
    this.leaving = true;
  }

  close(reason?: Error): void {
    if (this.closed) return;
    try {
      this.conn.nc.publish(this.sendSubject, closeMessage(reason?.message));
    } catch {
      // connection closed: the peer will notice through its heartbeat
    }
    this.finish(reason, true);
  }

  setLimits(limits: FrameLimits): void {
    this.decoder.setLimits(limits);
  }

  ref(): void {
    if (!this.closed) this.conn.hold(this, true);
  }

  unref(): void {
    this.conn.hold(this, false);
  }

  /** A message on this channel's receive subject. */
  receive(msg: Msg): void {
    if (this.closed) return;
    const data = msg.data;
    switch (data[0]) {
      case MessageKind.Data: {
        if (data.length < DATA_HEADER_BYTES) return;
        this.noRespondersSince = undefined;
        const seq = asBuffer(data).readDoubleLE(1);
        // A duplicate (resent) or past a gap (wait for the resend): drop it.
        if (seq !== this.recvNext) return;
        this.recvNext++;
        try {
          this.decoder.push(asBuffer(data).subarray(DATA_HEADER_BYTES));
        } catch (err) {
          this.close(err as Error);
        }
        return;
      }
      case MessageKind.Ping: {
        const ping = readPing(data);
        if (ping === undefined) return;
        this.noRespondersSince = undefined;
        if (!this.acknowledged(ping.received, 'Ping')) return;
        if (msg.reply) this.respond(msg, this.recvNext - 1);
        return;
      }
      case MessageKind.Close: {
        const text = readCloseReason(data);
        this.finish(text === '' ? undefined : new NatsTransportError(`${this.peer} closed the connection: ${text}`), false);
        return;
      }
      default:
      // Unknown kinds are ignored: room for later protocol additions.
    }
  }

  onReconnect(): void {
    if (this.closed) return;
    // Requests sent before the outage are lost; check on the peer (and resend) right away.
    this.probing = false;
    this.probe();
  }

  onConnectionClosed(reason: Error): void {
    this.finish(reason, false);
  }

  // -------------------------------------------------------------------------

  private respond(msg: Msg, received: number): void {
    try {
      msg.respond(pongMessage(received, PongState.Ok));
    } catch {
      // connection closed
    }
  }

  private publish(message: Uint8Array): boolean {
    try {
      this.conn.nc.publish(this.sendSubject, message);
      return true;
    } catch (err) {
      this.finish(new NatsTransportError(`cannot send to ${this.peer}: ${describe(err)}`, err), false);
      return false;
    }
  }

  private deliver(frame: Frame): void {
    if (this.closed) return;
    if (this.frameHandler !== undefined && !this.flushing) this.frameHandler(frame);
    else this.early.push(frame);
  }

  private flushEarly(): void {
    while (this.early.length > 0) {
      const f = this.early.shift()!;
      this.frameHandler?.(f);
    }
    this.flushing = false;
    const pending = this.earlyClose;
    this.earlyClose = undefined;
    if (pending !== undefined) this.onClose(pending.reason);
  }

  /**
   * Trims what the peer has acknowledged (`received`: the last message it has, in order).
   * The number comes from the peer, so it is checked first: NaN would stop all trimming (and
   * `unacked` would grow without end), and a number past what was sent would drop messages
   * the peer never got (its tasks would hang). Either closes the channel with a
   * ProtocolError, and its tasks settle as with any lost peer. Returns false then.
   */
  private acknowledged(received: number, what: 'Ping' | 'Pong'): boolean {
    const lastSent = this.sendNext - 1;
    if (!Number.isSafeInteger(received) || received < 0 || received > lastSent) {
      this.close(new ProtocolError(`${this.peer} broke the NATS channel protocol: its ${what} acknowledges message ${received}, but ${lastSent} were sent`));
      return false;
    }
    // An acknowledgement older than one already seen is not a violation: a Pong (a reply, on
    // the inbox subject, resolved a microtask later) can be handled after a later Ping.
    const n = Math.min(received - this.firstUnacked + 1, this.unacked.length);
    if (n > 0) {
      this.unacked.splice(0, n);
      this.firstUnacked += n;
    }
    return true;
  }

  private schedule(): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.probe();
      this.schedule();
    }, this.timing.heartbeatMs);
    // The connection decides whether the process stays alive, not this timer.
    this.timer.unref();
  }

  private probe(): void {
    if (this.closed) return;
    const conn = this.conn;
    if (!conn.connected) {
      const since = conn.disconnectedSince;
      if (since !== undefined && Date.now() - since >= this.timing.reconnectTimeoutMs) {
        this.close(
          new NatsTransportError(`lost the NATS server ${conn.server} for more than ${this.timing.reconnectTimeoutMs} ms`),
        );
      }
      return;
    }
    if (this.probing) return;
    this.probing = true;
    const lastSent = this.sendNext - 1;
    // Two heartbeats, at least 2 s, at most what a Node timer can hold.
    const timeout = Math.min(Math.max(2 * this.timing.heartbeatMs, 2_000), MAX_TIMER_MS);
    let request: Promise<Msg>;
    try {
      request = conn.nc.request(this.sendSubject, pingMessage(lastSent, this.recvNext - 1), { timeout });
    } catch (err) {
      this.probing = false;
      this.finish(new NatsTransportError(`cannot reach ${this.peer}: ${describe(err)}`, err), false);
      return;
    }
    request.then(
      (reply) => {
        this.probing = false;
        this.pong(reply.data, lastSent);
      },
      (err: unknown) => {
        this.probing = false;
        this.probeFailed(err);
      },
    );
  }

  private pong(data: Uint8Array, lastSent: number): void {
    if (this.closed) return;
    const pong = readPong(data);
    if (pong === undefined) return;
    if (pong.state === PongState.Unknown) {
      this.finish(new NatsTransportError(`${this.peer} no longer knows this connection (it closed or restarted)`), false);
      return;
    }
    this.noRespondersSince = undefined;
    if (!this.acknowledged(pong.received, 'Pong')) return;
    // The Ping followed everything up to lastSent on the same subject, so the peer had it
    // all unless the server lost some: send the rest again (duplicates are dropped).
    if (pong.received < lastSent) for (const message of [...this.unacked]) if (!this.publish(message)) return;
  }

  private probeFailed(err: unknown): void {
    if (this.closed) return;
    if (!isNoResponders(err)) {
      // A timeout: the peer is busy (or the server is in trouble, which the connection notices).
      this.noRespondersSince = undefined;
      return;
    }
    if (this.leaving) {
      this.finish(undefined, false); // we told it to exit, and it did
      return;
    }
    const now = Date.now();
    this.noRespondersSince ??= now;
    if (now - this.noRespondersSince >= this.timing.peerTimeoutMs) {
      this.close(
        new NatsTransportError(
          `${this.peer} is gone: its NATS connection has been closed for ${now - this.noRespondersSince} ms`,
        ),
      );
    }
  }

  /** Ends the channel once; `local` reports at once, a remote close waits for the owner's handlers. */
  private finish(reason: Error | undefined, local: boolean): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    this.unacked = [];
    this.conn.removeWatcher(this);
    this.conn.hold(this, false);
    this.dispose();
    if (local || (this.frameHandler !== undefined && !this.flushing)) this.onClose(reason);
    else this.earlyClose = { reason };
  }
}

function isNoResponders(err: unknown): boolean {
  const e = err as { isNoResponders?: () => boolean; name?: string; cause?: { name?: string } } | undefined;
  if (typeof e?.isNoResponders === 'function') return e.isNoResponders();
  return e?.name === 'NoResponders' || e?.cause?.name === 'NoResponders';
}
