/**
 * Checks of a transport's listen and dial options (`daemons({ listenOptions, dialOptions })`):
 * a key the transport does not take would otherwise be ignored, and a typo in a TLS option
 * (`certFile` for `cert`) would quietly fall back to zero-config credentials.
 */
import { ConfigError } from '../errors.js';
import { nearest, show } from '../options-check.js';
import type { Transport } from '../transport.js';

/** Throws a ConfigError naming the first key of `options` not in `known`. */
export function allowKeys(scheme: string, kind: 'listen' | 'dial', options: { readonly [key: string]: unknown }, known: readonly string[]): void {
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    if (known.length === 0) throw new ConfigError(`${scheme} takes no ${kind} options, got '${key}'`);
    const near = nearest(key, known);
    throw new ConfigError(`${scheme} ${kind} options: unknown option '${key}'${near ? `; did you mean '${near}'?` : ''} (known: ${known.join(', ')})`);
  }
}

/** For transports that take no options of this kind. */
export function refuseAny(scheme: string, kind: 'listen' | 'dial', options: { readonly [key: string]: unknown }): void {
  allowKeys(scheme, kind, options, []);
}

/** Whether `value` survives JSON as it is: what dial options must be, since they travel in commands. */
function isJson(value: unknown, depth = 0): boolean {
  if (depth > 32) return false;
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true;
  if (typeof value === 'number') return Number.isFinite(value);
  if (Array.isArray(value)) return value.every((v) => isJson(v, depth + 1));
  if (typeof value !== 'object' || Object.getPrototypeOf(value) !== Object.prototype) return false;
  return Object.values(value).every((v) => isJson(v, depth + 1));
}

/**
 * Checks a profile's listen and dial options against its transport, before `daemons()` resets
 * anything: core's own keys (`handshakeLimits`, `limits`: the receive limits before the
 * handshake) cannot be given, dial options must be JSON, and the transport refuses what it
 * does not take.
 */
export function checkTransportOptions(transport: Transport, listen: { readonly [key: string]: unknown }, dial: { readonly [key: string]: unknown }): void {
  if ('handshakeLimits' in listen) throw new ConfigError(`listenOptions: 'handshakeLimits' is core's own (the receive limits before the handshake), not an option`);
  if ('limits' in dial) throw new ConfigError(`dialOptions: 'limits' is core's own (the receive limits before the handshake), not an option`);
  for (const [key, value] of Object.entries(dial)) {
    if (!isJson(value)) throw new ConfigError(`dialOptions: option '${key}' must be JSON (dial options travel to daemons in their command line), got ${show(value)}`);
  }
  transport.checkListenOptions?.(listen);
  transport.checkDialOptions?.(dial);
}
