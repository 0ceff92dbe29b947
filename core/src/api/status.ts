/** `status()` and `info()`: what a profile is doing. */
import type { DaemonStatus } from '../host/daemon-connection.js';
import { pools } from '../host/registry.js';
import type { LaunchFigures } from '../host/replacements.js';
import type { AutoscaleStatus } from '../host/autoscaler.js';
import { currentProfileName } from './profile-scope.js';

/** Compact counters for programs, as mirai's `info()`. */
export interface Info {
  /** Daemons connected now. */
  readonly connections: number;
  /** Daemons that ever connected (minus `connections`: how many left). */
  readonly cumulative: number;
  /** Tasks waiting for a daemon. */
  readonly awaiting: number;
  /** Tasks running on a daemon. */
  readonly executing: number;
  /** Tasks finished, failed, cancelled or reset. */
  readonly completed: number;
}

/** Everything about a profile, for people and dashboards. */
export interface Status extends Info {
  readonly profile: string;
  /** The URL daemons dial ('sync://' in sync mode). */
  readonly url: string;
  /** Whether the FIFO dispatcher is on (false: direct mode). */
  readonly dispatcher: boolean;
  /** Connections refused (wrong secret, bad protocol, garbage, silence). */
  readonly rejected: number;
  /** Bytes of queued task frames now, and the most there ever were. */
  readonly queuedBytes: number;
  readonly peakQueuedBytes: number;
  /** The queue's limits as configured (`Infinity`: none). */
  readonly maxQueued: number;
  readonly maxQueuedBytes: number;
  /** Launching and replacing daemons: how many are pending, failures in a row and why. */
  readonly launches: LaunchFigures;
  /** Autoscaling (with `autoscale`, or after `scale(n)`): target, connected, launching, failed launches and why. */
  readonly autoscale?: AutoscaleStatus;
  /** One row per connected daemon. */
  readonly daemons: readonly DaemonStatus[];
}

/** The status of a profile, or `undefined` if no daemons are set for it. */
export function status(profile?: string): Status | undefined {
  const name = currentProfileName(profile);
  const pool = pools.get(name);
  return pool === undefined ? undefined : { profile: name, ...pool.status() };
}

/** Compact counters of a profile, or `undefined` if no daemons are set for it. */
export function info(profile?: string): Info | undefined {
  const s = status(profile);
  if (s === undefined) return undefined;
  const { connections, cumulative, awaiting, executing, completed } = s;
  return { connections, cumulative, awaiting, executing, completed };
}
