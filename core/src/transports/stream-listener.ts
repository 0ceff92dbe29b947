import type { Server, Socket } from 'node:net';
import type { FrameLimits } from '../wire/frame.js';
import type { Channel, Listener } from '../transport.js';
import { SocketChannel } from './socket-channel.js';

/** A {@link Listener} over a Node `net`/`tls` server; shared by the stream transports. */
export class StreamListener implements Listener {
  onChannel: (channel: Channel) => void = (channel) => channel.close();
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly onClosed: () => void;

  constructor(
    server: Server,
    readonly url: string,
    limits: FrameLimits,
    connectionEvent: 'connection' | 'secureConnection',
    onClosed: () => void = () => {},
  ) {
    this.server = server;
    this.onClosed = onClosed;
    server.on(connectionEvent, (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      const peer = socket.remoteAddress ? `${socket.remoteAddress}:${socket.remotePort}` : 'local socket';
      this.onChannel(new SocketChannel(socket, limits, peer));
    });
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      for (const socket of this.sockets) socket.destroy();
    });
    this.onClosed();
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
