/** The reference daemons import to trace their tasks. */
import { ConfigError, type PluginRef } from '@mirai-ts/core';
import { checkOptions, is, type OptionRules } from '@mirai-ts/core/plugin';
import type { DaemonTracingOptions } from './daemon.js';

const WHERE = 'otelDaemon()';
/** An HTTP header name: a token (RFC 9110, section 5.1). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** What node:http refuses in a header value (a line break above all): the exporter's every request would fail. */
const BAD_VALUE_CHAR = /[^\t\x20-\x7e\x80-\xff]/;

/** What each option of `otelDaemon()` may be: checked on the host, before any daemon starts. */
const OTEL_DAEMON_RULES: OptionRules = {
  // Parsed as the exporter will: a URL that does not parse (a space in the host, port 99999)
  // would fail in every daemon instead of here.
  // Checked below, by checkUrl(): a URL may carry credentials (http://user:token@collector).
  url: is.any,
  // Checked below, by checkHeaders(): checkOptions would print the object, and its values are
  // credentials (an Authorization header, an API key).
  headers: is.any,
  serviceName: is.string,
  simple: is.boolean,
};

function isHttpUrl(text: string): boolean {
  if (!/^https?:\/\//i.test(text)) return false;
  try {
    const url = new URL(text);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
  } catch {
    return false;
  }
}

/** Refuses a url the exporter could not use, showing it without the user and password it may carry. */
function checkUrl(url: unknown): void {
  if (url === undefined || (typeof url === 'string' && isHttpUrl(url))) return;
  let got: string;
  if (typeof url === 'string') {
    const shown = url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/i, '$1***@');
    got = `'${shown.length > 60 ? `${shown.slice(0, 60)}…` : shown}' (a string)`;
  } else got = url === null ? 'null' : Array.isArray(url) ? 'an array' : `a ${typeof url}`;
  throw new ConfigError(`${WHERE}: option 'url' must be an http(s) OTLP traces endpoint such as http://collector:4318/v1/traces, got ${got}`);
}

/** Refuses headers the exporter could not send, naming the header at fault and never a value. */
function checkHeaders(headers: unknown): void {
  if (headers === undefined) return;
  if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) {
    const got = Array.isArray(headers) ? 'an array' : headers === null ? 'null' : `a ${typeof headers} (not shown)`;
    throw new ConfigError(`${WHERE}: option 'headers' must be an object of header names to string values, got ${got}`);
  }
  for (const [name, value] of Object.entries(headers)) {
    if (!TOKEN.test(name)) {
      throw new ConfigError(`${WHERE}: option 'headers' has the header name ${JSON.stringify(name)}, which is not an HTTP token (letters, digits and !#$%&'*+-.^_\`|~)`);
    }
    if (typeof value !== 'string') {
      throw new ConfigError(`${WHERE}: option 'headers': header '${name}' must have a string value, got ${value === null ? 'null' : `a ${typeof value}`} (values are not shown)`);
    }
    if (BAD_VALUE_CHAR.test(value)) {
      throw new ConfigError(`${WHERE}: option 'headers': the value of header '${name}' holds a line break or another character HTTP headers cannot carry (values are not shown)`);
    }
  }
}

/**
 * What to give `daemons(n, { instrumentation: [otelDaemon({ url })] })`: every daemon imports
 * `@mirai-ts/otel/daemon` (resolvable where the daemon runs) and exports its `daemon eval`
 * spans over OTLP/HTTP to `url`.
 */
export function otelDaemon(options: DaemonTracingOptions = {}): { readonly ref: PluginRef } {
  checkOptions(WHERE, options, OTEL_DAEMON_RULES);
  checkUrl(options.url);
  checkHeaders(options.headers);
  return { ref: { specifier: '@mirai-ts/otel/daemon', exportName: 'startDaemonTracing', options: { ...options } } };
}
