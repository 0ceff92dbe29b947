import { ConfigError } from '../errors.js';
import type { Transport } from '../transport.js';
import { ipcTransport } from './ipc.js';
import { tcpTransport } from './tcp.js';
import { tlsTransport } from './tls.js';

/** Transports every profile has. */
export const builtinTransports: readonly Transport[] = [ipcTransport, tcpTransport, tlsTransport];

/** The URL's scheme without the colon: `'tcp'` for `tcp://…`. */
export function urlScheme(url: string): string {
  const match = /^([a-z][a-z0-9+.-]*):/i.exec(url);
  if (!match) throw new ConfigError(`invalid URL '${url}': expected a scheme such as ipc://, tcp:// or tls+tcp://`);
  return match[1]!.toLowerCase();
}

/** Picks the transport for `url` among the profile's own transports, then the built-ins. */
export function transportFor(url: string, extra: readonly Transport[] = []): Transport {
  const scheme = urlScheme(url);
  const found = [...extra, ...builtinTransports].find((t) => t.schemes.includes(scheme));
  if (!found) {
    const known = [...extra, ...builtinTransports].flatMap((t) => t.schemes).join(', ');
    throw new ConfigError(`no transport for '${scheme}://' URLs (known: ${known}); register a transport plugin on the profile`);
  }
  return found;
}
