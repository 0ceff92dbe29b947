/**
 * Options of {@link wsTransport}, and the per-side options a profile adds: `listenOptions`
 * (host only) and `dialOptions` (daemons only; they travel in daemon command lines).
 * Every option is checked here; unknown keys are errors.
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '@mirai-ts/core';

/**
 * Options of `wsTransport(options)`. They travel to daemons inside the transport's plugin
 * reference (a daemon rebuilds the transport from them), so they are JSON and hold no
 * private key: give a certificate's key in `listenOptions` or as `keyFile`.
 */
export interface WsTransportOptions {
  /**
   * Extra HTTP headers daemons send with the WebSocket upgrade request: credentials an
   * ingress or reverse proxy asks for (`Authorization`, a cookie). They reach daemons in
   * their command line; prefer `headersFile` where other users share the daemon's machine.
   */
  readonly headers?: Readonly<Record<string, string>>;
  /** A JSON file of headers on the daemon's machine (`{"Authorization": "Bearer …"}`). */
  readonly headersFile?: string;
  /** CA certificate(s), PEM, daemons trust for `wss://` instead of the system store. */
  readonly ca?: string | readonly string[];
  /** A file on the daemon's machine holding CA certificate(s), PEM. */
  readonly caFile?: string;
  /** Host name daemons verify the certificate against, when it differs from the URL's host. */
  readonly servername?: string;
  /** Host only: certificate chain file (PEM) for `wss://`, with `keyFile`. */
  readonly certFile?: string;
  /** Host only: the certificate's private key file (PEM). */
  readonly keyFile?: string;
  /** How long a daemon waits for the host (TCP, TLS and the HTTP upgrade), in ms. Default 10000. */
  readonly connectTimeoutMs?: number;
  /**
   * Each side sends a WebSocket ping this often (ms), so proxies that drop idle
   * connections (nginx: 60 s) keep ours, and the answers show the path still forwards: a
   * daemon with no task that stays silent for three heartbeats is lost (see `busyTimeoutMs`).
   * Default 20000; 0 turns pings and the silence check off.
   */
  readonly heartbeatMs?: number;
  /**
   * How long a peer that may be busy may stay silent before its connection is declared lost,
   * in ms: on the host, a daemon running a task (a task that blocks the daemon's event loop in
   * synchronous code blocks its pongs too); on a daemon, the host (it may be busy in the
   * application's code). A daemon with no task answers pings, and is lost after three silent
   * heartbeats. Set it above the longest time a task blocks the event loop. Default 1800000
   * (30 min); 0: never. Needs `heartbeatMs` > 0.
   */
  readonly busyTimeoutMs?: number;
}

/** Host-only options, from the profile's `listenOptions`: may hold the private key itself. */
export interface WsListenOptions {
  /** Server certificate chain, PEM (leaf first). With `key`; neither means zero-config TLS. */
  readonly cert?: string;
  /** The certificate's private key, PEM. */
  readonly key?: string;
  /** Passphrase of an encrypted key. */
  readonly passphrase?: string;
  readonly certFile?: string;
  readonly keyFile?: string;
  /** CA certificate(s), PEM, handed to daemons (launch commands carry it) with your own cert. */
  readonly ca?: string | readonly string[];
  readonly heartbeatMs?: number;
  readonly busyTimeoutMs?: number;
}

/** What a daemon dials with: the transport's options under the profile's `dialOptions`. */
export type WsDialOptions = Pick<WsTransportOptions, 'headers' | 'headersFile' | 'ca' | 'caFile' | 'servername' | 'connectTimeoutMs' | 'heartbeatMs' | 'busyTimeoutMs'>;

const TRANSPORT_KEYS = ['headers', 'headersFile', 'ca', 'caFile', 'servername', 'certFile', 'keyFile', 'connectTimeoutMs', 'heartbeatMs', 'busyTimeoutMs'] as const;
const LISTEN_KEYS = ['cert', 'key', 'passphrase', 'certFile', 'keyFile', 'ca', 'heartbeatMs', 'busyTimeoutMs'] as const;
const DIAL_KEYS = ['headers', 'headersFile', 'ca', 'caFile', 'servername', 'connectTimeoutMs', 'heartbeatMs', 'busyTimeoutMs'] as const;
/** Keys core itself puts in listen and dial options. */
const CORE_KEYS = new Set(['handshakeLimits', 'limits']);
/** Headers the WebSocket handshake owns: setting them would break it. */
const RESERVED_HEADERS = new Set(['host', 'upgrade', 'connection', 'sec-websocket-key', 'sec-websocket-version', 'sec-websocket-extensions', 'sec-websocket-protocol']);
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Validates `wsTransport(options)`. */
export function checkTransportOptions(options: unknown): WsTransportOptions {
  if (options === undefined) return {};
  const record = asRecord(options, 'wsTransport(options)');
  if ('key' in record || 'cert' in record || 'passphrase' in record) {
    throw new ConfigError(
      `wsTransport(options): 'cert', 'key' and 'passphrase' would travel to every daemon; give them in the profile's listenOptions (host only), or use 'certFile'/'keyFile'`,
    );
  }
  checkKeys(record, TRANSPORT_KEYS, 'wsTransport(options)');
  checkValues(record, 'wsTransport(options)');
  return { ...record } as WsTransportOptions;
}

/** The transport's options under the host's listen options (core's own keys dropped). */
export function listenSettings(base: WsTransportOptions, options: Record<string, unknown>): WsListenOptions {
  const own = withoutCoreKeys(options);
  checkKeys(own, LISTEN_KEYS, 'wsTransport listen options');
  checkValues(own, 'wsTransport listen options');
  const merged: Record<string, unknown> = {};
  for (const key of ['certFile', 'keyFile', 'heartbeatMs', 'busyTimeoutMs'] as const) if (base[key] !== undefined) merged[key] = base[key];
  return { ...merged, ...own } as WsListenOptions;
}

/** The transport's options under a daemon's dial options (core's own keys dropped). */
export function dialSettings(base: WsTransportOptions, options: Record<string, unknown>): WsDialOptions {
  const own = withoutCoreKeys(options);
  checkKeys(own, DIAL_KEYS, 'wsTransport dial options');
  checkValues(own, 'wsTransport dial options');
  const { certFile: _c, keyFile: _k, ...forDial } = base;
  return { ...forDial, ...own };
}

/** PEM text from `value` (one or many) plus a file's, or undefined when neither is given. */
export function pemList(value: string | readonly string[] | undefined, file: string | undefined, what: string): string[] | undefined {
  const list = value === undefined ? [] : typeof value === 'string' ? [value] : [...value];
  if (file !== undefined) list.push(readOptionFile(file, `${what}File`));
  return list.length > 0 ? list : undefined;
}

/** Reads a file an option names; the message names the option and path, never the content. */
export function readOptionFile(path: string, option: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`wsTransport option '${option}': cannot read '${path}': ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** The headers to send: `headersFile` first, `headers` over it. */
export function resolveHeaders(options: WsDialOptions): Record<string, string> {
  const out: Record<string, string> = {};
  if (options.headersFile !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readOptionFile(options.headersFile, 'headersFile'));
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      throw new ConfigError(`wsTransport option 'headersFile': '${options.headersFile}' is not JSON`);
    }
    checkHeaders(parsed, `headersFile '${options.headersFile}'`);
    Object.assign(out, parsed);
  }
  Object.assign(out, options.headers);
  return out;
}

function asRecord(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError(`${where}: options must be an object, got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`);
  }
  return value as Record<string, unknown>;
}

function withoutCoreKeys(options: Record<string, unknown>): Record<string, unknown> {
  const own: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) if (!CORE_KEYS.has(key) && value !== undefined) own[key] = value;
  return own;
}

function checkKeys(record: Record<string, unknown>, known: readonly string[], where: string): void {
  for (const key of Object.keys(record)) {
    if (known.includes(key)) continue;
    const near = known.find((k) => editDistance(k.toLowerCase(), key.toLowerCase()) <= 2);
    throw new ConfigError(`${where}: unknown option '${key}'${near ? ` (did you mean '${near}'?)` : ''}; known: ${known.join(', ')}`);
  }
}

function checkValues(record: Record<string, unknown>, where: string): void {
  for (const key of ['headersFile', 'caFile', 'servername', 'certFile', 'keyFile', 'passphrase'] as const) {
    const v = record[key];
    if (v !== undefined && (typeof v !== 'string' || v === '')) throw new ConfigError(`${where}: '${key}' must be a non-empty string, got ${shown(v)}`);
  }
  for (const key of ['connectTimeoutMs', 'heartbeatMs', 'busyTimeoutMs'] as const) {
    const v = record[key];
    const min = key === 'connectTimeoutMs' ? 1 : 0;
    if (v !== undefined && !(typeof v === 'number' && Number.isFinite(v) && v >= min && v <= 2 ** 31 - 1)) {
      throw new ConfigError(`${where}: '${key}' must be a number of ms ${min === 0 ? '≥ 0' : '> 0'}, got ${shown(v)}`);
    }
  }
  for (const key of ['cert', 'key'] as const) {
    const v = record[key];
    if (v !== undefined && !(typeof v === 'string' && v.includes('-----BEGIN'))) throw new ConfigError(`${where}: '${key}' must be PEM text`);
  }
  const ca = record.ca;
  if (ca !== undefined) {
    const list = Array.isArray(ca) ? ca : [ca];
    if (list.length === 0 || !list.every((v) => typeof v === 'string' && v.includes('-----BEGIN CERTIFICATE'))) {
      throw new ConfigError(`${where}: 'ca' must be a PEM certificate or an array of them`);
    }
  }
  if (record.headers !== undefined) checkHeaders(record.headers, `${where}: 'headers'`);
  // A busy daemon is told apart from a silent one by its heartbeats: without them the timeout would never act.
  if (record.heartbeatMs === 0 && typeof record.busyTimeoutMs === 'number' && record.busyTimeoutMs > 0) {
    throw new ConfigError(`${where}: 'busyTimeoutMs' needs 'heartbeatMs' > 0 (heartbeats are how a busy daemon is told apart from a silent one); give heartbeatMs, or busyTimeoutMs: 0`);
  }
  if ((record.cert === undefined) !== (record.key === undefined)) throw new ConfigError(`${where}: give 'cert' and 'key' together`);
  if ((record.certFile === undefined) !== (record.keyFile === undefined)) throw new ConfigError(`${where}: give 'certFile' and 'keyFile' together`);
  if (record.cert !== undefined && record.certFile !== undefined) throw new ConfigError(`${where}: give 'cert'/'key' or 'certFile'/'keyFile', not both`);
}

function checkHeaders(value: unknown, where: string): asserts value is Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ConfigError(`${where} must be an object of header names to strings`);
  for (const [name, v] of Object.entries(value)) {
    if (!HEADER_NAME.test(name)) throw new ConfigError(`${where}: '${name}' is not a valid HTTP header name`);
    if (RESERVED_HEADERS.has(name.toLowerCase())) throw new ConfigError(`${where}: '${name}' belongs to the WebSocket handshake and cannot be set`);
    if (typeof v !== 'string' || /[\r\n\0]/.test(v)) throw new ConfigError(`${where}: the value of '${name}' must be a string without line breaks`);
  }
}

/** A value for an error message: NaN as NaN (JSON would say null). */
function shown(v: unknown): string {
  return typeof v === 'number' ? String(v) : (JSON.stringify(v) ?? typeof v);
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}
