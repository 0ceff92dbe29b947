/** One scaling decision, as `onScale` and `status().autoscale.last` report it. */
export interface ScaleDecision {
  /** `launch`: daemons were asked for; `retire`: idle daemons were told to exit; `launch-failed`: a launch failed. */
  readonly action: 'launch' | 'retire' | 'launch-failed';
  /** Daemons launched, retired, or that failed to connect. */
  readonly count: number;
  /** The target at the time, and what it was made of. */
  readonly target: number;
  readonly connected: number;
  readonly launching: number;
  /** Tasks queued or running. */
  readonly backlog: number;
  /** In words: why. */
  readonly reason: string;
  /** When (ms since the epoch). */
  readonly at: number;
}
