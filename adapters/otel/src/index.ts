/**
 * @mirai-ts/otel: OpenTelemetry spans and metrics for mirai-ts, across host and daemons.
 *
 * ```ts
 * import { instrumentMirai, otelDaemon } from '@mirai-ts/otel';
 * instrumentMirai(); // after registering an OpenTelemetry SDK
 * await daemons(4, { instrumentation: [otelDaemon({ url: 'http://collector:4318/v1/traces' })] });
 * ```
 */
export { instrumentMirai, type InstrumentOptions, type MiraiInstrumentation } from './instrument.js';
export { otelDaemon } from './otel-daemon.js';
export type { DaemonTaskTracing, DaemonTracing, DaemonTracingOptions } from './daemon.js';
export { traceDaemonTasks } from './daemon.js';
