/**
 * What the dashboard shows, kept from mirai-ts's lifecycle channels: per profile its daemons,
 * queue depth and throughput over time, each daemon's recent tasks, its autoscaler's recent
 * decisions (`mirai:profile:scale`), and recent failures.
 *
 * A task costs the host two array pushes here: its settled event and the time are kept as they
 * come and folded into the figures when they are read (a push to the pages, a snapshot, the
 * one-second throughput sample). Which task a daemon runs now, and whether it is busy, is read
 * from `status()` at that time, so nothing listens to task assignments at all.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import {
  MiraiChannel,
  status,
  type DaemonEvent,
  type ProfileResetEvent,
  type ProfileScaleEvent,
  type ProfileSetEvent,
  type TaskSettledEvent,
} from '@mirai-ts/core';

const HISTORY = 120; // one-second samples kept
const TIMELINE = 60; // tasks kept per daemon
const FAILURES = 20;
const SCALING = 20; // scaling decisions kept per profile
/**
 * Reset profiles remembered (see `DashboardState.reset`): a task the reset failed settles
 * within moments of it, long before this many other profiles are reset, and a host that resets
 * a profile per job (job-1, job-2, ...) keeps no more names than this.
 */
const RESETS_REMEMBERED = 256;
/**
 * Lost daemons kept on show per profile, newest: a crash loop or an autoscaler's churn would
 * otherwise grow every snapshot and the host's memory without end.
 */
export const LOST_SHOWN = 20;

interface DaemonRow {
  id: number;
  host: string | undefined;
  pid: number | undefined;
  state: 'idle' | 'busy' | 'leaving' | 'lost';
  task: number | undefined;
  done: number;
  connectedAt: number;
  timeline: TimelineEntry[];
  /** The task `status()` last showed it running, and since when (as first seen). */
  running: TimelineEntry | undefined;
}

interface TimelineEntry {
  readonly task: number;
  readonly start: number;
  readonly end: number | undefined;
  readonly ok: boolean | undefined;
}

interface ProfileState {
  url: string;
  daemons: Map<number, DaemonRow>;
  /** [time (ms), queue depth, tasks settled in that second]. */
  samples: [number, number, number][];
  settledThisSecond: number;
  completed: number;
  failed: number;
  /** Its autoscaler's recent decisions, newest first. */
  scaling: ScaleRow[];
}

/** A scaling decision as shown. */
export type ScaleRow = Omit<ProfileScaleEvent, 'profile'>;

/** An autoscaled profile's bounds and target as shown beside its decisions. */
export interface AutoscaleRow {
  readonly min: number;
  readonly max: number;
  readonly target: number;
  readonly mode: 'auto' | 'manual';
  readonly launching: number;
}

/** A failure as shown: where, what, and the remote stack. */
export interface FailureRow {
  readonly profile: string;
  readonly taskId: number;
  readonly daemonId: number | undefined;
  readonly kind: string;
  readonly message: string;
  readonly stack: string;
  readonly at: number;
}

/** The JSON pushed to pages. */
export interface Snapshot {
  readonly now: number;
  readonly profiles: {
    readonly name: string;
    readonly url: string;
    readonly queued: number;
    readonly completed: number;
    readonly failed: number;
    readonly samples: [number, number, number][];
    readonly daemons: (Omit<DaemonRow, 'timeline' | 'connectedAt' | 'running'> & { uptimeMs: number; timeline: TimelineEntry[] })[];
    /** Set for an autoscaled profile. */
    readonly autoscale: AutoscaleRow | undefined;
    readonly scaling: ScaleRow[];
  }[];
  readonly failures: FailureRow[];
}

export class DashboardState {
  private readonly profiles = new Map<string, ProfileState>();
  /**
   * Profiles reset and not set again, oldest first. The tasks a reset fails settle after its
   * `mirai:profile:reset`, and an autoscaler may still report a decision: neither may bring the
   * profile back on show, where it stayed for good with no daemons. A new `mirai:profile:set`
   * of the name takes it off.
   */
  private readonly reset = new Set<string>();
  private readonly failures: FailureRow[] = [];
  /** Settled events not folded in yet, and when each came (ms since the epoch). */
  private settled: TaskSettledEvent[] = [];
  private settledAt: number[] = [];
  /** The functions subscribed, by channel, to unsubscribe on close. */
  private readonly subscribed = new Map<string, (m: unknown) => void>();
  private readonly ticker: NodeJS.Timeout;
  /** Called after anything changed (the server throttles its pushes). */
  onChange: () => void = () => {};

  constructor() {
    // Lifecycle events are rare: each folds what came before it, so a task settled before its
    // profile was reset counts in that profile, not in a new one.
    const lifecycle: [string, (m: unknown) => void][] = [
      [MiraiChannel.profileSet, (m) => this.profileSet(m as ProfileSetEvent)],
      [MiraiChannel.profileReset, (m) => this.profileReset(m as ProfileResetEvent)],
      [MiraiChannel.daemonConnected, (m) => this.connected(m as DaemonEvent)],
      [MiraiChannel.daemonLeaving, (m) => this.daemonState(m as DaemonEvent, 'leaving')],
      [MiraiChannel.daemonLost, (m) => this.daemonState(m as DaemonEvent, 'lost')],
      [MiraiChannel.daemonDisconnected, (m) => this.disconnected(m as DaemonEvent)],
      [MiraiChannel.profileScale, (m) => this.scaled(m as ProfileScaleEvent)],
    ];
    for (const [name, fn] of lifecycle) {
      this.listen(name, (m) => {
        this.fold();
        fn(m);
        this.onChange();
      });
    }
    this.listen(MiraiChannel.taskSettled, (m) => {
      // A submission refused before the queue (a full queue, arguments that cannot be sent) is
      // the caller's error, not a task's: a retry loop would fill the failures with them.
      if ((m as TaskSettledEvent).neverQueued) return;
      this.settled.push(m as TaskSettledEvent);
      this.settledAt.push(Date.now());
      this.onChange();
    });
    this.ticker = setInterval(() => this.sample(), 1_000);
    this.ticker.unref();
  }

  private listen(name: string, fn: (m: unknown) => void): void {
    subscribe(name, fn);
    this.subscribed.set(name, fn);
  }

  /** Profiles set before the dashboard started: taken from `status()` when first named. */
  private ensure(profile: string, url = ''): ProfileState {
    let p = this.profiles.get(profile);
    if (p === undefined) {
      p = { url: url || (status(profile)?.url ?? ''), daemons: new Map(), samples: [], settledThisSecond: 0, completed: 0, failed: 0, scaling: [] };
      this.profiles.set(profile, p);
      for (const d of status(profile)?.daemons ?? []) {
        p.daemons.set(d.id, { id: d.id, host: d.hostname, pid: d.pid, state: d.state, task: d.tasks[0], done: d.completed, connectedAt: d.connectedAt, timeline: [], running: undefined });
      }
    }
    return p;
  }

  /** The profile on show, made if need be, unless it was reset: then undefined. */
  private live(profile: string, url = ''): ProfileState | undefined {
    return this.reset.has(profile) ? undefined : this.ensure(profile, url);
  }

  /** Takes in profiles that exist already (the dashboard opened after `daemons()`). */
  adopt(names: readonly string[]): void {
    for (const name of names) if (status(name) !== undefined) this.ensure(name);
  }

  private profileSet(e: ProfileSetEvent): void {
    this.reset.delete(e.profile);
    this.profiles.delete(e.profile);
    this.ensure(e.profile, e.url);
  }

  private profileReset(e: ProfileResetEvent): void {
    this.profiles.delete(e.profile);
    this.reset.delete(e.profile); // re-added as the newest
    this.reset.add(e.profile);
    if (this.reset.size > RESETS_REMEMBERED) this.reset.delete(this.reset.values().next().value!);
  }

  private connected(e: DaemonEvent): void {
    this.live(e.profile, e.url)?.daemons.set(e.daemonId, {
      id: e.daemonId,
      host: e.hostname,
      pid: e.pid,
      state: 'idle',
      task: undefined,
      done: e.completed,
      connectedAt: e.connectedAt,
      timeline: [],
      running: undefined,
    });
  }

  private scaled(e: ProfileScaleEvent): void {
    const { profile, ...decision } = e;
    const rows = this.live(profile)?.scaling;
    if (rows === undefined) return;
    rows.unshift(decision);
    if (rows.length > SCALING) rows.length = SCALING;
  }

  private daemonState(e: DaemonEvent, state: 'leaving' | 'lost'): void {
    const daemons = this.profiles.get(e.profile)?.daemons;
    const d = daemons?.get(e.daemonId);
    if (daemons === undefined || d === undefined) return;
    d.state = state;
    d.task = undefined;
    d.running = undefined;
    if (state === 'lost') forgetOldestLost(daemons);
  }

  /** A daemon that left as asked is not shown again; its tasks stay in its profile's counts. */
  private disconnected(e: DaemonEvent): void {
    this.profiles.get(e.profile)?.daemons.delete(e.daemonId);
  }

  /** Folds the settled events kept since the last time into the counts, timelines and failures. */
  private fold(): void {
    const events = this.settled;
    const times = this.settledAt;
    if (events.length === 0) return;
    this.settled = [];
    this.settledAt = [];
    const trimmed = new Set<DaemonRow>();
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      const at = times[i]!;
      // A task the profile's reset failed: the profile is gone, and stays gone.
      const p = this.live(e.profile);
      if (p === undefined) continue;
      p.settledThisSecond++;
      if (e.outcome === 'ok') p.completed++;
      else p.failed++;
      const d = e.daemonId === undefined ? undefined : p.daemons.get(e.daemonId);
      if (d !== undefined) {
        // Ran from `runMs` before it settled (queued time excluded).
        d.timeline.push({ task: e.taskId, start: Number.isFinite(e.runMs) ? at - e.runMs : at, end: at, ok: e.outcome === 'ok' });
        if (d.timeline.length > TIMELINE) trimmed.add(d);
        d.done++;
        if (d.running?.task === e.taskId) d.running = undefined;
      }
      if (e.error !== undefined) {
        this.failures.unshift({
          profile: e.profile,
          taskId: e.taskId,
          daemonId: e.daemonId,
          kind: e.outcome,
          message: e.error.message,
          stack: e.error.stack ?? '',
          at,
        });
      }
    }
    for (const d of trimmed) d.timeline.splice(0, d.timeline.length - TIMELINE);
    if (this.failures.length > FAILURES) this.failures.length = FAILURES;
  }

  private sample(): void {
    this.fold();
    const now = Date.now();
    for (const [name, p] of this.profiles) {
      p.samples.push([now, status(name)?.awaiting ?? 0, p.settledThisSecond]);
      p.settledThisSecond = 0;
      if (p.samples.length > HISTORY) p.samples.shift();
    }
    this.onChange();
  }

  snapshot(): Snapshot {
    this.fold();
    const now = Date.now();
    return {
      now,
      profiles: [...this.profiles].map(([name, p]) => {
        const s = status(name);
        // Live daemons' state and current task as the host has them now.
        for (const live of s?.daemons ?? []) {
          const d = p.daemons.get(live.id);
          if (d === undefined || d.state === 'lost') continue;
          d.state = live.state;
          d.task = live.tasks[0];
          if (d.task === undefined) d.running = undefined;
          else if (d.running?.task !== d.task) d.running = { task: d.task, start: now, end: undefined, ok: undefined };
        }
        const scale = s?.autoscale;
        return {
          name,
          url: p.url,
          queued: s?.awaiting ?? 0,
          completed: p.completed,
          failed: p.failed,
          samples: p.samples,
          autoscale: scale === undefined ? undefined : { min: scale.min, max: scale.max, target: scale.target, mode: scale.mode, launching: scale.launching },
          scaling: p.scaling,
          daemons: [...p.daemons.values()].map(({ connectedAt, running, timeline, ...d }) => ({ ...d, uptimeMs: now - connectedAt, timeline: running === undefined ? timeline : [...timeline, running] })),
        };
      }),
      failures: this.failures,
    };
  }

  close(): void {
    clearInterval(this.ticker);
    for (const [name, fn] of this.subscribed) unsubscribe(name, fn);
    this.subscribed.clear();
  }
}

/** Drops the lost daemons beyond the {@link LOST_SHOWN} newest (rows are kept in order of connection). */
function forgetOldestLost(daemons: Map<number, DaemonRow>): void {
  let lost = 0;
  for (const d of daemons.values()) if (d.state === 'lost') lost++;
  for (const [id, d] of daemons) {
    if (lost <= LOST_SHOWN) return;
    if (d.state === 'lost') {
      daemons.delete(id);
      lost--;
    }
  }
}
