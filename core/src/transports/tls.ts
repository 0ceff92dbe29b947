/**
 * `tls+tcp://host:port`: TCP with TLS (node:tls). The host is the TLS server; daemons verify
 * it (CA pinned, host name or IP checked against the certificate) before they prove the
 * profile's secret, so neither tasks nor results cross the network in clear.
 *
 * Zero-config: with no `cert`/`key` in the listen options, the host makes a private CA and a
 * server certificate in memory (see `tls/zero-config.ts`) and hands daemons the CA
 * certificate through the listener's `dialOptions`, which launch commands carry.
 */
import { readFileSync } from 'node:fs';
import { createServer, isIP, type AddressInfo, type Socket } from 'node:net';
import { connect as tlsConnect, createSecureContext, TLSSocket, type SecureContext } from 'node:tls';
import { ConfigError } from '../errors.js';
import { zeroConfigCredentials } from '../tls/zero-config.js';
import type { Channel, DialOptions, Listener, ListenOptions, Transport } from '../transport.js';
import { allowKeys } from './option-keys.js';
import { SocketChannel, StaticReader } from './socket-channel.js';
import { connected, listening, StreamListener } from './stream-listener.js';
import { formatHostPort, tcpAddress, tuneTcpSocket } from './tcp.js';

/**
 * TLS options the host listens with (`daemons({ url, listenOptions })`). Give `cert` and
 * `key` together, or neither for zero-config.
 */
export interface TlsListenOptions {
  /** Server certificate chain, PEM: leaf first, then intermediates. */
  readonly cert?: string;
  /** The certificate's private key, PEM. */
  readonly key?: string;
  /** Passphrase of an encrypted `key`. */
  readonly passphrase?: string;
  /**
   * The CA certificate(s), PEM, that daemons should trust. Sent to daemons in launch
   * commands. Leave out for certificates from a CA daemons already trust (system store).
   */
  readonly ca?: string | readonly string[];
}

/** TLS options a daemon dials with (`--dial-options`); all JSON, since they travel in commands. */
export interface TlsDialOptions {
  /** CA certificate(s), PEM, to trust instead of the system store. */
  readonly ca?: string | readonly string[];
  /** A file on the daemon's machine holding the CA certificate(s), PEM. */
  readonly caFile?: string;
  /** Host name to verify the certificate against, when it differs from the URL's host. */
  readonly servername?: string;
}

function pemList(value: unknown, name: string): string[] | undefined {
  if (value === undefined) return undefined;
  const list = Array.isArray(value) ? value : [value];
  if (!list.every((v) => typeof v === 'string' && v.includes('-----BEGIN'))) {
    throw new ConfigError(`TLS option '${name}' must be PEM text (or an array of PEM texts)`);
  }
  return list as string[];
}

const LISTEN_KEYS = ['cert', 'key', 'passphrase', 'ca'] as const;
const DIAL_KEYS = ['ca', 'caFile', 'servername'] as const;

/**
 * The user's own credentials (undefined for zero-config), checked: keys, types, and that the
 * certificate and key make a context.
 */
function ownCredentials(options: { readonly [key: string]: unknown }): { context: SecureContext; ca: string[] | undefined } | undefined {
  allowKeys('tls+tcp://', 'listen', options, LISTEN_KEYS);
  const { cert, key, passphrase } = options as TlsListenOptions;
  const ca = pemList(options.ca, 'ca');
  if (cert === undefined && key === undefined) {
    if (ca !== undefined) throw new ConfigError(`TLS listen option 'ca' was given without 'cert' and 'key'`);
    if (passphrase !== undefined) throw new ConfigError(`TLS listen option 'passphrase' was given without 'cert' and 'key'`);
    return undefined;
  }
  if (typeof cert !== 'string' || typeof key !== 'string') {
    throw new ConfigError(`TLS listen options need both 'cert' and 'key' as PEM text, or neither (zero-config)`);
  }
  if (passphrase !== undefined && typeof passphrase !== 'string') throw new ConfigError(`TLS listen option 'passphrase' must be a string`);
  try {
    const context = createSecureContext({ cert, key, minVersion: 'TLSv1.2', ...(passphrase !== undefined ? { passphrase } : {}) });
    return { context, ca };
  } catch (err) {
    throw new ConfigError(`TLS listen options: the certificate or key is unusable: ${(err as Error).message}`);
  }
}

/** Credentials for the server side, from the user or made on the spot. */
function serverCredentials(host: string, options: { readonly [key: string]: unknown }): { context: SecureContext; caForDaemons: string[] | undefined } {
  const own = ownCredentials(options);
  if (own !== undefined) return { context: own.context, caForDaemons: own.ca };
  const made = zeroConfigCredentials(host);
  return { context: createSecureContext({ cert: made.certPem, key: made.keyPem, minVersion: 'TLSv1.2' }), caForDaemons: [made.caPem] };
}

/** Checks dial options: keys and types (they travel to daemons as JSON). */
function checkDial(options: { readonly [key: string]: unknown }): void {
  allowKeys('tls+tcp://', 'dial', options, DIAL_KEYS);
  pemList(options.ca, 'ca');
  if (options.caFile !== undefined && (typeof options.caFile !== 'string' || options.caFile === '')) throw new ConfigError(`TLS dial option 'caFile' must be a path`);
  if (options.servername !== undefined && (typeof options.servername !== 'string' || options.servername === '')) {
    throw new ConfigError(`TLS dial option 'servername' must be a host name`);
  }
}

/**
 * Wraps each accepted TCP connection in a server-side TLSSocket at once, so that a
 * connection failing the TLS handshake (garbage, a daemon that distrusts our certificate,
 * silence) reaches the dispatcher as a channel, which counts, logs and times it out like
 * any other connection that fails the handshake.
 */
function serverSocket(raw: Socket, context: SecureContext): Socket {
  tuneTcpSocket(raw);
  const socket = new TLSSocket(raw, { isServer: true, secureContext: context, requestCert: false });
  let secured = false;
  socket.once('secure', () => (secured = true));
  // A peer that hangs up before the TLS handshake completes gets no plain 'error';
  // name the likely reason so the host's log says something useful.
  socket.on('end', () => {
    if (!secured) socket.destroy(new Error('the peer closed the connection during the TLS handshake (a daemon that does not trust this certificate, or not a TLS client)'));
  });
  return socket;
}

/** TCP with TLS; the host presents a certificate, daemons verify it. */
export const tlsTransport: Transport = {
  schemes: ['tls+tcp'],
  checkListenOptions: (options) => void ownCredentials(options),
  checkDialOptions: checkDial,

  async listen(url: string, options: ListenOptions): Promise<Listener> {
    const { host, port } = tcpAddress(url);
    const { handshakeLimits, ...own } = options;
    const { context, caForDaemons } = serverCredentials(host, own);
    const server = createServer();
    await listening(server, () => server.listen(port, host));
    const bound = (server.address() as AddressInfo).port;
    const dialOptions = caForDaemons ? { ca: caForDaemons.length === 1 ? caForDaemons[0]! : caForDaemons } : undefined;
    return new StreamListener(server, formatHostPort('tls+tcp', host, bound), handshakeLimits, {
      wrap: (raw) => serverSocket(raw, context),
      ...(dialOptions ? { dialOptions } : {}),
    });
  },

  async dial(url: string, options: DialOptions): Promise<Channel> {
    const { host, port } = tcpAddress(url);
    const given = pemList(options.ca, 'ca');
    let ca = given;
    if (options.caFile !== undefined) {
      if (typeof options.caFile !== 'string') throw new ConfigError(`TLS dial option 'caFile' must be a path`);
      ca = [...(ca ?? []), readFileSync(options.caFile, 'utf8')];
    }
    const servername = typeof options.servername === 'string' ? options.servername : isIP(host) === 0 ? host : undefined;
    // Decrypted reads go into the process's one read buffer (tls.connect's `onread`), as a
    // plain socket's do: no fresh buffer and no 'data' event per read.
    const reader = new StaticReader();
    const socket = tlsConnect({
      host,
      port,
      // Never trust an unverified host: it would receive the daemon's proof and send it code.
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
      ...(ca ? { ca } : {}),
      ...(servername ? { servername } : {}),
      ...reader.options,
    });
    await connected(socket, 'secureConnect');
    tuneTcpSocket(socket);
    return reader.attach(new SocketChannel(socket, options.limits, `${host}:${port}`, true));
  },
};
