/**
 * @mirai-ts/core: async evaluation on persistent daemons.
 *
 * ```ts
 * import { daemons, mirai } from '@mirai-ts/core';
 * await daemons(4);
 * const m = mirai(({ a, b }) => a + b, { a: 100, b: 42 });
 * console.log(await m); // 142
 * await daemons(0);
 * ```
 */
export { daemons, queueRoom, type DaemonsHandle } from './api/daemons.js';
export { scale } from './api/scale.js';
export type { AutoscaleOptions, AutoscaleStatus } from './host/autoscaler.js';
export type { ScaleDecision } from './host/scale-decision.js';
export type { DaemonsOptions } from './host/profile-options.js';
export type { LogFunction } from './host/log.js';
export { launchLocal, launchRemote, type LaunchOptions } from './api/launch.js';
export { mirai, type MiraiOptions, type TaskFunction } from './api/submit.js';
export type { Sendable, HoldsUnsendable, ArgsThenOptions, CannotSendFunctionsOrSymbols } from './api/sendable.js';
export { Mirai, isMirai, UNRESOLVED, type Unresolved } from './api/mirai.js';
export { miraiMap, MiraiMap, MapElementError, type MiraiMapOptions, type MapOptionsFor, type MapResult, type CollectOptions } from './api/mirai-map.js';
export { collectMirai, raceMirai, stopMirai, unresolved } from './api/collect.js';
export { everywhere, type EverywhereOptions } from './api/everywhere.js';
export { status, info, type Status, type Info } from './api/status.js';
export { withDaemons, requireDaemons, daemonsSet, onDaemon, DEFAULT_PROFILE } from './api/profile-scope.js';
export { fromModule } from './api/from-module.js';
export type { ModuleFunction, TaskContext } from './task.js';
export { localUrl, hostUrl } from './api/urls.js';
export type { DaemonOptions } from './wire/daemon-args.js';
export type { DaemonStatus } from './host/daemon-connection.js';
export type { LaunchFigures } from './host/replacements.js';
export { DaemonExit, describeExitCode } from './wire/exit-codes.js';
export {
  MiraiError,
  TaskError,
  TimeoutError,
  CancelledError,
  ConnectionResetError,
  CrashLimitError,
  type CrashRecord,
  SerializationError,
  DeserializationError,
  NoDaemonsError,
  LaunchError,
  ProtocolError,
  AuthError,
  ConfigError,
  QueueFullError,
  ResultTooLargeError,
  ErrorValue,
  isMiraiError,
  isErrorValue,
  type MiraiErrorKind,
} from './errors.js';
export { defineSerializer, type Serializer, type EncodedValue } from './serializer.js';
export type { Transport, Listener, Channel, ListenOptions, DialOptions, PluginRef, Json } from './transport.js';
export type { Launcher, LaunchSpec, LaunchHandle } from './launcher.js';
export { localLauncher } from './launchers/local.js';
export { remoteConfig, type RemoteConfigOptions, type RemoteLauncher } from './launchers/remote.js';
export type { SecretDelivery, RemoteDaemonProgram } from './launchers/remote-command.js';
export { httpConfig, HTTP_PLACEHOLDER, type HttpConfigOptions, type HttpLauncher, type HttpValue } from './launchers/http.js';
export type { TlsListenOptions, TlsDialOptions } from './transports/tls.js';
export {
  MiraiChannel,
  type MiraiChannelName,
  type ProfileSetEvent,
  type ProfileResetEvent,
  type ProfileScaleEvent,
  type DaemonLaunchedEvent,
  type DaemonEvent,
  type TaskQueuedEvent,
  type TaskAssignedEvent,
  type TaskSettledEvent,
  type TaskCancelledEvent,
  type TaskRetriedEvent,
  type MapEvent,
  type DaemonTaskStartEvent,
  type DaemonTaskEndEvent,
} from './events.js';
export { setTraceContextProvider, traceContextProvider, type TraceContext, type TraceTaskInfo, type TraceContextProvider } from './trace-context.js';
