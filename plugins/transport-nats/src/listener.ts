/**
 * The host side: one NATS connection, a subscription on the scope's connect subject (each
 * request there opens a channel) and one wildcard subscription for everything daemons send.
 */
import { randomBytes } from 'node:crypto';
import type { Channel, Listener, ListenOptions } from '@mirai-ts/core';
import { ConfigError } from '@mirai-ts/core';
import type { Msg, Subscription } from '@nats-io/transport-node';
import { NatsChannel } from './channel.js';
import { Connection } from './connection.js';
import { connectionOptions, mergeOptions, pickOptions, timingOf, type NatsTransportOptions } from './options.js';
import { parseNatsUrl, type NatsAddress } from './url.js';
import { closeMessage, DATA_HEADER_BYTES, MessageKind, pongMessage, PongState } from './wire.js';

/** A daemon's connect request, and the host's answer. */
export interface ConnectRequest {
  readonly v: 1;
  /** The channel id the daemon chose (random); absent in a probe. */
  readonly id?: string;
  /** The daemon's server's max_payload. */
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

export class NatsListener implements Listener {
  onChannel: (channel: Channel) => void = (channel) => channel.close();
  private readonly channels = new Map<string, NatsChannel>();
  private readonly subscriptions: Subscription[] = [];
  private closed = false;

  private constructor(
    readonly url: string,
    private readonly address: NatsAddress,
    private readonly conn: Connection,
    private readonly options: NatsTransportOptions,
    private readonly listenOptions: ListenOptions,
  ) {
    const { subjects } = address;
    this.subscriptions.push(
      conn.nc.subscribe(subjects.connect, { callback: (err, msg) => (err ? undefined : this.connectRequest(msg)) }),
      conn.nc.subscribe(subjects.toHostWildcard, { callback: (err, msg) => (err ? undefined : this.channelMessage(msg)) }),
    );
    conn.hold(this, true);
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
    for (const channel of [...this.channels.values()]) channel.close();
    for (const sub of this.subscriptions) sub.unsubscribe();
    await this.conn.close();
  }

  ref(): void {
    if (!this.closed) this.conn.hold(this, true);
  }

  unref(): void {
    this.conn.hold(this, false);
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
    let request: ConnectRequest;
    try {
      if (msg.data.length > 4096) throw new Error('too long');
      request = JSON.parse(decoder.decode(msg.data)) as ConnectRequest;
    } catch {
      return answer({ v: 1, ok: false, error: 'unreadable connect request' });
    }
    if (request?.v !== 1) return answer({ v: 1, ok: false, error: `unsupported connect protocol ${String(request?.v)} (this host speaks 1)` });
    if (request.probe === true) return answer({ v: 1, ok: true });
    const id = request.id;
    if (typeof id !== 'string' || !CHANNEL_ID.test(id)) return answer({ v: 1, ok: false, error: 'bad channel id' });
    if (this.channels.has(id)) return answer({ v: 1, ok: false, error: 'channel id in use' });
    const peerMax = typeof request.maxPayload === 'number' && request.maxPayload > DATA_HEADER_BYTES ? request.maxPayload : this.conn.maxPayload;
    const channel = new NatsChannel({
      conn: this.conn,
      sendSubject: this.address.subjects.toDaemon(id),
      limits: this.listenOptions.handshakeLimits,
      timing: timingOf(this.options),
      peer: `NATS channel ${id.slice(0, 8)}`,
      dispose: () => this.channels.delete(id),
    });
    channel.maxStreamBytes = Math.min(this.conn.maxPayload, peerMax, this.options.maxMessageBytes ?? Infinity) - DATA_HEADER_BYTES;
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
