/**
 * `natsTransport(options)`: a core {@link Transport} for `nats://host:port/scope` URLs.
 * The host and every daemon connect to the NATS server; the dispatcher stays in the host.
 */
import type { Channel, DialOptions, Json, Listener, ListenOptions, Transport } from '@mirai-ts/core';
import { show } from '@mirai-ts/core/plugin';
import { NatsChannel } from './channel.js';
import { Connection, describe } from './connection.js';
import { NatsTransportError } from './errors.js';
import { newChannelId, NatsListener, type ConnectReply, type ConnectRequest } from './listener.js';
import { checkOptions, connectionOptions, mergeOptions, pickOptions, timingOf, type NatsTransportOptions } from './options.js';
import { parseNatsUrl } from './url.js';
import { DATA_HEADER_BYTES, isMessageSize, MESSAGE_SIZE_EXPECTED } from './wire.js';

/** The package daemons import to rebuild the transport. */
export const PACKAGE_NAME = '@mirai-ts/transport-nats';

/** A NATS transport; `options` are what daemons receive. */
export interface NatsTransport extends Transport {
  readonly options: NatsTransportOptions;
}

/**
 * A transport that carries host–daemon traffic through a NATS server.
 *
 * ```ts
 * await daemons(4, { url: 'nats://127.0.0.1:4222/analytics', transports: [natsTransport({ tokenFile: '/etc/nats/token' })] });
 * ```
 *
 * The URL's path is the scope: subjects are `mirai.<scope>.…`, so hosts sharing a server
 * never see each other's tasks. Daemons rebuild the transport from `ref` (the package, this
 * export and `options`); `dialOptions` of the profile override `options` on daemons only,
 * `listenOptions` on the host only (e.g. different NATS users for each).
 */
export function natsTransport(options: NatsTransportOptions = {}): NatsTransport {
  const checked = checkOptions(options);
  return {
    schemes: ['nats'],
    options: checked,
    ref: { specifier: PACKAGE_NAME, exportName: 'natsTransport', options: checked as unknown as Json },
    listen: (url: string, listenOptions: ListenOptions): Promise<Listener> => NatsListener.open(url, checked, listenOptions),
    dial: (url: string, dialOptions: DialOptions): Promise<Channel> => dialNats(url, checked, dialOptions),
    // Asked by daemons() before it resets a running profile: a typo costs nothing.
    checkListenOptions: (listenOptions) => void pickOptions(listenOptions, 'NATS listen options'),
    checkDialOptions: (dialOptions) => void pickOptions(dialOptions, 'NATS dial options'),
  };
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

async function dialNats(url: string, base: NatsTransportOptions, dialOptions: DialOptions): Promise<Channel> {
  const options = mergeOptions(base, pickOptions(dialOptions, 'NATS dial options'));
  const address = parseNatsUrl(url, options.prefix);
  const timing = timingOf(options);
  const conn = await Connection.open(connectionOptions(address.server, options, 'mirai-daemon'), address.server);
  try {
    const id = newChannelId();
    const channel = new NatsChannel({
      conn,
      sendSubject: address.subjects.toHost(id),
      limits: dialOptions.limits,
      timing,
      peer: url,
      dispose: () => {
        void conn.close();
      },
    });
    // Subscribe before asking: the host's first frame may arrive right behind its reply.
    conn.nc.subscribe(address.subjects.toDaemon(id), {
      callback: (err, msg) => {
        if (err) channel.close(new NatsTransportError(`NATS subscription failed: ${describe(err)}`, err));
        else channel.receive(msg);
      },
    });
    const request: ConnectRequest = { v: 1, id, maxPayload: conn.maxPayload };
    let reply: ConnectReply;
    try {
      const msg = await conn.nc.request(address.subjects.connect, encoder.encode(JSON.stringify(request)), {
        timeout: timing.connectTimeoutMs,
      });
      reply = JSON.parse(decoder.decode(msg.data)) as ConnectReply;
    } catch (err) {
      const noHost = (err as { isNoResponders?: () => boolean }).isNoResponders?.() === true;
      throw new NatsTransportError(
        noHost
          ? `no mirai-ts host is listening at ${url} (nobody subscribes to '${address.subjects.connect}')`
          : `the host at ${url} did not accept the connection: ${describe(err)}`,
        err,
      );
    }
    if (reply?.ok !== true) {
      const why = typeof reply?.error === 'string' ? reply.error.slice(0, 512) : 'no reason given';
      throw new NatsTransportError(`the host at ${url} refused the connection: ${why}`);
    }
    // Whoever answers on the connect subject is not yet proven to be the host (the handshake
    // comes later): check the size it states before cutting frames by it.
    if (!isMessageSize(reply.maxPayload)) {
      const err = new NatsTransportError(`the host at ${url} sent a bad connect reply: maxPayload must be ${MESSAGE_SIZE_EXPECTED}, got ${show(reply.maxPayload)}`);
      channel.close(err); // tells the other side, and releases the connection
      throw err;
    }
    channel.maxStreamBytes = Math.min(conn.maxPayload, reply.maxPayload, options.maxMessageBytes ?? Infinity) - DATA_HEADER_BYTES;
    channel.start();
    return channel;
  } catch (err) {
    await conn.close();
    throw err;
  }
}
