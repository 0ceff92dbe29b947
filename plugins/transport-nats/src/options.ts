/**
 * Options of {@link natsTransport}: NATS credentials, TLS to the NATS server, and the
 * channel's timing. Every value is JSON, because the options travel to daemons inside the
 * transport's plugin reference (a daemon rebuilds the transport from them).
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '@mirai-ts/core';
import { checkOptions as checkOptionKeys, is, show, type OptionRule, type OptionRules } from '@mirai-ts/core/plugin';
import { credsAuthenticator, nkeyAuthenticator, type Authenticator } from '@nats-io/transport-node';
import type { NodeConnectionOptions } from '@nats-io/transport-node';
import { MAX_MESSAGE_BYTES, MIN_MESSAGE_BYTES } from './wire.js';

/** TLS to the NATS server (not between host and daemons: NATS carries that traffic). */
export interface NatsTlsOptions {
  /** CA certificate file (PEM) that signed the server's certificate. */
  readonly caFile?: string;
  /** Client certificate file (PEM), when the server asks for one. */
  readonly certFile?: string;
  /** Client key file (PEM). */
  readonly keyFile?: string;
  /** The same, inline (PEM text). They travel in daemon command lines: prefer the files. */
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  /** Default true. Setting false accepts any server certificate: for tests only. */
  readonly rejectUnauthorized?: boolean;
  /** TLS before the NATS INFO line (servers configured with `handshake_first`). */
  readonly handshakeFirst?: boolean;
}

/**
 * Options of {@link natsTransport}.
 *
 * Secrets: prefer the `…File` forms. Inline values (`pass`, `token`, `nkeySeed`) reach
 * daemons in their command line, which other users of the daemon's machine can read.
 * Nothing here is ever written to logs.
 */
export interface NatsTransportOptions {
  /** First subject token(s); the URL path comes next (`mirai.<scope>.…`). Default `'mirai'`. */
  readonly prefix?: string;
  /** User name, with `pass` or `passFile`. */
  readonly user?: string;
  readonly pass?: string;
  /** File holding the password (trailing newline ignored). */
  readonly passFile?: string;
  /** Token authentication. */
  readonly token?: string;
  readonly tokenFile?: string;
  /** NKey seed (`SU…`) authentication. */
  readonly nkeySeed?: string;
  readonly nkeySeedFile?: string;
  /** A `.creds` file (user JWT + NKey seed), for servers in operator mode. */
  readonly credsFile?: string;
  /** TLS to the NATS server: `true` requires TLS with the system's CAs. */
  readonly tls?: boolean | NatsTlsOptions;
  /** Client name shown by the server's monitoring. Default `mirai-host` / `mirai-daemon`. */
  readonly name?: string;
  /** How often each side checks on the other, in ms (a whole number, at most 2^31 - 1, as every `…Ms`). Default 1000. */
  readonly heartbeatMs?: number;
  /**
   * A peer whose NATS connection has been gone this long (ms) is treated as dead: its
   * channel closes and tasks running there settle with connection reset (19). Default 5000.
   */
  readonly peerTimeoutMs?: number;
  /**
   * How long channels survive this side's own connection to the NATS server being down
   * (server restart, network cut), in ms. Frames lost meanwhile are sent again after the
   * reconnect. Default 20000.
   */
  readonly reconnectTimeoutMs?: number;
  /** How long a daemon waits for the host to answer its connect request, in ms. Default 10000. */
  readonly connectTimeoutMs?: number;
  /**
   * Largest NATS message this transport sends, in bytes: a whole number from 1024 to 64 MiB
   * (and capped by the server's max_payload).
   */
  readonly maxMessageBytes?: number;
}

/** Timing every channel uses, resolved from the options. */
export interface Timing {
  readonly heartbeatMs: number;
  readonly peerTimeoutMs: number;
  readonly reconnectTimeoutMs: number;
  readonly connectTimeoutMs: number;
}

const STRING_KEYS = ['prefix', 'user', 'pass', 'passFile', 'token', 'tokenFile', 'nkeySeed', 'nkeySeedFile', 'credsFile', 'name'] as const;
const NUMBER_KEYS = ['heartbeatMs', 'peerTimeoutMs', 'reconnectTimeoutMs', 'connectTimeoutMs', 'maxMessageBytes'] as const;
const TLS_STRING_KEYS = ['caFile', 'certFile', 'keyFile', 'ca', 'cert', 'key'] as const;
const TLS_BOOLEAN_KEYS = ['rejectUnauthorized', 'handshakeFirst'] as const;
const KNOWN_KEYS = new Set<string>([...STRING_KEYS, ...NUMBER_KEYS, 'tls']);
/** Options whose values a message must not show: a password, a token, a seed, a private key. */
const SECRET_KEYS = new Set<string>(['pass', 'token', 'nkeySeed', 'key']);

/** Keys core itself puts in listen and dial options (next to the profile's own). */
const CORE_KEYS = new Set<string>(['handshakeLimits', 'limits']);

/** The longest a Node timer can wait; a longer one fires after 1 ms, every time. */
export const MAX_TIMER_MS = 2_147_483_647;

/** A whole number from `min` to `max`; `unit` names what it counts. */
const wholeBetween =
  (min: number, max: number, unit: string): OptionRule =>
  (value) =>
    typeof value === 'number' && Number.isSafeInteger(value) && value >= min && value <= max ? undefined : `a whole number of ${unit} from ${min} to ${max}`;

/**
 * Each number option's rule: milliseconds that a timer can hold, and a message size that
 * cannot cut a frame into tiny pieces (`maxMessageBytes: 9` sent empty messages forever).
 */
const NUMBER_RULES: Record<(typeof NUMBER_KEYS)[number], OptionRule> = {
  heartbeatMs: wholeBetween(1, MAX_TIMER_MS, 'milliseconds'),
  peerTimeoutMs: wholeBetween(1, MAX_TIMER_MS, 'milliseconds'),
  reconnectTimeoutMs: wholeBetween(1, MAX_TIMER_MS, 'milliseconds'),
  connectTimeoutMs: wholeBetween(1, MAX_TIMER_MS, 'milliseconds'),
  maxMessageBytes: wholeBetween(MIN_MESSAGE_BYTES, MAX_MESSAGE_BYTES, 'bytes'),
};

/**
 * Which keys exist, for core's `checkOptions` (an unknown key gets "did you mean" and the known
 * ones), with the number rules; the other values are checked by checkValues, which does not
 * show secrets.
 */
const KEY_RULES: OptionRules = { ...Object.fromEntries([...KNOWN_KEYS].map((key) => [key, is.any])), ...NUMBER_RULES };
const TLS_KEY_RULES: OptionRules = Object.fromEntries([...TLS_STRING_KEYS, ...TLS_BOOLEAN_KEYS].map((key) => [key, is.any]));

/** Validates options given to `natsTransport()`; unknown keys and wrong types are errors. */
export function checkOptions(options: unknown): NatsTransportOptions {
  if (options === undefined || options === null) return {};
  checkOptionKeys('natsTransport(options)', options, KEY_RULES);
  const record = options as Record<string, unknown>;
  checkValues(record, 'natsTransport(options)');
  return record as NatsTransportOptions;
}

/**
 * The NATS options among core's listen or dial options: per-side overrides, e.g. a
 * daemon-only NATS user. Core's own keys (`limits`, `handshakeLimits`) are dropped; any other
 * key must be a NATS option, so a typo (`tsl`, `passFlie`) is an error, not a daemon that
 * quietly connects without TLS or credentials.
 */
export function pickOptions(options: Record<string, unknown>, where: string): NatsTransportOptions {
  const picked: Record<string, unknown> = {};
  for (const key of Object.keys(options)) if (!CORE_KEYS.has(key) && options[key] !== undefined) picked[key] = options[key];
  checkOptionKeys(where, picked, KEY_RULES);
  checkValues(picked, where);
  return picked as NatsTransportOptions;
}

/** A value as a message may show it: a secret's only by its kind. */
function shown(key: string, value: unknown): string {
  if (!SECRET_KEYS.has(key)) return show(value);
  const kind = value === '' ? 'an empty string' : value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value === 'object' ? 'an object' : `a ${typeof value}`;
  return `${kind} (not shown: a secret)`;
}

/** Checks what core's `checkOptions` (numbers, known keys) does not: strings, TLS, pairs. */
function checkValues(record: Record<string, unknown>, where: string): void {
  for (const key of STRING_KEYS) {
    const v = record[key];
    if (v !== undefined && (typeof v !== 'string' || v === '')) throw new ConfigError(`${where}: option '${key}' must be a non-empty string, got ${shown(key, v)}`);
  }
  const tls = record.tls;
  if (tls !== undefined && typeof tls !== 'boolean') {
    if (typeof tls !== 'object' || tls === null || Array.isArray(tls)) throw new ConfigError(`${where}: option 'tls' must be true, false or an object, got ${show(tls)}`);
    checkOptionKeys(`${where}: tls`, tls, TLS_KEY_RULES);
    const t = tls as Record<string, unknown>;
    for (const key of TLS_STRING_KEYS) {
      if (t[key] !== undefined && typeof t[key] !== 'string') throw new ConfigError(`${where}: option 'tls.${key}' must be a string, got ${shown(key, t[key])}`);
    }
    for (const key of TLS_BOOLEAN_KEYS) {
      if (t[key] !== undefined && typeof t[key] !== 'boolean') throw new ConfigError(`${where}: option 'tls.${key}' must be a boolean, got ${show(t[key])}`);
    }
  }
  if (record.pass !== undefined && record.passFile !== undefined) throw new ConfigError(`${where}: give 'pass' or 'passFile', not both`);
  if (record.token !== undefined && record.tokenFile !== undefined) throw new ConfigError(`${where}: give 'token' or 'tokenFile', not both`);
  if (record.nkeySeed !== undefined && record.nkeySeedFile !== undefined) throw new ConfigError(`${where}: give 'nkeySeed' or 'nkeySeedFile', not both`);
  if ((record.pass !== undefined || record.passFile !== undefined) && record.user === undefined) {
    throw new ConfigError(`${where}: a password needs 'user'`);
  }
}

/** Merges per-side overrides onto the transport's options (the `tls` object is replaced whole). */
export function mergeOptions(base: NatsTransportOptions, override: NatsTransportOptions): NatsTransportOptions {
  return { ...base, ...override };
}

export function timingOf(options: NatsTransportOptions): Timing {
  return {
    heartbeatMs: options.heartbeatMs ?? 1_000,
    peerTimeoutMs: options.peerTimeoutMs ?? 5_000,
    reconnectTimeoutMs: options.reconnectTimeoutMs ?? 20_000,
    connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
  };
}

function readSecretFile(path: string, key: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (err) {
    // The path is not secret; the content would be.
    throw new ConfigError(`NATS option '${key}': cannot read '${path}': ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** Options for the NATS client's `connect()`: credentials read from their files now. */
export function connectionOptions(server: string, options: NatsTransportOptions, defaultName: string): NodeConnectionOptions {
  const out: NodeConnectionOptions = {
    servers: server,
    name: options.name ?? defaultName,
    // Channels decide when an outage is too long (reconnectTimeoutMs); the connection
    // itself keeps trying, so a host stays reachable once the server is back.
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    reconnectJitter: 100,
    reconnectJitterTLS: 250,
    timeout: options.connectTimeoutMs ?? 10_000,
    // Notice a dead server within ~15 s even without a TCP reset.
    pingInterval: 5_000,
    maxPingOut: 3,
  };
  if (options.user !== undefined) {
    out.user = options.user;
    const pass = options.passFile !== undefined ? readSecretFile(options.passFile, 'passFile') : options.pass;
    if (pass !== undefined) out.pass = pass;
  }
  const token = options.tokenFile !== undefined ? readSecretFile(options.tokenFile, 'tokenFile') : options.token;
  if (token !== undefined) out.token = token;
  const authenticators: Authenticator[] = [];
  const seed = options.nkeySeedFile !== undefined ? readSecretFile(options.nkeySeedFile, 'nkeySeedFile') : options.nkeySeed;
  if (seed !== undefined) {
    if (!/^S[A-Z2-7]{57}$/.test(seed)) throw new ConfigError(`NATS option '${options.nkeySeedFile !== undefined ? 'nkeySeedFile' : 'nkeySeed'}': not an NKey seed (expected 58 base32 characters starting with 'S')`);
    authenticators.push(nkeyAuthenticator(new TextEncoder().encode(seed)));
  }
  if (options.credsFile !== undefined) {
    const creds = readSecretFile(options.credsFile, 'credsFile');
    if (!creds.includes('-----BEGIN NATS USER JWT-----') || !/-----BEGIN USER NKEY SEED-----/.test(creds)) {
      throw new ConfigError(`NATS option 'credsFile': '${options.credsFile}' is not a NATS .creds file (no user JWT and NKey seed blocks)`);
    }
    authenticators.push(credsAuthenticator(new TextEncoder().encode(creds)));
  }
  if (authenticators.length === 1) out.authenticator = authenticators[0]!;
  else if (authenticators.length > 1) out.authenticator = authenticators;
  if (options.tls === true) out.tls = {};
  else if (typeof options.tls === 'object') out.tls = { ...options.tls };
  else if (options.tls === false) out.tls = null;
  return out;
}
