/** URL helpers: where a host listens. */
import { networkInterfaces } from 'node:os';
import { privateSocketUrl } from '../transports/ipc.js';

/**
 * A fresh local URL: a local socket no one else can guess (on Linux an abstract socket,
 * `abstract://mirai-…`, which leaves no file behind; elsewhere a socket file in a private
 * 0700 directory), or `tcp://127.0.0.1:<port>` with `tcp: true` (port 0: any free port).
 */
export function localUrl(options: { tcp?: boolean; port?: number } = {}): string {
  if (options.tcp) return `tcp://127.0.0.1:${options.port ?? 0}`;
  return privateSocketUrl();
}

/**
 * URLs at which other machines can reach this host: one per non-loopback IPv4 address,
 * keyed by interface name (`{ eth0: 'tcp://10.0.0.5:0' }`).
 */
export function hostUrl(options: { tls?: boolean; port?: number } = {}): Record<string, string> {
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
