/** The reference daemons import to trace their tasks. */
import type { PluginRef } from '@mirai-ts/core';
import { checkOptions, is, type OptionRules } from '@mirai-ts/core/plugin';
import type { DaemonTracingOptions } from './daemon.js';

/** What each option of `otelDaemon()` may be: checked on the host, before any daemon starts. */
const OTEL_DAEMON_RULES: OptionRules = {
  url: (v) => (typeof v === 'string' && /^https?:\/\/./.test(v) ? undefined : 'an http(s) OTLP traces endpoint such as http://collector:4318/v1/traces'),
  headers: (v) =>
    typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((h) => typeof h === 'string')
      ? undefined
      : 'an object of header names to string values',
  serviceName: is.string,
  simple: is.boolean,
};

/**
 * What to give `daemons(n, { instrumentation: [otelDaemon({ url })] })`: every daemon imports
 * `@mirai-ts/otel/daemon` (resolvable where the daemon runs) and exports its `daemon eval`
 * spans over OTLP/HTTP to `url`.
 */
export function otelDaemon(options: DaemonTracingOptions = {}): { readonly ref: PluginRef } {
  checkOptions('otelDaemon()', options, OTEL_DAEMON_RULES);
  return { ref: { specifier: '@mirai-ts/otel/daemon', exportName: 'startDaemonTracing', options: { ...options } } };
}
