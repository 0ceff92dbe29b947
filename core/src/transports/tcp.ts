import { createConnection, createServer, type AddressInfo, type Socket } from 'node:net';
import { ConfigError } from '../errors.js';
import type { Channel, DialOptions, Listener, ListenOptions, Transport } from '../transport.js';
import { refuseAny } from './option-keys.js';
import { SocketChannel, StaticReader } from './socket-channel.js';
import { connected, listening, StreamListener } from './stream-listener.js';

/** Host and port of a `tcp://host:port` URL (IPv6 hosts in brackets). */
export function tcpAddress(url: string): { host: string; port: number } {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\/:(\d*)(\/.*)?$/i.exec(url);
  if (scheme) {
    // mirai reads `tcp://:0` as every interface; here the host is always written out, so
    // that the URL daemons are given to dial is one they can dial.
    throw new ConfigError(
      `'${url}' has no host: to listen on every interface write ${scheme[1]}://0.0.0.0:${scheme[2] || 0} ` +
        `(or [::] for IPv6); for remote daemons listen at hostUrl(), this machine's address`,
    );
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(`invalid URL '${url}': expected tcp://host:port`);
  }
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = parsed.port === '' ? 0 : Number(parsed.port);
  if (host === '' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError(`invalid URL '${url}': expected tcp://host:port`);
  }
  return { host, port };
}

export function formatHostPort(scheme: string, host: string, port: number): string {
  return `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** Keep-alive finds peers that vanished without a FIN (a pulled cable, a dead VM). */
export function tuneTcpSocket(socket: Socket): void {
  socket.setNoDelay(true);
  socket.setKeepAlive(true, 5_000);
}

/** Plain TCP. Daemons still prove the profile's secret; use `tls+tcp://` across networks. */
export const tcpTransport: Transport = {
  schemes: ['tcp'],
  checkListenOptions: (options) => refuseAny('tcp://', 'listen', options),
  checkDialOptions: (options) => refuseAny('tcp://', 'dial', options),

  async listen(url: string, options: ListenOptions): Promise<Listener> {
    const { host, port } = tcpAddress(url);
    const server = createServer((socket) => tuneTcpSocket(socket));
    await listening(server, () => server.listen(port, host));
    const bound = (server.address() as AddressInfo).port;
    return new StreamListener(server, formatHostPort('tcp', host, bound), options.handshakeLimits);
  },

  async dial(url: string, options: DialOptions): Promise<Channel> {
    const { host, port } = tcpAddress(url);
    const reader = new StaticReader();
    const socket = await connected(createConnection({ host, port, ...reader.options }));
    tuneTcpSocket(socket);
    return reader.attach(new SocketChannel(socket, options.limits, `${host}:${port}`, true));
  },
};
