/** URL helpers: where a host listens. */
import { networkInterfaces } from 'node:os';
import { ConfigError } from '../errors.js';
import { checkOptions, is, type OptionRule } from '../options-check.js';
import { privateSocketUrl } from '../transports/ipc.js';

/** A TCP port: 0 (any free one) to 65535. */
const portRule: OptionRule = (v) => (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 65_535 ? undefined : 'a port from 0 (any free one) to 65535');

/**
 * A fresh local URL: a local socket no one else can guess (on Linux an abstract socket,
 * `abstract://mirai-…`, which leaves no file behind; elsewhere a socket file in a private
 * 0700 directory), or `tcp://127.0.0.1:<port>` with `tcp: true` (port 0: any free port).
 */
export function localUrl(options: { tcp?: boolean; port?: number } = {}): string {
  checkOptions('localUrl()', options, { tcp: is.boolean, port: portRule });
  if (options.port !== undefined && !options.tcp) throw new ConfigError(`localUrl(): port needs tcp: true (a local socket has no port)`);
  if (options.tcp) return `tcp://127.0.0.1:${options.port ?? 0}`;
  return privateSocketUrl();
}

/**
 * URLs at which other machines can reach this host: one per non-loopback IPv4 address,
 * keyed by interface name (`{ eth0: 'tcp://10.0.0.5:0' }`).
 */
export function hostUrl(options: { tls?: boolean; port?: number } = {}): Record<string, string> {
  checkOptions('hostUrl()', options, { tls: is.boolean, port: portRule });
  const scheme = options.tls ? 'tls+tcp' : 'tcp';
  const port = options.port ?? 0;
  const urls: Record<string, string> = {};
  for (const [name, addresses] of Object.entries(networkInterfaces())) {
    for (const address of addresses ?? []) {
      if (address.family === 'IPv4' && !address.internal) {
        urls[name] ??= `${scheme}://${address.address}:${port}`;
      }
    }
  }
  return urls;
}
