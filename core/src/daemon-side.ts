/**
 * `@mirai-ts/core/daemon`: the daemon side alone, for code that runs in a daemon's process or
 * thread: the daemon loop (`runDaemon`), the frame primitives a daemon-side channel needs, the
 * option checks and the errors. It leaves out the host (dispatcher, profiles, the `mirai` API),
 * the launchers and the built-in transports with their TLS and certificate code, which the rest
 * of core imports: a thread daemon loads this entry into a fresh isolate, where every module it
 * pulls in is start-up time and live heap that each of the isolate's collections marks again.
 * Covered by semver like `@mirai-ts/core/plugin`, which exports all of this too.
 */
export { errorResultPayload, runDaemon, type DaemonConfig } from './daemon/loop.js';
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
  isSharedSegment,
  type Frame,
  type FrameLimits,
  type OversizedResult,
} from './wire/frame.js';
export { PollPolicy, MAX_SKIPPED_POLLS, MIN_POLL_US } from './daemon/poll-policy.js';
export { MAX_DAEMON_SPIN_US } from './daemon/next-task-poll.js';
export { checkOptions, checkCount, is, show, type OptionRule, type OptionRules } from './options-check.js';
export { MiraiError, ConfigError, ProtocolError, SerializationError, DeserializationError } from './errors.js';
export type { Serializer } from './serializer.js';
export type { Channel, DialOptions, Listener, ListenOptions, Transport } from './transport.js';
export { isDetachedView } from './wire/payload.js';
