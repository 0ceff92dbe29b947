import { readdirSync, readFileSync } from 'node:fs';
import type { Server, Socket } from 'node:net';
import type { FrameLimits } from '../wire/frame.js';
import type { Channel, Json, Listener } from '../transport.js';
import { readIntoSharedBuffer } from './shared-read-buffer.js';
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
  onDropped?: (peer: string, why: string) => void;
  readonly dialOptions: { readonly [key: string]: Json } | undefined;
  private readonly sockets = new Set<Socket>();

  constructor(
    private readonly server: Server,
    readonly url: string,
    limits: FrameLimits,
    private readonly options: StreamListenerOptions = {},
  ) {
    this.dialOptions = options.dialOptions;
    // Out of file descriptors, libuv accepts and closes connections silently: stop short of
    // the limit instead, so each turned-away daemon is logged and counted, and the host
    // keeps serving those it has.
    const room = connectionRoom();
    if (room !== undefined) server.maxConnections = room;
    server.on('drop', (data?: { remoteAddress?: string; remotePort?: number }) => {
      const peer = data?.remoteAddress ? `${data.remoteAddress}:${data.remotePort}` : 'local socket';
      this.onDropped?.(peer, `too many open files: the host is near its file descriptor limit (EMFILE; ${room} connections, ulimit -n ${fdLimit()}); raise it with \`ulimit -n\``);
    });
    server.on(options.connectionEvent ?? 'connection', (raw: Socket) => {
      const peer = raw.remoteAddress ? `${raw.remoteAddress}:${raw.remotePort}` : 'local socket';
      const socket = options.wrap ? options.wrap(raw) : raw;
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      // The socket (a TLS one too: its decrypted bytes) reads into the buffer all of them share
      // (see shared-read-buffer.ts); the channel is made first, and no read can come before this
      // handler returns.
      let channel: SocketChannel | undefined;
      const shared = readIntoSharedBuffer(socket, (buffer, bytes) => channel!.read(buffer, bytes));
      channel = new SocketChannel(socket, limits, peer, shared);
      this.onChannel(channel);
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

/** Descriptors kept free for everything else the host opens (files, launches, its own sockets). */
const FD_RESERVE = 32;

/** The soft limit on open files (Linux, from /proc), or undefined where it cannot be read. */
function fdLimit(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** How many more connections fit under the fd limit, with a reserve; undefined if unknown. */
function connectionRoom(): number | undefined {
  const limit = fdLimit();
  if (limit === undefined) return undefined;
  let open = 0;
  try {
    open = readdirSync('/proc/self/fd').length;
  } catch {
    return undefined;
  }
  return Math.max(1, limit - open - FD_RESERVE);
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
