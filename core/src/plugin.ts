/**
 * `@mirai-ts/core/plugin`: the stable entry for plugin authors (transports, launchers,
 * serializers): everything in `@mirai-ts/core/daemon` (the daemon loop, frames, option checks),
 * and the frame codec, socket channels and listeners, daemon command lines, secret delivery,
 * shell quoting and child watching. Covered by semver like the main entry;
 * applications import `@mirai-ts/core`.
 */
export * from './daemon-side.js';
export { SocketChannel } from './transports/socket-channel.js';
export { readIntoSharedBuffer } from './transports/shared-read-buffer.js';
export { StreamListener, listening, connected } from './transports/stream-listener.js';
export { ipcTransport } from './transports/ipc.js';
export { tcpTransport, tcpAddress, formatHostPort } from './transports/tcp.js';
export { builtinTransports, transportFor, urlScheme } from './transports/builtin.js';
export { tlsTransport } from './transports/tls.js';
export { zeroConfigCredentials, hostNames, type ZeroConfigCredentials } from './tls/zero-config.js';
export { createCertificateAuthority, issueServerCertificate, type IssuedCertificate, type CertificateOptions } from './tls/x509.js';
export {
  remoteDaemonCommand,
  daemonProgramWords,
  checkRemoteUrl,
  type RemoteCommandOptions,
} from './launchers/remote-command.js';
export { encodePayload, decodePayload, OUT_OF_BAND_BYTES } from './wire/payload.js';
export { daemonArgv, daemonScript, shellQuote, DAEMON_NODE_FLAGS } from './launchers/local.js';
export { watchChild, type WatchedChild } from './launchers/child-output.js';
export { daemonOptionArgs } from './wire/daemon-args.js';
export { checkDaemonOptions } from './host/profile-options.js';
export { loadTransport } from './daemon/load-transport.js';
export { daemonHandshake, type Accepted } from './daemon/handshake.js';
export { SECRET_ENV, newSecret } from './wire/auth.js';
export { importPlugin } from './daemon/plugins.js';
export { withTimeout } from './util/with-timeout.js';
/** The length of a W3C `traceparent` as core sends it (tracing adapters read it back). */
export { TRACEPARENT_CHARS } from './trace-context.js';
export { MAX_DAEMONS_PER_CALL } from './options-check.js';
export { isModuleFunction } from './task.js';
