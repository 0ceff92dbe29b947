/**
 * What the dashboard shows, kept from mirai-ts's lifecycle channels: per profile its daemons,
 * queue depth and throughput over time, each daemon's recent tasks, and recent failures.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import {
  MiraiChannel,
  status,
  type DaemonEvent,
  type ProfileResetEvent,
  type ProfileSetEvent,
  type TaskAssignedEvent,
  type TaskSettledEvent,
} from '@mirai-ts/core';

const HISTORY = 120; // one-second samples kept
const TIMELINE = 60; // tasks kept per daemon
const FAILURES = 20;

interface DaemonRow {
  id: number;
  host: string | undefined;
  pid: number | undefined;
  state: 'idle' | 'busy' | 'leaving' | 'lost' | 'gone';
  task: number | undefined;
  done: number;
  connectedAt: number;
  timeline: { task: number; start: number; end: number | undefined; ok: boolean | undefined }[];
}

interface ProfileState {
  url: string;
  daemons: Map<number, DaemonRow>;
  /** [time (ms), queue depth, tasks settled in that second]. */
  samples: [number, number, number][];
  settledThisSecond: number;
  completed: number;
  failed: number;
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
    readonly daemons: (Omit<DaemonRow, 'timeline' | 'connectedAt'> & { uptimeMs: number; timeline: DaemonRow['timeline'] })[];
  }[];
  readonly failures: FailureRow[];
}

export class DashboardState {
  private readonly profiles = new Map<string, ProfileState>();
  private readonly failures: FailureRow[] = [];
  /** The functions subscribed, by channel, to unsubscribe on close. */
  private readonly subscribed = new Map<string, (m: unknown) => void>();
  private readonly ticker: NodeJS.Timeout;
  /** Called after anything changed (the server throttles its pushes). */
  onChange: () => void = () => {};

  constructor() {
    const handlers: [string, (m: unknown) => void][] = [
      [MiraiChannel.profileSet, (m) => this.profileSet(m as ProfileSetEvent)],
      [MiraiChannel.profileReset, (m) => this.profiles.delete((m as ProfileResetEvent).profile)],
      [MiraiChannel.daemonConnected, (m) => this.connected(m as DaemonEvent)],
      [MiraiChannel.daemonLeaving, (m) => this.daemonState(m as DaemonEvent, 'leaving')],
      [MiraiChannel.daemonLost, (m) => this.daemonState(m as DaemonEvent, 'lost')],
      [MiraiChannel.daemonDisconnected, (m) => this.daemonState(m as DaemonEvent, 'gone')],
      [MiraiChannel.taskAssigned, (m) => this.assigned(m as TaskAssignedEvent)],
      [MiraiChannel.taskSettled, (m) => this.settled(m as TaskSettledEvent)],
    ];
    for (const [name, fn] of handlers) {
      const wrapped = (m: unknown): void => {
        fn(m);
        this.onChange();
      };
      subscribe(name, wrapped);
      this.subscribed.set(name, wrapped);
    }
    this.ticker = setInterval(() => this.sample(), 1_000);
    this.ticker.unref();
  }

  /** Profiles set before the dashboard started: taken from `status()` when first named. */
  private ensure(profile: string, url = ''): ProfileState {
    let p = this.profiles.get(profile);
    if (p === undefined) {
      p = { url: url || (status(profile)?.url ?? ''), daemons: new Map(), samples: [], settledThisSecond: 0, completed: 0, failed: 0 };
      this.profiles.set(profile, p);
      for (const d of status(profile)?.daemons ?? []) {
        p.daemons.set(d.id, { id: d.id, host: d.hostname, pid: d.pid, state: d.state, task: d.tasks[0], done: d.completed, connectedAt: d.connectedAt, timeline: [] });
      }
    }
    return p;
  }

  /** Takes in profiles that exist already (the dashboard opened after `daemons()`). */
  adopt(names: readonly string[]): void {
    for (const name of names) if (status(name) !== undefined) this.ensure(name);
  }

  private profileSet(e: ProfileSetEvent): void {
    this.profiles.delete(e.profile);
    this.ensure(e.profile, e.url);
  }

  private connected(e: DaemonEvent): void {
    this.ensure(e.profile, e.url).daemons.set(e.daemonId, {
      id: e.daemonId,
      host: e.hostname,
      pid: e.pid,
      state: 'idle',
      task: undefined,
      done: e.completed,
      connectedAt: e.connectedAt,
      timeline: [],
    });
  }

  private daemonState(e: DaemonEvent, state: DaemonRow['state']): void {
    const d = this.profiles.get(e.profile)?.daemons.get(e.daemonId);
    if (d === undefined) return;
    d.state = state;
    d.task = undefined;
  }

  private assigned(e: TaskAssignedEvent): void {
    const d = this.ensure(e.profile).daemons.get(e.daemonId);
    if (d === undefined) return;
    d.state = 'busy';
    d.task = e.taskId;
    d.timeline.push({ task: e.taskId, start: Date.now(), end: undefined, ok: undefined });
    if (d.timeline.length > TIMELINE) d.timeline.shift();
  }

  private settled(e: TaskSettledEvent): void {
    const p = this.ensure(e.profile);
    p.settledThisSecond++;
    if (e.outcome === 'ok') p.completed++;
    else p.failed++;
    const d = e.daemonId === undefined ? undefined : p.daemons.get(e.daemonId);
    if (d !== undefined) {
      let entry: DaemonRow['timeline'][number] | undefined;
      for (let i = d.timeline.length - 1; i >= 0 && entry === undefined; i--) if (d.timeline[i]!.task === e.taskId) entry = d.timeline[i];
      if (entry !== undefined) {
        entry.end = Date.now();
        entry.ok = e.outcome === 'ok';
      }
      d.done++;
      // The daemon may have its next task already: the host assigns it before settling this one.
      if (d.task === e.taskId) {
        d.task = undefined;
        if (d.state === 'busy') d.state = 'idle';
      }
    }
    if (e.error !== undefined) {
      this.failures.unshift({
        profile: e.profile,
        taskId: e.taskId,
        daemonId: e.daemonId,
        kind: e.outcome,
        message: e.error.message,
        stack: e.error.stack ?? '',
        at: Date.now(),
      });
      if (this.failures.length > FAILURES) this.failures.pop();
    }
  }

  private sample(): void {
    const now = Date.now();
    for (const [name, p] of this.profiles) {
      p.samples.push([now, status(name)?.awaiting ?? 0, p.settledThisSecond]);
      p.settledThisSecond = 0;
      if (p.samples.length > HISTORY) p.samples.shift();
    }
    this.onChange();
  }

  snapshot(): Snapshot {
    const now = Date.now();
    return {
      now,
      profiles: [...this.profiles].map(([name, p]) => ({
        name,
        url: p.url,
        queued: status(name)?.awaiting ?? 0,
        completed: p.completed,
        failed: p.failed,
        samples: p.samples,
        daemons: [...p.daemons.values()]
          .filter((d) => d.state !== 'gone')
          .map(({ connectedAt, ...d }) => ({ ...d, uptimeMs: now - connectedAt })),
      })),
      failures: this.failures,
    };
  }

  close(): void {
    clearInterval(this.ticker);
    for (const [name, fn] of this.subscribed) unsubscribe(name, fn);
    this.subscribed.clear();
  }
}
