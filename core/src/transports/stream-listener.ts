import type { Server, Socket } from 'node:net';
import type { FrameLimits } from '../wire/frame.js';
import type { Channel, Json, Listener } from '../transport.js';
import { SocketChannel } from './socket-channel.js';

/** How a {@link StreamListener} treats each accepted socket. */
export interface StreamListenerOptions {
  /** `'connection'` for net servers, `'secureConnection'` for tls servers (default `'connection'`). */
  readonly connectionEvent?: 'connection' | 'secureConnection';
  /** Wraps an accepted socket before it becomes a channel (a server-side TLSSocket, say). */
  readonly wrap?: (socket: Socket) => Socket;
  /** Dial options every daemon of this listener needs (see {@link Listener.dialOptions}). */
  readonly dialOptions?: { readonly [key: string]: Json };
  /** Called once the server has closed (to remove a socket file, say). */
  readonly onClosed?: () => void;
}

/** A {@link Listener} over a Node `net`/`tls` server; shared by the stream transports. */
export class StreamListener implements Listener {
  onChannel: (channel: Channel) => void = (channel) => channel.close();
  readonly dialOptions: { readonly [key: string]: Json } | undefined;
  private readonly sockets = new Set<Socket>();

  constructor(
    private readonly server: Server,
    readonly url: string,
    limits: FrameLimits,
    private readonly options: StreamListenerOptions = {},
  ) {
    this.dialOptions = options.dialOptions;
    server.on(options.connectionEvent ?? 'connection', (raw: Socket) => {
      const peer = raw.remoteAddress ? `${raw.remoteAddress}:${raw.remotePort}` : 'local socket';
      const socket = options.wrap ? options.wrap(raw) : raw;
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      this.onChannel(new SocketChannel(socket, limits, peer));
    });
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      for (const socket of this.sockets) socket.destroy();
    });
    this.options.onClosed?.();
  }

  ref(): void {
    this.server.ref();
  }

  unref(): void {
    this.server.unref();
  }
}

/** Waits for a server to listen or fail. */
export function listening(server: Server, listen: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.once('listening', () => {
      server.off('error', reject);
      resolve();
    });
    listen();
  });
}

/** Waits for a client socket to connect or fail. */
export function connected(socket: Socket, event: 'connect' | 'secureConnect' = 'connect'): Promise<Socket> {
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.once(event, () => {
      socket.off('error', reject);
      resolve(socket);
    });
  });
}
