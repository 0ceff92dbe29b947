/**
 * `wsTransport(options)`: a core {@link Transport} for `ws://` and `wss://` URLs, so daemons
 * reach a host through HTTP proxies and ingress controllers that pass only HTTP(S).
 * The host listens (an HTTP server upgrading requests at the URL's path); daemons dial.
 */
import type { Socket } from 'node:net';
import { ConfigError, type Channel, type DialOptions, type Json, type Listener, type ListenOptions, type Transport } from '@mirai-ts/core';
import WebSocket from 'ws';
import { messageLimit, WsChannel } from './channel.js';
import { DEFAULT_BUSY_TIMEOUT_MS, DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_HEARTBEAT_MS } from './defaults.js';
import { WsTransportError } from './errors.js';
import { WsListener } from './listener.js';
import { checkTransportOptions, dialSettings, listenSettings, pemList, resolveHeaders, type WsTransportOptions } from './options.js';
import { formatWsUrl, parseWsUrl } from './url.js';

/** The package daemons import to rebuild the transport. */
export const PACKAGE_NAME = '@mirai-ts/transport-ws';

/** A WebSocket transport; `options` are what daemons receive. */
export interface WsTransport extends Transport {
  readonly options: WsTransportOptions;
}

/**
 * A transport that carries host–daemon traffic over WebSockets.
 *
 * ```ts
 * await daemons(4, { url: 'wss://0.0.0.0:8443/mirai', transports: [wsTransport()] });
 * ```
 *
 * `wss://` without a certificate is zero-config TLS, as core's `tls+tcp://`: the host makes
 * a private CA and daemons receive its certificate in their dial options and always verify
 * the host. Daemons rebuild the transport from `ref` (this package, this export and
 * `options`); the profile's `listenOptions` (host only: `cert`, `key`, ...) and
 * `dialOptions` (daemons only: `headers`, `ca`, ...) override `options` on their side.
 */
export function wsTransport(options: WsTransportOptions = {}): WsTransport {
  const checked = checkTransportOptions(options);
  return {
    schemes: ['ws', 'wss'],
    options: checked,
    ref: { specifier: PACKAGE_NAME, exportName: 'wsTransport', options: checked as unknown as Json },
    listen: (url: string, listenOptions: ListenOptions): Promise<Listener> => WsListener.open(url, checked, listenOptions),
    dial: (url: string, dialOptions: DialOptions): Promise<Channel> => dialWs(url, checked, dialOptions),
    // Asked by daemons() before it resets a running profile: a typo costs nothing.
    checkListenOptions: (listenOptions) => void listenSettings(checked, listenOptions),
    checkDialOptions: (dialOptions) => void dialSettings(checked, dialOptions),
  };
}

async function dialWs(url: string, base: WsTransportOptions, options: DialOptions): Promise<Channel> {
  const address = parseWsUrl(url);
  const settings = dialSettings(base, options);
  const ca = pemList(settings.ca, settings.caFile, 'ca');
  if (!address.secure && (ca !== undefined || settings.servername !== undefined)) {
    throw new ConfigError(`wsTransport: TLS dial options ('ca', 'caFile', 'servername') were given for ${url}, a plain-text URL: dial wss:// for TLS`);
  }
  const headers = resolveHeaders(settings);
  const ws = new WebSocket(formatWsUrl(address, address.port), {
    perMessageDeflate: false,
    followRedirects: false,
    handshakeTimeout: settings.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    maxPayload: messageLimit(options.limits),
    headers,
    ...(address.secure
      ? {
          // Never trust an unverified host: it would receive the daemon's proof and send it code.
          rejectUnauthorized: true,
          minVersion: 'TLSv1.2' as const,
          ...(ca ? { ca } : {}),
          ...(settings.servername !== undefined ? { servername: settings.servername } : {}),
        }
      : {}),
  });
  const peer = `${address.host}:${address.port}`;
  return new Promise<Channel>((resolve, reject) => {
    let socket: Socket | undefined;
    let settled = false;
    const fail = (err: WsTransportError): void => {
      if (settled) return;
      settled = true;
      ws.terminate();
      reject(err);
    };
    ws.once('upgrade', (res) => {
      socket = res.socket as Socket;
      socket.setKeepAlive(true, 5_000);
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (body.length < 300) body += chunk;
      });
      const done = (): void => fail(new WsTransportError(`${url}: ${httpRefusal(res.statusCode ?? 0, body)}`));
      res.once('end', done);
      res.once('error', done);
      // A proxy that keeps the connection open must not stall the dial.
      setTimeout(done, 1_000).unref();
    });
    ws.once('error', (err) => fail(new WsTransportError(`cannot connect to ${url}: ${explainDialError(err, address.secure)}`, err)));
    ws.once('open', () => {
      if (settled) return;
      settled = true;
      ws.removeAllListeners('error');
      // Created in the 'open' callback, so its message handler is in place before any message.
      // The host may be busy in the application's code (its event loop blocked) at any time:
      // a daemon gives it busyTimeoutMs, not a few heartbeats (see Liveness).
      const liveness = {
        heartbeatMs: settings.heartbeatMs ?? DEFAULT_HEARTBEAT_MS,
        busyTimeoutMs: settings.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS,
        peerRunsTasks: false,
      };
      resolve(new WsChannel(ws, socket!, options.limits, peer, liveness));
    });
  });
}

function httpRefusal(status: number, body: string): string {
  const text = body.replace(/\s+/g, ' ').trim().slice(0, 200);
  const why =
    status === 404
      ? 'nothing takes WebSocket connections at this path'
      : status === 401 || status === 403
        ? 'the host or a proxy in front of it wants credentials (the "headers" dial option)'
        : status >= 300 && status < 400
          ? 'a redirect, which daemons do not follow: dial the final URL'
          : 'an HTTP answer instead of a WebSocket upgrade';
  return `HTTP ${status}: ${why}${text ? ` (${text})` : ''}`;
}

/** A dial error, with what it most likely means. */
function explainDialError(err: Error & { code?: string }, secure: boolean): string {
  const code = err.code ?? '';
  if (code === 'ECONNREFUSED') return `connection refused: no host listens there (${code})`;
  if (!secure && (code === 'ECONNRESET' || /socket hang up/.test(err.message))) {
    return `the host hung up during the WebSocket upgrade (${err.message}); a host listening at wss:// does that to plain-text clients: dial wss://`;
  }
  if (secure && /wrong version number|packet length too long|ERR_SSL/i.test(`${code} ${err.message}`)) {
    return `the host does not speak TLS (${err.message}): is it listening at ws:// rather than wss://?`;
  }
  if (secure && /certificate|CERT|self.signed|unable to verify/i.test(`${code} ${err.message}`)) {
    return `the host's certificate is not trusted here (${code || err.message}): give the CA that signed it as the 'ca' or 'caFile' dial option`;
  }
  return `${err.message}${code && !err.message.includes(code) ? ` (${code})` : ''}`;
}
