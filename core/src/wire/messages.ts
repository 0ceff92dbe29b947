/** JSON bodies of the handshake and control frames (see docs/protocol.md). */
import type { PluginRef } from '../transport.js';

/** A serializer as announced to daemons: its tag and where to import it from. */
export interface SerializerRef {
  readonly tag: string;
  readonly ref: PluginRef;
}

export interface ChallengeMessage {
  protocol: number;
  nonce: string;
}

export interface HelloMessage {
  protocol: number;
  /** HMAC proof of the secret (see auth.ts); empty over an in-process channel (`Channel.inProcess`). */
  proof: string;
  nonce: string;
  pid: number;
  hostname: string;
  /** Set by the local launcher, so the host can match a connection with the process it started. */
  launchId?: string;
  /** Set by a daemon's watchdog: the id of the daemon it watches (it takes no tasks). */
  watch?: number;
}

export interface InitMessage {
  /** The host's proof of the secret; empty over an in-process channel. */
  proof: string;
  daemonId: number;
  /** Serializer plugins the daemon imports before its first task. */
  serializers: SerializerRef[];
  /**
   * This daemon's random stream (xoroshiro128+ state, 4 int32; see random-stream.ts), for
   * tasks without a seed. Absent for a watchdog.
   */
  stream?: [number, number, number, number];
  /**
   * Instrumentation plugins (a tracing adapter's daemon half) the daemon imports before its
   * first task; each subscribes to the daemon's channels itself. Absent when there are none,
   * so older daemons see the Init they know.
   */
  instrumentation?: PluginRef[];
  /**
   * The profile's `maxResultBytes`: a daemon sends a ResultTooLargeError instead of a larger
   * result (the host would only read past it). Absent without a limit; the host enforces the
   * limit itself either way, on daemons that predate it too.
   */
  maxResultBytes?: number;
}

export interface ByeMessage {
  /**
   * `idletime`, `walltime`: a limit, the daemon is done. `uncaught`: an exception went uncaught
   * in it (its process may be in an unknown state), so it leaves and the host replaces it as
   * it replaces a lost daemon.
   */
  reason: 'idletime' | 'walltime' | 'uncaught';
}
