/**
 * `@mirai-ts/core/plugin`: the stable entry for plugin authors (transports, launchers,
 * serializers): the frame codec, socket channels and listeners, daemon command lines, secret
 * delivery, shell quoting and child watching. Covered by semver like the main entry;
 * applications import `@mirai-ts/core`.
 */
export { encodeFrame, FrameDecoder, FRAME_HEADER_BYTES, FRAME_MAGIC } from './wire/frame-codec.js';
export {
  frame,
  FrameType,
  FrameFlag,
  PROTOCOL_VERSION,
  DEFAULT_LIMITS,
  HANDSHAKE_LIMITS,
  oversizedResult,
  segmentBytes,
  withinResultLimit,
  type Frame,
  type FrameLimits,
  type OversizedResult,
} from './wire/frame.js';
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
export { runDaemon, type DaemonConfig } from './daemon/loop.js';
export { PollPolicy, MAX_SKIPPED_POLLS, MIN_POLL_US } from './daemon/poll-policy.js';
export { MAX_DAEMON_SPIN_US } from './daemon/next-task-poll.js';
export { loadTransport } from './daemon/plugins.js';
export { daemonHandshake, type Accepted } from './daemon/handshake.js';
export { SECRET_ENV, newSecret } from './wire/auth.js';
export { importPlugin } from './daemon/plugins.js';
export { withTimeout } from './util/with-timeout.js';
/** The length of a W3C `traceparent` as core sends it (tracing adapters read it back). */
export { TRACEPARENT_CHARS } from './trace-context.js';
export { checkOptions, checkCount, is, show, MAX_DAEMONS_PER_CALL, type OptionRule, type OptionRules } from './options-check.js';
