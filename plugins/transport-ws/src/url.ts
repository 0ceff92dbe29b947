import { ConfigError } from '@mirai-ts/core';

/** A `ws://` or `wss://` URL, taken apart. */
export interface WsAddress {
  readonly secure: boolean;
  /** Host name or address, IPv6 without brackets. */
  readonly host: string;
  /** 0 asks the host for a free port. */
  readonly port: number;
  /** The request path the host answers upgrades at (`/` by default). */
  readonly path: string;
  /** `?query` daemons send (some ingresses route or authenticate by it); the host ignores it. */
  readonly search: string;
}

/**
 * Parses `ws://host:port/path` or `wss://…`. A path lets a reverse proxy route to the host
 * (`wss://gateway.example.org/mirai/analytics`). Credentials in the URL are refused: URLs
 * are logged and sit in daemon command lines; send credentials as `headers`.
 */
export function parseWsUrl(url: string): WsAddress {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(`invalid URL '${url}': expected ws://host:port/path or wss://host:port/path`);
  }
  const secure = parsed.protocol === 'wss:';
  if (!secure && parsed.protocol !== 'ws:') throw new ConfigError(`invalid URL '${url}': the WebSocket transport handles ws:// and wss://`);
  if (parsed.username !== '' || parsed.password !== '') {
    throw new ConfigError(`invalid URL: credentials in a ws(s):// URL would be logged; give them as the 'headers' dial option`);
  }
  if (parsed.hash !== '') throw new ConfigError(`invalid URL '${url}': a WebSocket URL has no #fragment`);
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') throw new ConfigError(`invalid URL '${url}': no host`);
  // new URL() drops the default port (80/443) and rejects ports past 65535.
  const port = parsed.port === '' ? (secure ? 443 : 80) : Number(parsed.port);
  return { secure, host, port, path: parsed.pathname || '/', search: parsed.search };
}

/** The URL of an address, with a real port. */
export function formatWsUrl(address: WsAddress, port: number): string {
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  return `${address.secure ? 'wss' : 'ws'}://${host}:${port}${address.path}${address.search}`;
}
