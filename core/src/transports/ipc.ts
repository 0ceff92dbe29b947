import { rmdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { privateSocketDirs } from '../api/urls.js';
import { createConnection, createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../errors.js';
import type { Channel, DialOptions, Listener, ListenOptions, Transport } from '../transport.js';
import { SocketChannel, StaticReader } from './socket-channel.js';
import { connected, listening, StreamListener } from './stream-listener.js';

/** `ipc:///path/to.sock` → the socket path. */
export function ipcPath(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(`invalid ipc URL '${url}': expected ipc:///absolute/path.sock`);
  }
  if (parsed.protocol !== 'ipc:' || parsed.pathname === '' || parsed.pathname === '/') {
    throw new ConfigError(`invalid ipc URL '${url}': expected ipc:///absolute/path.sock`);
  }
  return fileURLToPath(`file://${parsed.pathname}`);
}

/** Local Unix-domain sockets: the default transport for daemons on the same machine. */
export const ipcTransport: Transport = {
  schemes: ['ipc'],

  async listen(url: string, options: ListenOptions): Promise<Listener> {
    const path = ipcPath(url);
    const server = createServer();
    await listening(server, () => server.listen(path));
    return new StreamListener(server, url, options.handshakeLimits, { onClosed: () => removeSocket(path) });
  },

  async dial(url: string, options: DialOptions): Promise<Channel> {
    const reader = new StaticReader();
    const socket = await connected(createConnection({ path: ipcPath(url), ...reader.options }));
    return reader.attach(new SocketChannel(socket, options.limits, 'host', true));
  },
};

/** Removes the socket file, and the private directory `localUrl()` made for it. */
function removeSocket(path: string): void {
  rmSync(path, { force: true });
  const dir = dirname(path);
  if (privateSocketDirs.delete(dir)) {
    try {
      rmdirSync(dir);
    } catch {
      // not empty or already gone: not ours to force
    }
  }
}
