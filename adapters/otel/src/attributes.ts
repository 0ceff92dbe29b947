/** Semantic-convention attributes of a profile's URL. */
import type { Attributes } from '@opentelemetry/api';

/** `server.address`, `server.port` and `network.transport` of a daemons URL (`tcp://h:p`, `ipc://…`, `nats://…`). */
export function urlAttributes(url: string): Attributes {
  const scheme = url.slice(0, Math.max(0, url.indexOf('://')));
  const attrs: Attributes = { 'url.scheme': scheme };
  if (scheme === 'ipc' || scheme === 'abstract') {
    attrs['network.transport'] = 'unix';
    attrs['server.address'] = url.slice(scheme.length + 3);
    return attrs;
  }
  attrs['network.transport'] = scheme === 'nats' ? 'tcp' : scheme === 'tls+tcp' ? 'tcp' : scheme;
  try {
    const parsed = new URL(url.replace(/^tls\+tcp:/, 'tcp:'));
    if (parsed.hostname) attrs['server.address'] = parsed.hostname.replace(/^\[|\]$/g, '');
    if (parsed.port) attrs['server.port'] = Number(parsed.port);
  } catch {
    // An URL Node cannot parse: the scheme is all we say.
  }
  return attrs;
}
