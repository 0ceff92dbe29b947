/**
 * Lifecycle events: `node:diagnostics_channel` channels that the host and the daemon publish
 * on, and `util.debuglog('mirai')` lines (`NODE_DEBUG=mirai`) for humans. Adapters (OpenTelemetry,
 * the dashboard) subscribe; nothing is built or published while nobody listens, so the task
 * path costs one `hasSubscribers` check per event.
 *
 * ```ts
 * import { subscribe } from 'node:diagnostics_channel';
 * import { MiraiChannel, type TaskSettledEvent } from '@mirai-ts/core';
 * subscribe(MiraiChannel.taskSettled, (e) => console.log((e as TaskSettledEvent).outcome));
 * ```
 */
import { channel, type Channel } from 'node:diagnostics_channel';
import { debuglog } from 'node:util';
import { isMiraiError, MiraiError, type MiraiErrorKind } from './errors.js';
import type { ScaleDecision } from './host/scale-decision.js';

/** The channel names, for `diagnostics_channel.subscribe(name, fn)`. */
export const MiraiChannel = {
  /** A profile was set up (`daemons()`): {@link ProfileSetEvent}. */
  profileSet: 'mirai:profile:set',
  /** A profile was reset: {@link ProfileResetEvent}. */
  profileReset: 'mirai:profile:reset',
  /** An autoscaled profile made a scaling decision (launch, retire, a failed launch): {@link ProfileScaleEvent}. */
  profileScale: 'mirai:profile:scale',
  /** A launcher started daemons: {@link DaemonLaunchedEvent}. */
  daemonLaunched: 'mirai:daemon:launched',
  /** A daemon completed the handshake: {@link DaemonEvent}. */
  daemonConnected: 'mirai:daemon:connected',
  /** A daemon said it is leaving (idletime, walltime, maxtasks): {@link DaemonEvent}. */
  daemonLeaving: 'mirai:daemon:leaving',
  /** A daemon went away without saying so: {@link DaemonEvent}. */
  daemonLost: 'mirai:daemon:lost',
  /** A daemon disconnected normally (it left, or the profile closed): {@link DaemonEvent}. */
  daemonDisconnected: 'mirai:daemon:disconnected',
  /** A task entered the queue: {@link TaskQueuedEvent}. */
  taskQueued: 'mirai:task:queued',
  /** A task was sent to a daemon: {@link TaskAssignedEvent}. */
  taskAssigned: 'mirai:task:assigned',
  /** A task settled, with its outcome and timings: {@link TaskSettledEvent}. */
  taskSettled: 'mirai:task:settled',
  /** A task was cancelled (`cancel()`, timeout, signal): {@link TaskCancelledEvent}. */
  taskCancelled: 'mirai:task:cancelled',
  /** A task lost with its daemon is run again (`retry`): {@link TaskRetriedEvent}. */
  taskRetried: 'mirai:task:retried',
  /** A map was submitted: {@link MapEvent}. */
  mapStart: 'mirai:map:start',
  /** Every task of a map settled: {@link MapEvent}. */
  mapEnd: 'mirai:map:end',
  /** Daemon side: a task starts running, with the trace context it carries: {@link DaemonTaskStartEvent}. */
  daemonTaskStart: 'mirai:daemon:task:start',
  /** Daemon side: a task finished: {@link DaemonTaskEndEvent}. */
  daemonTaskEnd: 'mirai:daemon:task:end',
} as const;
export type MiraiChannelName = (typeof MiraiChannel)[keyof typeof MiraiChannel];

/** `mirai:profile:set`. */
export interface ProfileSetEvent {
  readonly profile: string;
  /** The URL daemons dial (`sync://` for a sync profile). */
  readonly url: string;
  /** Daemons asked for. */
  readonly n: number;
}

/** `mirai:profile:reset`. */
export interface ProfileResetEvent {
  readonly profile: string;
  readonly reason: string;
}

/** A scaling decision of an autoscaled profile, as `onScale` gets it, with the profile's name. */
export interface ProfileScaleEvent extends ScaleDecision {
  readonly profile: string;
}

/** `mirai:daemon:launched`. */
export interface DaemonLaunchedEvent {
  readonly profile: string;
  /** The launcher's kind (`'local'`, `'ssh'`, …). */
  readonly launcher: string;
  readonly count: number;
  readonly pids: readonly (number | undefined)[];
}

/** `mirai:daemon:connected`, `leaving`, `lost`, `disconnected`. */
export interface DaemonEvent {
  readonly profile: string;
  /** The URL the daemon dialled (for `server.address`, `server.port`, `network.transport`). */
  readonly url: string;
  readonly daemonId: number;
  readonly pid: number | undefined;
  readonly hostname: string | undefined;
  /** The peer's address, as the transport reports it. */
  readonly peer: string | undefined;
  /** When it completed the handshake (ms since the epoch). */
  readonly connectedAt: number;
  /** Tasks it completed. */
  readonly completed: number;
}

/** `mirai:task:queued`. */
export interface TaskQueuedEvent {
  readonly profile: string;
  readonly taskId: number;
  /** Bytes of the task frame. */
  readonly bytes: number;
  /** Tasks queued now, this one included. */
  readonly queueDepth: number;
}

/** `mirai:task:assigned`. */
export interface TaskAssignedEvent {
  readonly profile: string;
  readonly taskId: number;
  readonly daemonId: number;
  /** Tasks still queued. */
  readonly queueDepth: number;
}

/**
 * `mirai:task:settled`. Timings are NaN when the task was not followed from its start.
 *
 * Every task settles once, including one that never reached the queue (`neverQueued`): its
 * submission threw (a QueueFullError, a SerializationError: the caller got the error and no
 * mirai), or it failed while an async serializer built its frame (the encoder threw, the task
 * was cancelled or timed out first, the queue was full or the profile reset once it was built).
 * Such a task had no `mirai:task:queued`; it is reported only to subscribers there when it was
 * submitted.
 */
export interface TaskSettledEvent {
  readonly profile: string;
  readonly taskId: number;
  /** The daemon that ran it, if any did. */
  readonly daemonId: number | undefined;
  /** `'ok'`, or the error's kind (`'task'`, `'timeout'`, `'cancelled'`, `'connection-reset'`, …). */
  readonly outcome: 'ok' | MiraiErrorKind;
  readonly error: MiraiError | undefined;
  /** Milliseconds queued (queued → assigned). */
  readonly queuedMs: number;
  /** Milliseconds on the daemon (assigned → settled). */
  readonly runMs: number;
  /** Milliseconds from queued to settled. */
  readonly totalMs: number;
  /** Bytes of the task frame sent, and of the result frame received (0 if none came). */
  readonly bytesSent: number;
  readonly bytesReceived: number;
  /**
   * True for a task that settled without ever being queued (see above): `daemonId` is
   * undefined, the timings NaN and the bytes 0. Absent otherwise.
   */
  readonly neverQueued?: true;
}

/** `mirai:task:cancelled`. */
export interface TaskCancelledEvent {
  readonly profile: string;
  readonly taskId: number;
  /** Whether it was running on a daemon (told to stop) rather than queued. */
  readonly running: boolean;
  readonly error: MiraiError;
}

/** `mirai:task:retried`. */
export interface TaskRetriedEvent {
  readonly profile: string;
  readonly taskId: number;
  /** The daemon that was lost while running it. */
  readonly daemonId: number;
  readonly retriesLeft: number;
}

/** `mirai:map:start` and `mirai:map:end`. */
export interface MapEvent {
  readonly profile: string;
  /** A process-wide counter. */
  readonly mapId: number;
  readonly size: number;
  /** On `end`: how many elements failed. */
  readonly failed?: number;
}

/** `mirai:daemon:task:start` (published in the daemon process). */
export interface DaemonTaskStartEvent {
  readonly taskId: number;
  readonly daemonId: number;
  /** An `everywhere()` set-up task. */
  readonly everywhere: boolean;
  /** W3C trace context the host sent with the task, if any. */
  readonly traceparent: string | undefined;
  readonly tracestate: string | undefined;
}

/** `mirai:daemon:task:end` (published in the daemon process). */
export interface DaemonTaskEndEvent {
  readonly taskId: number;
  readonly daemonId: number;
  readonly ok: boolean;
  /** What the task threw, when it failed. */
  readonly error: unknown;
}

// ---------------------------------------------------------------------------
// Internal: the channel objects, and publishing.

/** @internal The channel objects (made once: `channel(name)` looks up a map). */
export const channels = {
  profileSet: channel(MiraiChannel.profileSet),
  profileReset: channel(MiraiChannel.profileReset),
  profileScale: channel(MiraiChannel.profileScale),
  daemonLaunched: channel(MiraiChannel.daemonLaunched),
  daemonConnected: channel(MiraiChannel.daemonConnected),
  daemonLeaving: channel(MiraiChannel.daemonLeaving),
  daemonLost: channel(MiraiChannel.daemonLost),
  daemonDisconnected: channel(MiraiChannel.daemonDisconnected),
  taskQueued: channel(MiraiChannel.taskQueued),
  taskAssigned: channel(MiraiChannel.taskAssigned),
  taskSettled: channel(MiraiChannel.taskSettled),
  taskCancelled: channel(MiraiChannel.taskCancelled),
  taskRetried: channel(MiraiChannel.taskRetried),
  mapStart: channel(MiraiChannel.mapStart),
  mapEnd: channel(MiraiChannel.mapEnd),
  daemonTaskStart: channel(MiraiChannel.daemonTaskStart),
  daemonTaskEnd: channel(MiraiChannel.daemonTaskEnd),
} as const;

const debug = debuglog('mirai');
/** Read once: NODE_DEBUG is fixed for the process's life. */
const debugging = debug.enabled;

/** @internal Whether an event on `ch` would go anywhere: check before building its message. */
export function active(ch: Channel): boolean {
  return debugging || ch.hasSubscribers;
}

/** @internal Publishes `message` on `ch`, and as a `NODE_DEBUG=mirai` line. */
export function publish(ch: Channel, message: object): void {
  if (ch.hasSubscribers) ch.publish(message);
  if (debugging) debug('%s %s', String(ch.name).slice('mirai:'.length), describe(message));
}

/** `key=value` pairs of a message's scalar fields (an error by its kind and message). */
function describe(message: object): string {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(message)) {
    if (value === undefined) continue;
    if (value instanceof Error) parts.push(`${key}=${JSON.stringify(value.message)}`);
    else if (typeof value !== 'object') parts.push(`${key}=${typeof value === 'string' ? JSON.stringify(value) : String(value)}`);
    else if (Array.isArray(value)) parts.push(`${key}=${value.join(',')}`);
  }
  return parts.join(' ');
}

/**
 * Publishes `mirai:task:settled` for a task that settles without ever being queued (see
 * {@link TaskSettledEvent}): where that happens (mirai() itself, a pool building a frame
 * asynchronously, a profile reset) no pool will report it, and a subscriber that keeps
 * something per task (a tracing adapter's open span) must hear of it once.
 */
export function settledUnqueued(profile: string, taskId: number, err: unknown): void {
  if (!active(channels.taskSettled)) return;
  // Pools fail tasks with MiraiErrors; anything else (a plugin's own throw) is wrapped for the event.
  const error = err === undefined || isMiraiError(err) ? err : new MiraiError('plugin', err instanceof Error ? err.message : String(err), { cause: err });
  publish(channels.taskSettled, {
    profile,
    taskId,
    daemonId: undefined,
    outcome: error === undefined ? 'ok' : error.kind,
    error,
    queuedMs: NaN,
    runMs: NaN,
    totalMs: NaN,
    bytesSent: 0,
    bytesReceived: 0,
    neverQueued: true,
  });
}
