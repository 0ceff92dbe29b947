/**
 * Transport interfaces. The host listens, daemons dial. A transport moves whole frames;
 * how it frames bytes is its own business (stream transports use `frame-codec.ts`,
 * message transports such as NATS carry one frame per message).
 */
import type { Frame, FrameLimits } from './wire/frame.js';

/** A connection carrying frames in order, both ways. */
export interface Channel {
  /** Sends a frame. Ordered; never throws for a closed channel (the frame is dropped). */
  send(frame: Frame): void;
  /** Closes the channel; `reason` is what `onClose` reports. Idempotent. */
  close(reason?: Error): void;
  /** Called for each frame received, in order. Set once, before frames arrive. */
  onFrame: (frame: Frame) => void;
  /** Called once when the channel closes, with the cause if it was abnormal. */
  onClose: (reason: Error | undefined) => void;
  /** Receive limits; raised after the handshake. */
  setLimits(limits: FrameLimits): void;
  /**
   * Optional: writes now what the channel gathered while it handles a read (SocketChannel, and
   * the WebSocket plugin's channel), instead of at the end of the read. The host calls it once it has given a daemon its next
   * tasks, so they leave before the rest of the read is handled.
   */
  flush?(): void;
  /** Whether this channel keeps the Node process alive. */
  ref(): void;
  unref(): void;
  /**
   * Optional: called just before the host tells the peer to exit. Its disappearance is then
   * the normal end, not a loss: a message transport that detects lost peers by silence
   * (NATS) stops treating it as one.
   */
  peerLeaving?(): void;
  /** A human-readable peer address for logs. */
  readonly peer: string;
  readonly closed: boolean;
  /**
   * Optional: true when both ends are in this process and were joined by the transport itself,
   * never by a peer's word (the `thread://` transport: a MessageChannel whose daemon end only a
   * worker its launcher started for this profile can hold). The handshake then carries no
   * proofs of the secret: nothing outside the process can reach such a channel, and a thread
   * daemon need not load `node:crypto`. A transport whose peers connect from elsewhere (a socket,
   * a broker) must never set it.
   */
  readonly inProcess?: boolean;
}

/** Options when the host listens. */
export interface ListenOptions {
  /** Receive limits for new connections, until they complete the handshake. */
  readonly handshakeLimits: FrameLimits;
  /** Transport-specific options (TLS credentials, ...). */
  readonly [key: string]: unknown;
}

/** A listening endpoint: delivers each accepted connection to `onChannel`. */
export interface Listener {
  /** The URL daemons dial, with the real port after binding port 0. */
  readonly url: string;
  onChannel: (channel: Channel) => void;
  /**
   * Optional: set by the host; a listener calls it when it turned a connection away itself
   * (the process is about to run out of file descriptors), so the host logs and counts it.
   */
  onDropped?: (peer: string, why: string) => void;
  /**
   * Optional: dial options every daemon of this listener needs (the CA certificate of a
   * zero-config TLS listener). The profile puts them in launch specs, under its own.
   */
  readonly dialOptions?: { readonly [key: string]: Json };
  close(): Promise<void>;
  ref(): void;
  unref(): void;
}

/** Options when a daemon dials. */
export interface DialOptions {
  readonly limits: FrameLimits;
  readonly [key: string]: unknown;
}

/**
 * A transport: one per URL scheme family. Core ships `ipc` and `tcp`; plugins add more
 * (NATS) and are registered per profile.
 */
export interface Transport {
  /** URL schemes handled, e.g. `['ipc']`, `['tcp']`, `['nats']`. */
  readonly schemes: readonly string[];
  listen(url: string, options: ListenOptions): Promise<Listener>;
  dial(url: string, options: DialOptions): Promise<Channel>;
  /**
   * Optional: throws a ConfigError for listen options (`daemons({ listenOptions })`, without
   * core's own keys) this transport does not take, naming the key. Called by `daemons()`
   * before the running profile is reset, so a typo costs nothing. Built-in transports check.
   */
  checkListenOptions?(options: { readonly [key: string]: unknown }): void;
  /** Optional: the same for dial options (`daemons({ dialOptions })`, `--dial-options`). */
  checkDialOptions?(options: { readonly [key: string]: unknown }): void;
  /**
   * Optional: a reference a daemon process can import to rebuild this transport
   * (package specifier, export name, JSON options). Built-in transports need none.
   */
  readonly ref?: PluginRef;
}

/** JSON values, for options that must travel to daemons. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Where a daemon finds a plugin: `import(specifier)[exportName](options)`. */
export interface PluginRef {
  readonly specifier: string;
  readonly exportName: string;
  readonly options?: Json;
}
