/**
 * Autoscaling: daemons while there is work, `min` when there is none. Event driven, no polling
 * loop: the dispatcher says when tasks are queued (`demand`) and when a daemon has nothing to do
 * (`idle`), the pool says when daemons connect or are lost. Launches are coalesced for
 * `throttle` ms and made in one launch call (one job array on a cluster) of
 * `target - (connected + launching)` daemons; launches that fail or do not connect within
 * `launchTimeout` back off as replacements do (replacements.ts's `backoffDelay`). Daemons
 * above the target that stay idle for `idle` ms are told to exit (the dispatcher marks them
 * leaving first, so no task goes to them).
 */
import { ConfigError } from '../errors.js';
import { active, channels, publish } from '../events.js';
import type { DaemonConnection } from './daemon-connection.js';
import type { LogFunction } from './log.js';
import type { ScaleDecision } from './scale-decision.js';
import { backoffDelay } from './replacements.js';
import { checkOptions, is, MAX_DAEMONS_PER_CALL, type OptionRule, type OptionRules } from '../options-check.js';

/** `daemons({ autoscale })`. */
export interface AutoscaleOptions {
  /** Daemons kept when there is no work (default 0). */
  readonly min?: number;
  /** The most daemons at once (required: a backlog of 10 000 tasks must not mean 10 000 daemons). */
  readonly max: number;
  /** A daemon above `min` idle this long (ms) leaves (default 30 000). */
  readonly idle?: number;
  /** A launch not connected within this long (ms) counts as failed (default: the profile's `launchTimeout`). */
  readonly launchTimeout?: number;
  /**
   * The least time (ms) between two launch decisions (default 50). The first decision after a
   * quiet spell waits only for the current burst of submissions to end (the next event-loop
   * turn), so a loop of 10 000 `mirai()` calls gives one launch call, made at once.
   */
  readonly throttle?: number;
  /** Told of every scaling decision (for logs and dashboards); must not throw. */
  readonly onScale?: (decision: ScaleDecision) => void;
}

/** `status().autoscale`. */
export interface AutoscaleStatus {
  readonly min: number;
  readonly max: number;
  readonly idle: number;
  /** `auto`, or `manual` after `scale(n)`. */
  readonly mode: 'auto' | 'manual';
  readonly target: number;
  readonly connected: number;
  /** Daemons launched and not yet connected (jobs waiting in a scheduler's queue included). */
  readonly launching: number;
  /** Launch calls made (a job array is one). */
  readonly launchCalls: number;
  /** Failed launches in a row; 0 once one succeeds. */
  readonly failures: number;
  /** Failed launches in all. */
  readonly failedLaunches: number;
  readonly lastError: string | undefined;
  /** When launching may be tried again (ms since the epoch), while backing off. */
  readonly retryAt: number | undefined;
  readonly last: ScaleDecision | undefined;
}

/** Autoscaling settings with every default filled in. */
export interface AutoscaleSettings extends Required<Omit<AutoscaleOptions, 'onScale'>> {
  readonly onScale: AutoscaleOptions['onScale'];
}

export const AUTOSCALE_DEFAULTS = { min: 0, idle: 30_000, throttle: 50 } as const;

/** What each `autoscale` setting may be. */
/** A count of daemons from `min` to what one launch may ask for (daemons(n) and scale(n) refuse more too). */
const daemonCount =
  (min: number): OptionRule =>
  (v) =>
    typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= MAX_DAEMONS_PER_CALL ? undefined : `a whole number from ${min} to ${MAX_DAEMONS_PER_CALL}`;

const AUTOSCALE_RULES: OptionRules = {
  min: daemonCount(0),
  max: daemonCount(1),
  idle: is.either(is.ms, is.oneOf(Infinity)),
  launchTimeout: is.timeout,
  throttle: is.ms,
  onScale: is.function,
};

/** Checks `autoscale` and fills in its defaults. */
export function resolveAutoscale(options: unknown, launchTimeout: number): AutoscaleSettings {
  checkOptions('daemons({ autoscale })', options, AUTOSCALE_RULES);
  const o = options as AutoscaleOptions;
  if (o.max === undefined) throw new ConfigError('daemons({ autoscale }): max is required: the most daemons to run at once');
  const max = o.max;
  const min = o.min ?? AUTOSCALE_DEFAULTS.min;
  if (min > max) throw new ConfigError(`daemons({ autoscale }): needs min ≤ max, got min ${min}, max ${max}`);
  return {
    min,
    max,
    idle: o.idle ?? AUTOSCALE_DEFAULTS.idle,
    launchTimeout: o.launchTimeout ?? launchTimeout,
    throttle: o.throttle ?? AUTOSCALE_DEFAULTS.throttle,
    onScale: o.onScale,
  };
}

/** What the autoscaler needs from its pool. */
export interface ScaleHost {
  readonly name: string;
  readonly log: LogFunction;
  /** Tasks queued or running. */
  backlog(): number;
  /** Daemons that take tasks now. */
  daemons(): Iterable<DaemonConnection>;
  /** Daemons on their way from launches the autoscaler did not make (daemons(n), launchLocal(), repair). */
  othersLaunching(): number;
  /** Tells a free daemon to exit; false if it is not free. */
  retire(conn: DaemonConnection): boolean;
  /**
   * Launches `n` daemons in one call; resolves once they connected (or, on a scheduler's
   * queue, once the timeout passed), rejects when they could not start or connect in time.
   */
  launch(n: number, timeout: number): Promise<unknown>;
  /** Launches keep failing: `failures` in a row. */
  failing(failures: number, why: string): void;
}

/** The daemons of one launch call still on their way. */
interface Batch {
  remaining: number;
  /** The call has returned (its jobs may still wait in a scheduler's queue). */
  returned: boolean;
}

export class Autoscaler {
  private manual: number | undefined;
  /** Daemons launched and not connected yet, per launch call (oldest first). */
  private readonly batches: Batch[] = [];
  private launching = 0;
  private launchCalls = 0;
  private failures = 0;
  /** The last failure was a daemon dying right after connecting: a launch that connects is no proof of health then. */
  private crashLoop = false;
  private failedLaunches = 0;
  private lastError: string | undefined;
  private retryAt: number | undefined;
  private last: ScaleDecision | undefined;
  private throttleTimer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  /** When the last launch decision was made (ms since the epoch). */
  private lastEvaluation = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private running = false;
  private closed = false;

  constructor(
    readonly settings: AutoscaleSettings,
    private readonly host: ScaleHost,
  ) {}

  /** Begins scaling (after any initial launch): launches up to the target now. */
  start(): void {
    this.running = true;
    this.evaluate();
  }

  /** Tasks were queued: evaluate once the throttle has gathered the burst. */
  demand(): void {
    if (!this.running || this.throttleTimer !== undefined || this.closed) return;
    const fire = (): void => {
      this.throttleTimer = undefined;
      this.evaluate();
    };
    const wait = this.lastEvaluation + this.settings.throttle - Date.now();
    // After the synchronous burst that queued the tasks, or once the throttle allows.
    this.throttleTimer = wait <= 0 ? setImmediate(fire) : setTimeout(fire, wait);
    this.throttleTimer.unref();
  }

  /** A daemon connected: one launch fewer is on its way. */
  connected(): void {
    // The last job of a call that returned at the launch timeout has joined: that launch worked.
    if (this.arrivedOrLost() && !this.crashLoop) {
      this.failures = 0;
      this.lastError = undefined;
    }
  }

  /**
   * Launches of one call that had returned (batch jobs still queued at the launch timeout)
   * ended without their daemons connecting: `count` fewer are on their way, and they count as
   * one failed launch (backoff, then launching again for the backlog). Launches that merely
   * return are no proof of health until a daemon answers or outlives a quick death
   * (`idle(proven)`).
   */
  launchLost(why: string, count = 1): void {
    if (this.closed) return;
    for (let i = 0; i < count; i++) this.arrivedOrLost();
    this.crashLoop = true;
    this.failed(count, why);
  }

  /**
   * A daemon was lost (crashed): launch again if the backlog wants it, no repair on top. One
   * that died within seconds of connecting (`quickDeath`, a crash loop) counts as a failed
   * launch, so launching backs off instead of looping.
   */
  lost(why: string, quickDeath: boolean): void {
    if (!this.running || this.closed) return;
    if (quickDeath) {
      this.crashLoop = true;
      this.failed(1, why);
    } else this.demand();
  }

  /**
   * A daemon has nothing to do: arrange for idle daemons above the target to leave. `proven`:
   * it answered a task or outlived a quick death, so a crash loop, if any, is over.
   */
  idle(proven: boolean): void {
    if (this.crashLoop && proven) {
      this.crashLoop = false;
      this.failures = 0;
      this.lastError = undefined;
    }
    this.scaleDown();
  }

  /** Sets the target by hand (`scale(n)`), or back to autoscaling (`'auto'`). */
  scale(target: number | 'auto'): void {
    if (target !== 'auto' && !(Number.isInteger(target) && target >= 0)) {
      throw new ConfigError(`scale(n): n must be a whole number ≥ 0 or 'auto', got ${String(target)}`);
    }
    this.manual = target === 'auto' ? undefined : target;
    this.running = true;
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    this.evaluate();
  }

  status(): AutoscaleStatus {
    const { min, max, idle } = this.settings;
    return {
      min,
      max,
      idle,
      mode: this.manual === undefined ? 'auto' : 'manual',
      target: this.target(),
      connected: this.connections(),
      launching: this.launching,
      launchCalls: this.launchCalls,
      failures: this.failures,
      failedLaunches: this.failedLaunches,
      lastError: this.lastError,
      retryAt: this.retryAt,
      last: this.last,
    };
  }

  close(): void {
    this.closed = true;
    this.cancelThrottle();
    clearTimeout(this.retryTimer);
    clearTimeout(this.idleTimer);
  }

  // -------------------------------------------------------------------------

  /** `scale(n)`'s target, else the backlog between min and max. */
  private target(): number {
    if (this.manual !== undefined) return this.manual;
    const { min, max } = this.settings;
    return Math.max(min, Math.min(max, this.host.backlog()));
  }

  private connections(): number {
    let n = 0;
    for (const _ of this.host.daemons()) n++;
    return n;
  }

  /** Starts the idle sweep when daemons exceed the target and none is armed. */
  private scaleDown(): void {
    if (!this.running || this.idleTimer !== undefined || this.closed) return;
    if (this.connections() > this.target()) this.sweep();
  }

  private cancelThrottle(): void {
    const t = this.throttleTimer;
    if (t === undefined) return;
    if ('hasRef' in t && 'refresh' in t) clearTimeout(t as NodeJS.Timeout);
    else clearImmediate(t as NodeJS.Immediate);
    this.throttleTimer = undefined;
  }

  private evaluate(): void {
    if (this.closed) return;
    this.lastEvaluation = Date.now();
    const target = this.target();
    const connected = this.connections();
    const need = target - connected - this.launching - this.host.othersLaunching();
    // While backing off, the retry timer evaluates again.
    if (need > 0 && this.retryTimer === undefined) this.launch(need, target, connected);
    else if (connected > target) this.scaleDown();
  }

  /**
   * One launch fewer is on its way: the oldest batch waiting for daemons has one fewer. True
   * when that ended a batch whose call had returned (its last job joined or was lost).
   */
  private arrivedOrLost(): boolean {
    if (this.launching === 0) return false;
    this.launching--;
    const i = this.batches.findIndex((b) => b.remaining > 0);
    if (i < 0) return false;
    const batch = this.batches[i]!;
    batch.remaining--;
    if (batch.remaining > 0 || !batch.returned) return false;
    this.batches.splice(i, 1);
    return true;
  }

  /**
   * The profile's first launch, of `min` daemons, which daemons() waits for: one of the
   * autoscaler's own, so that jobs still queued at its launch timeout count as on their way
   * (the first decision launched them again).
   */
  first(n: number): Promise<unknown> {
    return this.launch(n, n, 0, `min ${n}`);
  }

  private launch(n: number, target: number, connected: number, why?: string): Promise<unknown> {
    const batch: Batch = { remaining: n, returned: false };
    this.batches.push(batch);
    this.launching += n;
    this.launchCalls++;
    const cause = why ?? (this.manual === undefined ? `backlog ${this.host.backlog()}` : 'scale()');
    this.decide('launch', n, target, connected, `${cause}: target ${target}, ${connected} connected, ${this.launching - n} launching`);
    const done = (): void => {
      this.launching -= batch.remaining;
      batch.remaining = 0;
      const i = this.batches.indexOf(batch);
      if (i >= 0) this.batches.splice(i, 1);
    };
    const launched = this.host.launch(n, this.settings.launchTimeout);
    launched.then(
      () => {
        batch.returned = true;
        // Jobs still waiting in a scheduler's queue stay counted as launching until they join
        // (or are lost), and prove nothing yet.
        if (batch.remaining > 0) return;
        if (!this.crashLoop) {
          this.failures = 0;
          this.lastError = undefined;
        }
        done();
      },
      (err: Error) => {
        const missing = batch.remaining;
        done();
        if (!this.closed) this.failed(missing, err.message);
      },
    );
    return launched;
  }

  /** A launch failed: back off (as replacements do), say so, and try again after the delay. */
  private failed(missing: number, why: string): void {
    this.failures++;
    this.failedLaunches++;
    this.lastError = why;
    const delay = backoffDelay(this.failures);
    this.retryAt = Date.now() + delay;
    this.host.log('warn', `profile '${this.host.name}': autoscaling could not start ${missing} daemon(s): ${why} (${this.failures} in a row); trying again in ${(delay / 1000).toFixed(1)} s`);
    this.decide('launch-failed', missing, this.target(), this.connections(), why);
    this.host.failing(this.failures, why);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.retryAt = undefined;
      this.evaluate();
    }, delay);
    this.retryTimer.unref();
  }

  /**
   * Tells daemons above the target that have been idle long enough (at once after `scale(n)`)
   * to exit, longest idle first, and arms one timer for the next that will be.
   */
  private sweep(): void {
    this.idleTimer = undefined;
    if (this.closed) return;
    const target = this.target();
    const free: DaemonConnection[] = [];
    let count = 0;
    for (const conn of this.host.daemons()) {
      count++;
      if (conn.free) free.push(conn);
    }
    if (count <= target) return;
    const wait = this.manual === undefined ? this.settings.idle : 0;
    free.sort((a, b) => a.idleSince - b.idleSince);
    const now = Date.now();
    const retired: number[] = [];
    let next: number | undefined;
    for (const conn of free) {
      if (count <= target) break;
      const due = conn.idleSince + wait;
      if (due > now) {
        next = due;
        break;
      }
      if (this.host.retire(conn)) {
        retired.push(conn.id);
        count--;
      }
    }
    if (retired.length > 0) this.decide('retire', retired.length, target, count, `daemon(s) ${retired.join(', ')} idle ${wait} ms above the target`);
    // An infinite `idle` (a profile scaled by hand) arms nothing: only scale(n) retires then.
    if (next !== undefined && Number.isFinite(next) && count > target) {
      this.idleTimer = setTimeout(() => this.sweep(), next - now);
      this.idleTimer.unref();
    }
  }

  private decide(action: ScaleDecision['action'], count: number, target: number, connected: number, reason: string): void {
    const decision: ScaleDecision = { action, count, target, connected, launching: this.launching, backlog: this.host.backlog(), reason, at: Date.now() };
    this.last = decision;
    this.host.log('info', `profile '${this.host.name}': autoscale ${action} ${count}: ${reason}`);
    if (active(channels.profileScale)) publish(channels.profileScale, { profile: this.host.name, ...decision });
    try {
      this.settings.onScale?.(decision);
    } catch (err) {
      this.host.log('warn', `profile '${this.host.name}': onScale threw: ${(err as Error).message}`);
    }
  }
}
