import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmdirSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../errors.js';
import type { Channel, DialOptions, Listener, ListenOptions, Transport } from '../transport.js';
import { refuseAny } from './option-keys.js';
import { SocketChannel, StaticReader } from './socket-channel.js';
import { connected, listening, StreamListener } from './stream-listener.js';

/**
 * The socket address of an `ipc:///path/to.sock` URL (a socket file), or of an
 * `abstract://name` URL: a Linux abstract socket, which lives in the kernel only and leaves
 * nothing behind, whatever happens to its host.
 */
export function ipcPath(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(`invalid ipc URL '${url}': expected ipc:///absolute/path.sock or abstract://name`);
  }
  if (parsed.protocol === 'abstract:') {
    const name = decodeURIComponent(parsed.host + parsed.pathname);
    if (name === '' || name.length > 100) throw new ConfigError(`invalid abstract socket URL '${url}': expected abstract://name (1 to 100 characters)`);
    if (process.platform !== 'linux') throw new ConfigError(`abstract sockets (${url}) exist on Linux only; use ipc:///absolute/path.sock`);
    return `\0${name}`;
  }
  if (parsed.protocol === 'ipc:' && parsed.host !== '') {
    throw new ConfigError(`invalid ipc URL '${url}': the path must be absolute, ipc:///absolute/path.sock (three slashes); '${parsed.host}' would be read as a host`);
  }
  if (parsed.protocol !== 'ipc:' || parsed.pathname === '' || parsed.pathname === '/') {
    throw new ConfigError(`invalid ipc URL '${url}': expected ipc:///absolute/path.sock`);
  }
  return fileURLToPath(`file://${parsed.pathname}`);
}

/**
 * A fresh local URL no one else can guess: on Linux an abstract socket (nothing on disk, so
 * nothing is left behind even when the host is killed), elsewhere a socket file in a private
 * (0700) temporary directory, removed when the listener closes.
 */
export function privateSocketUrl(): string {
  const name = `mirai-${randomBytes(12).toString('hex')}`;
  if (process.platform === 'linux') return `abstract://${name}`;
  const dir = mkdtempSync(join(tmpdir(), 'mirai-'));
  privateSocketDirs.add(dir);
  return `ipc://${join(dir, `${name}.sock`)}`;
}

/** Directories {@link privateSocketUrl} made: removed with their socket when the listener closes. */
const privateSocketDirs = new Set<string>();

/** Local Unix-domain sockets: the default transport for daemons on the same machine. */
export const ipcTransport: Transport = {
  schemes: ['ipc', 'abstract'],
  checkListenOptions: (options) => refuseAny('ipc://', 'listen', options),
  checkDialOptions: (options) => refuseAny('ipc://', 'dial', options),

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
  if (path.startsWith('\0')) return; // abstract: nothing on disk
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
