/**
 * Self-healing that never gives up silently: daemons to replace are launched in batches
 * (one launch call per launcher), and a batch that fails to start, or daemons that die within
 * seconds of connecting (a crash loop), are tried again after a capped backoff, for as long
 * as the profile lives. Each failure is logged as a warning and counted for `status()`.
 */
import type { Launcher } from '../launcher.js';
import type { DaemonOptions } from '../wire/daemon-args.js';
import type { LogFunction } from './log.js';

/** What `status().launches` shows about launching and replacing daemons. */
export interface LaunchFigures {
  /** Daemons waiting to be replaced, or launched and not yet connected. */
  readonly pending: number;
  /** Failed replacement launches (or crash-looping daemons) in a row; 0 once one succeeds. */
  readonly failures: number;
  /** Why the last one failed. */
  readonly lastError: string | undefined;
  /** When the next attempt is due (ms since the epoch), while one is waiting. */
  readonly retryAt: number | undefined;
}

/**
 * How a replacement batch is started: the pool's own `launch`; resolves to whether every
 * daemon of it connected (not so for batch jobs still queued at the launch timeout).
 */
export type LaunchFunction = (n: number, launcher: Launcher, options: DaemonOptions | undefined) => Promise<boolean>;

/** A daemon that dies this soon after connecting counts as a failure (a crash loop). */
export const QUICK_DEATH_MS = 5_000;
const FIRST_DELAY_MS = 250;
const MAX_DELAY_MS = 30_000;

/** The backoff before the next attempt after `failures` failures in a row. */
export function backoffDelay(failures: number): number {
  if (failures <= 0) return 0;
  const base = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** (failures - 1));
  return Math.round(base * (0.8 + 0.4 * Math.random())); // jitter: replacements of many hosts do not march in step
}

export class Replacements {
  /** Daemons to launch, per launcher and daemon options. */
  private readonly wanted = new Map<Launcher, Map<DaemonOptions | undefined, number>>();
  private launching = 0;
  private failures = 0;
  private lastError: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private retryAt: number | undefined;
  /** The wait before the next attempt, drawn at the last failure. */
  private delay = 0;
  private closed = false;

  constructor(
    private readonly profile: string,
    private readonly launch: LaunchFunction,
    private readonly log: LogFunction,
    /** Told of every failure, with the count in a row. */
    private readonly onFailure: (failures: number, error: string) => void,
  ) {}

  /**
   * One more daemon to start like the one that was lost. `quickDeath`: the lost daemon died
   * soon after connecting, so this is a crash loop and waits its backoff.
   */
  replace(launcher: Launcher, options: DaemonOptions | undefined, why: string, quickDeath: boolean, count = 1): void {
    if (this.closed) return;
    let byOptions = this.wanted.get(launcher);
    if (byOptions === undefined) this.wanted.set(launcher, (byOptions = new Map()));
    byOptions.set(options, (byOptions.get(options) ?? 0) + count);
    if (quickDeath) this.failed(why);
    else this.log('info', `profile '${this.profile}': ${why}; launching a replacement`);
    this.schedule();
  }

  /**
   * Replacement daemons have connected (at the end of their launch call, or later, from a
   * scheduler's queue): healthy once they outlive a crash loop. A daemon that dies within
   * QUICK_DEATH_MS keeps the count of failures in a row, so the backoff grows.
   */
  joined(): void {
    if (this.failures === 0) return;
    const failuresNow = this.failures;
    setTimeout(() => {
      if (this.failures === failuresNow) {
        this.failures = 0;
        this.lastError = undefined;
      }
    }, QUICK_DEATH_MS).unref();
  }

  figures(): LaunchFigures {
    let waiting = 0;
    for (const byOptions of this.wanted.values()) for (const n of byOptions.values()) waiting += n;
    return { pending: waiting + this.launching, failures: this.failures, lastError: this.lastError, retryAt: this.retryAt };
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.wanted.clear();
  }

  private schedule(): void {
    if (this.timer !== undefined || this.closed) return;
    const delay = this.failures === 0 ? 0 : this.delay;
    this.retryAt = Date.now() + delay;
    // Pending replacements alone do not keep the process alive: a task waiting for them does.
    this.timer = setTimeout(() => this.flush(), delay);
    this.timer.unref();
  }

  private flush(): void {
    this.timer = undefined;
    this.retryAt = undefined;
    if (this.closed) return;
    for (const [launcher, byOptions] of this.wanted) {
      for (const [options, n] of byOptions) {
        this.launching += n;
        this.launch(n, launcher, options).then(
          (connected) => {
            this.launching -= n;
            // Jobs still queued may yet be lost (a launch loss counts as a failure): no proof
            // until they join (joined()).
            if (connected) this.joined();
          },
          (err: Error) => {
            this.launching -= n;
            if (this.closed) return;
            const again = this.wanted.get(launcher) ?? new Map<DaemonOptions | undefined, number>();
            again.set(options, (again.get(options) ?? 0) + n);
            this.wanted.set(launcher, again);
            this.failed(`could not start ${n} replacement daemon(s) (${launcher.kind}): ${err.message}`);
            this.schedule();
          },
        );
      }
    }
    this.wanted.clear();
  }

  private failed(why: string): void {
    this.failures++;
    this.lastError = why;
    this.delay = backoffDelay(this.failures);
    this.log('warn', `profile '${this.profile}': ${why} (${this.failures} in a row); trying again in ${(this.delay / 1000).toFixed(1)} s`);
    this.onFailure(this.failures, why);
  }
}
