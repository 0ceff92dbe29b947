/**
 * The host side: an HTTP(S) server that upgrades requests at the URL's path to WebSockets
 * and hands each one to the dispatcher as a channel. Anything else gets a plain HTTP answer
 * (426 for ordinary requests, 404 for upgrades at another path) and never becomes a channel.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { createSecureContext } from 'node:tls';
import { ConfigError, type Channel, type Json, type Listener, type ListenOptions } from '@mirai-ts/core';
import { zeroConfigCredentials } from '@mirai-ts/core/plugin';
import { WebSocketServer } from 'ws';
import { messageLimit, WsChannel, type Liveness } from './channel.js';
import { DEFAULT_BUSY_TIMEOUT_MS, DEFAULT_HEARTBEAT_MS } from './defaults.js';
import { listenSettings, pemList, readOptionFile, type WsListenOptions, type WsTransportOptions } from './options.js';
import { formatWsUrl, parseWsUrl } from './url.js';

/** An HTTP server whose upgrade requests at one path become channels. */
export class WsListener implements Listener {
  onChannel: (channel: Channel) => void = (channel) => channel.close();
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    private readonly wss: WebSocketServer,
    readonly url: string,
    readonly dialOptions: { readonly [key: string]: Json } | undefined,
  ) {}

  /** Listens at `url` (`ws://` or `wss://`; port 0 picks a free one). */
  static async open(url: string, base: WsTransportOptions, options: ListenOptions): Promise<WsListener> {
    const address = parseWsUrl(url);
    const settings = listenSettings(base, options);
    const liveness: Liveness = {
      heartbeatMs: settings.heartbeatMs ?? DEFAULT_HEARTBEAT_MS,
      busyTimeoutMs: settings.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS,
      peerRunsTasks: true,
    };
    let server: Server;
    let dialOptions: { [key: string]: Json } | undefined;
    if (address.secure) {
      const tls = serverCredentials(address.host, settings);
      server = createHttpsServer({ ...tls.credentials, minVersion: 'TLSv1.2' }) as unknown as Server;
      if (tls.caForDaemons) dialOptions = { ca: tls.caForDaemons.length === 1 ? tls.caForDaemons[0]! : tls.caForDaemons };
    } else {
      // The transport's own TLS options would fail every daemon's dial later: say so now.
      const given = { ...pick(base, ['ca', 'caFile', 'servername']), ...settings };
      for (const key of ['cert', 'key', 'certFile', 'keyFile', 'ca', 'caFile', 'servername', 'passphrase'] as const) {
        if (given[key as keyof typeof given] !== undefined) {
          throw new ConfigError(`wsTransport: TLS option '${key}' given for ${url}, a plain-text URL: listen at wss:// for TLS`);
        }
      }
      server = createHttpServer();
    }
    // Upgrade requests must arrive promptly; a silent or trickling client is dropped.
    server.headersTimeout = 10_000;
    server.requestTimeout = 15_000;
    const wss = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      clientTracking: false,
      // Until a peer proves the secret, only handshake frames fit; raised by setLimits().
      maxPayload: messageLimit(options.handshakeLimits),
    });
    wss.on('error', () => {}); // reported per connection
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(address.port, address.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const bound = (server.address() as AddressInfo).port;
    const listener = new WsListener(server, wss, formatWsUrl({ ...address, search: '' }, bound), dialOptions);
    listener.serve(address.path, options, liveness);
    return listener;
  }

  private serve(path: string, options: ListenOptions, liveness: Liveness): void {
    const { server, wss } = this;
    server.on('connection', (socket: Socket) => {
      socket.setNoDelay(true);
      // Finds peers that vanished without a FIN (a pulled cable, a dead VM).
      socket.setKeepAlive(true, 5_000);
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    server.on('request', (_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket', connection: 'close' });
      res.end('mirai-ts host: this URL takes WebSocket connections from mirai-ts daemons\n');
    });
    server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
      socket.on('error', () => {});
      if (requestPath(req.url) !== path) {
        socket.end(`HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Type: text/plain\r\n\r\nno mirai-ts host at this path; it listens at ${path}\n`);
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        this.onChannel(new WsChannel(ws, req.socket, options.handshakeLimits, peerName(req), liveness));
      });
    });
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      for (const socket of this.sockets) socket.destroy();
    });
    this.wss.close();
  }

  ref(): void {
    this.server.ref();
  }

  unref(): void {
    this.server.unref();
  }
}

function pick<T extends object, K extends keyof T>(from: T, keys: readonly K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const key of keys) if (from[key] !== undefined) out[key] = from[key];
  return out;
}

function requestPath(url: string | undefined): string {
  const raw = url ?? '/';
  const q = raw.indexOf('?');
  return q === -1 ? raw : raw.slice(0, q);
}

/** The peer's address, and whom a proxy says it forwards for. */
function peerName(req: IncomingMessage): string {
  const own = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
  const forwarded = req.headers['x-forwarded-for'];
  return typeof forwarded === 'string' && forwarded !== '' ? `${own} (forwarded for ${forwarded.slice(0, 100)})` : own;
}

/** Credentials for `wss://`: the user's (inline or files), or zero-config, as core's `tls+tcp://`. */
function serverCredentials(
  host: string,
  settings: WsListenOptions,
): { credentials: { cert: string; key: string; passphrase?: string }; caForDaemons: string[] | undefined } {
  const ca = pemList(settings.ca, undefined, 'ca');
  let cert = settings.cert;
  let key = settings.key;
  if (settings.certFile !== undefined && settings.keyFile !== undefined) {
    cert = readOptionFile(settings.certFile, 'certFile');
    key = readOptionFile(settings.keyFile, 'keyFile');
  }
  if (cert === undefined || key === undefined) {
    if (ca !== undefined) throw new ConfigError(`wsTransport listen option 'ca' was given without a certificate and key`);
    if (settings.passphrase !== undefined) throw new ConfigError(`wsTransport listen option 'passphrase' was given without a certificate and key`);
    const made = zeroConfigCredentials(host);
    return { credentials: { cert: made.certPem, key: made.keyPem }, caForDaemons: [made.caPem] };
  }
  const credentials = { cert, key, ...(settings.passphrase !== undefined ? { passphrase: settings.passphrase } : {}) };
  try {
    createSecureContext(credentials); // a bad certificate or key is a ConfigError now, not a failed handshake later
    return { credentials, caForDaemons: ca };
  } catch (err) {
    throw new ConfigError(`wsTransport: the certificate or key is unusable: ${(err as Error).message}`);
  }
}
