/**
 * The host side: one NATS connection, a subscription on the scope's connect subject (each
 * request there opens a channel) and one wildcard subscription for everything daemons send.
 * Connect requests come from anyone allowed to publish there, before any proof of the
 * secret: they are checked, and refusals reported to the host's log.
 */
import { randomBytes } from 'node:crypto';
import type { Channel, Listener, ListenOptions } from '@mirai-ts/core';
import { ConfigError } from '@mirai-ts/core';
import { show } from '@mirai-ts/core/plugin';
import type { Msg, Subscription } from '@nats-io/transport-node';
import { NatsChannel } from './channel.js';
import { Connection, type ConnectionEvents } from './connection.js';
import { connectionOptions, mergeOptions, pickOptions, timingOf, type NatsTransportOptions } from './options.js';
import { parseNatsUrl, type NatsAddress } from './url.js';
import { closeMessage, DATA_HEADER_BYTES, isMessageSize, MESSAGE_SIZE_EXPECTED, MessageKind, pongMessage, PongState } from './wire.js';

/** A daemon's connect request, and the host's answer. */
export interface ConnectRequest {
  readonly v: 1;
  /** The channel id the daemon chose (random); absent in a probe. */
  readonly id?: string;
  /** The daemon's server's max_payload: required, a whole number of bytes from 1 KiB to 64 MiB. */
  readonly maxPayload?: number;
  /** "Is a host listening here?" (asked by a host before it listens). */
  readonly probe?: boolean;
}
export interface ConnectReply {
  readonly v: 1;
  readonly ok: boolean;
  readonly maxPayload?: number;
  readonly error?: string;
}

/** Channel ids: 22+ characters of letters and digits (random, so they cannot be guessed). */
export const CHANNEL_ID = /^[A-Za-z0-9]{16,64}$/;

export function newChannelId(): string {
  return randomBytes(16).toString('hex');
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** First wait before reopening a connection nats.js gave up on; it doubles up to the max. */
const REOPEN_FIRST_MS = 1_000;
const REOPEN_MAX_MS = 30_000;

export class NatsListener implements Listener, ConnectionEvents {
  onChannel: (channel: Channel) => void = (channel) => channel.close();
  /**
   * Set by the host: what this listener turned away (connect requests it refused, and the loss
   * of its own NATS connection), which the host logs and counts. It is the only way a listener
   * can reach the profile's log.
   */
  onDropped?: (peer: string, why: string) => void;
  private readonly channels = new Map<string, NatsChannel>();
  private subscriptions: Subscription[] = [];
  private closed = false;
  /** Replaced when the connection is closed for good and opened again (see `reopen`). */
  private conn: Connection;
  /** Whether the host wants this listener to keep the process alive (ref/unref). */
  private held = true;
  private reopenTimer: NodeJS.Timeout | undefined;

  private constructor(
    readonly url: string,
    private readonly address: NatsAddress,
    conn: Connection,
    private readonly options: NatsTransportOptions,
    private readonly listenOptions: ListenOptions,
  ) {
    this.conn = conn;
    this.attach(conn);
  }

  static async open(url: string, base: NatsTransportOptions, listenOptions: ListenOptions): Promise<NatsListener> {
    const options = mergeOptions(base, pickOptions(listenOptions, 'NATS listen options'));
    const address = parseNatsUrl(url, options.prefix);
    const conn = await Connection.open(connectionOptions(address.server, options, 'mirai-host'), address.server);
    try {
      await refuseSecondHost(conn, address, url);
      const listener = new NatsListener(url, address, conn, options, listenOptions);
      await conn.nc.flush(); // subscriptions are in place before daemons are told where to dial
      return listener;
    } catch (err) {
      await conn.close();
      throw err;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.reopenTimer);
    for (const channel of [...this.channels.values()]) channel.close();
    for (const sub of this.subscriptions) sub.unsubscribe();
    await this.conn.close();
  }

  ref(): void {
    if (this.closed) return;
    this.held = true;
    this.conn.hold(this, true);
    this.reopenTimer?.ref();
  }

  unref(): void {
    this.held = false;
    this.conn.hold(this, false);
    this.reopenTimer?.unref();
  }

  onReconnect(): void {
    // nats.js restores subscriptions itself after an outage: nothing to do.
  }

  /**
   * nats.js gave up on the connection (it does after the same authentication error twice in
   * a row, e.g. credentials revoked during a server restart). Its channels have closed (their
   * tasks settle with 19); without this, the listener would stay registered but deaf, and
   * nothing would say why. Say it through the host's log, and open a new connection.
   */
  onConnectionClosed(reason: Error): void {
    if (this.closed) return;
    for (const sub of this.subscriptions) sub.unsubscribe();
    this.subscriptions = [];
    this.onDropped?.(
      `the NATS server ${this.address.server}`,
      `${reason.message}; no daemon can connect to ${this.url} until the host connects again (trying every ${REOPEN_FIRST_MS / 1000}-${REOPEN_MAX_MS / 1000} s)`,
    );
    this.scheduleReopen(REOPEN_FIRST_MS);
  }

  // -------------------------------------------------------------------------

  /** Subscribes on `conn` and makes it this listener's connection. */
  private attach(conn: Connection): void {
    const { subjects } = this.address;
    this.conn = conn;
    this.subscriptions = [
      conn.nc.subscribe(subjects.connect, { callback: (err, msg) => (err ? undefined : this.connectRequest(msg)) }),
      conn.nc.subscribe(subjects.toHostWildcard, { callback: (err, msg) => (err ? undefined : this.channelMessage(msg)) }),
    ];
    conn.addWatcher(this);
    conn.hold(this, this.held);
  }

  private scheduleReopen(waitMs: number): void {
    this.reopenTimer = setTimeout(() => void this.reopen(waitMs), waitMs);
    // Waiting to reconnect keeps the process alive only if the host wants the listener to.
    if (!this.held) this.reopenTimer.unref();
  }

  /** Opens a new connection (credential files are read again); on failure, waits longer. */
  private async reopen(waitedMs: number): Promise<void> {
    this.reopenTimer = undefined;
    if (this.closed) return;
    let conn: Connection;
    try {
      conn = await Connection.open(connectionOptions(this.address.server, this.options, 'mirai-host'), this.address.server);
    } catch (err) {
      if (this.closed) return;
      // Logged once per doubling of the wait: the host's log limits repeats as well.
      this.onDropped?.(`the NATS server ${this.address.server}`, `still no connection for ${this.url}: ${(err as Error).message}`);
      this.scheduleReopen(Math.min(2 * waitedMs, REOPEN_MAX_MS));
      return;
    }
    try {
      // Another host may have taken the scope meanwhile: two would both answer daemons.
      await refuseSecondHost(conn, this.address, this.url);
    } catch (err) {
      await conn.close();
      if (!this.closed) this.onDropped?.(`the NATS server ${this.address.server}`, `${(err as Error).message}; this listener stops`);
      return;
    }
    if (this.closed) {
      await conn.close();
      return;
    }
    this.attach(conn);
  }

  private connectRequest(msg: Msg): void {
    if (this.closed || !msg.reply) return;
    const answer = (reply: ConnectReply): void => {
      try {
        msg.respond(encoder.encode(JSON.stringify(reply)));
      } catch {
        // connection closed
      }
    };
    // A refusal is answered (so an honest daemon says why it could not connect) and reported
    // to the host, which logs it (rate-limited) and counts it.
    const refuse = (why: string, id?: string): void => {
      this.onDropped?.(id === undefined ? `a NATS client on ${this.address.subjects.connect}` : `NATS channel ${id.slice(0, 8)}`, `bad connect request: ${why}`);
      answer({ v: 1, ok: false, error: why });
    };
    let request: ConnectRequest;
    try {
      if (msg.data.length > 4096) throw new Error('too long');
      request = JSON.parse(decoder.decode(msg.data)) as ConnectRequest;
    } catch {
      return refuse('unreadable connect request');
    }
    if (request?.v !== 1) return refuse(`unsupported connect protocol ${show(request?.v)} (this host speaks 1)`);
    if (request.probe === true) return answer({ v: 1, ok: true });
    const id = request.id;
    if (typeof id !== 'string' || !CHANNEL_ID.test(id)) return refuse('bad channel id');
    if (this.channels.has(id)) return refuse('channel id in use', id);
    // Anyone who may publish on the connect subject gets here, before any proof of the
    // secret: the size the host cuts frames by must be checked, not trusted (a fraction or a
    // tiny size made one frame into millions of messages in one synchronous loop).
    if (!isMessageSize(request.maxPayload)) return refuse(`maxPayload must be ${MESSAGE_SIZE_EXPECTED}, got ${show(request.maxPayload)}`, id);
    const channel = new NatsChannel({
      conn: this.conn,
      sendSubject: this.address.subjects.toDaemon(id),
      limits: this.listenOptions.handshakeLimits,
      timing: timingOf(this.options),
      peer: `NATS channel ${id.slice(0, 8)}`,
      dispose: () => this.channels.delete(id),
    });
    channel.maxStreamBytes = Math.min(this.conn.maxPayload, request.maxPayload, this.options.maxMessageBytes ?? Infinity) - DATA_HEADER_BYTES;
    this.channels.set(id, channel);
    // The reply goes out before the first frame (both from this connection, so in order).
    answer({ v: 1, ok: true, maxPayload: this.conn.maxPayload });
    channel.start();
    this.onChannel(channel);
  }

  private channelMessage(msg: Msg): void {
    const id = this.address.subjects.idOf(msg.subject);
    if (id === undefined) return;
    const channel = this.channels.get(id);
    if (channel !== undefined) {
      channel.receive(msg);
      return;
    }
    // A daemon this host does not know (closed here, or from before a host restart): tell it.
    try {
      if (msg.data[0] === MessageKind.Ping && msg.reply) msg.respond(pongMessage(0, PongState.Unknown));
      else if (msg.data[0] === MessageKind.Data) this.conn.nc.publish(this.address.subjects.toDaemon(id), closeMessage('the host does not know this connection'));
    } catch {
      // connection closed
    }
  }
}

/** Two hosts on one scope would both answer daemons: refuse to be the second. */
async function refuseSecondHost(conn: Connection, address: NatsAddress, url: string): Promise<void> {
  const probe: ConnectRequest = { v: 1, probe: true };
  try {
    await conn.nc.request(address.subjects.connect, encoder.encode(JSON.stringify(probe)), { timeout: 1_000 });
  } catch {
    return; // no responders (the normal case) or a subscriber that is not a mirai host
  }
  throw new ConfigError(
    `another mirai-ts host is already listening at ${url} (scope '${address.scope}'): give each profile its own URL path`,
  );
}
