/** The reference daemons import to trace their tasks. */
import { ConfigError, type PluginRef } from '@mirai-ts/core';
import type { DaemonTracingOptions } from './daemon.js';

const KEYS = ['url', 'headers', 'serviceName', 'simple'];

/**
 * What to give `daemons(n, { instrumentation: [otelDaemon({ url })] })`: every daemon imports
 * `@mirai-ts/otel/daemon` (resolvable where the daemon runs) and exports its `daemon eval`
 * spans over OTLP/HTTP to `url`.
 */
export function otelDaemon(options: DaemonTracingOptions = {}): { readonly ref: PluginRef } {
  for (const key of Object.keys(options)) {
    if (!KEYS.includes(key)) throw new ConfigError(`otelDaemon: unknown option '${key}'; known: ${KEYS.join(', ')}`);
  }
  if (options.url !== undefined && !/^https?:\/\//.test(options.url)) {
    throw new ConfigError(`otelDaemon: url must be an http(s) OTLP traces endpoint such as http://collector:4318/v1/traces, got ${JSON.stringify(options.url)}`);
  }
  if (options.simple !== undefined && typeof options.simple !== 'boolean') throw new ConfigError(`otelDaemon: simple must be true or false, got ${JSON.stringify(options.simple)}`);
  if (options.serviceName !== undefined && (typeof options.serviceName !== 'string' || options.serviceName === '')) {
    throw new ConfigError(`otelDaemon: serviceName must be a non-empty string, got ${JSON.stringify(options.serviceName)}`);
  }
  const headers: unknown = options.headers;
  if (headers !== undefined && (typeof headers !== 'object' || headers === null || Array.isArray(headers) || !Object.values(headers).every((v) => typeof v === 'string'))) {
    throw new ConfigError(`otelDaemon: headers must be an object of header names to string values, got ${JSON.stringify(headers)}`);
  }
  return { ref: { specifier: '@mirai-ts/otel/daemon', exportName: 'startDaemonTracing', options: { ...options } } };
}
