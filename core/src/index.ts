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
export { daemons, launchLocal, queueRoom, type DaemonsHandle, type DaemonsOptions } from './daemons.js';
export { mirai, type MiraiOptions, type TaskFunction } from './mirai-call.js';
export { Mirai, isMirai, UNRESOLVED, type Unresolved } from './mirai.js';
export { miraiMap, MiraiMap, MapElementError, type MiraiMapOptions, type MapResult } from './mirai-map.js';
export { collectMirai, raceMirai, stopMirai, unresolved } from './collect.js';
export { everywhere } from './everywhere.js';
export { status, info, type Status, type Info } from './status.js';
export { withDaemons, requireDaemons, daemonsSet, onDaemon, DEFAULT_PROFILE } from './profiles.js';
export { fromModule, type ModuleFunction, type TaskContext } from './task-function.js';
export { localUrl, hostUrl } from './urls.js';
export type { DaemonOptions } from './daemon-options.js';
export type { DaemonStatus } from './dispatcher.js';
export type { LogFunction } from './profile.js';
export { DaemonExit, describeExitCode } from './exit-codes.js';
export {
  MiraiError,
  TaskError,
  TimeoutError,
  CancelledError,
  ConnectionResetError,
  SerializationError,
  DeserializationError,
  NoDaemonsError,
  LaunchError,
  ProtocolError,
  AuthError,
  ConfigError,
  QueueFullError,
  ErrorValue,
  isMiraiError,
  isErrorValue,
  type MiraiErrorKind,
} from './errors.js';
export { defineSerializer, type Serializer, type EncodedValue } from './serializer.js';
export type { Transport, Listener, Channel, ListenOptions, DialOptions, PluginRef, Json } from './transport.js';
export type { Launcher, LaunchSpec, LaunchHandle } from './launcher.js';
export { localLauncher } from './launchers/local.js';
export { remoteConfig, launchRemote, type RemoteConfigOptions, type RemoteLauncher } from './launchers/remote.js';
export type { SecretDelivery, RemoteDaemonProgram } from './launchers/remote-command.js';
export { httpConfig, HTTP_PLACEHOLDER, type HttpConfigOptions, type HttpLauncher, type HttpValue } from './launchers/http.js';
export type { TlsListenOptions, TlsDialOptions } from './transports/tls.js';
