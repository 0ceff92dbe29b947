/**
 * The task contract: what a task function receives, and how a function that lives in a
 * module file is named. Shared by the API (which sends tasks) and the daemon (which runs them).
 */

/** What a task function receives after its arguments. */
export interface TaskContext {
  /** Aborted when the task is cancelled or times out: stop early, the result is discarded. */
  readonly signal: AbortSignal;
  /** The task's id (as in `status()`). */
  readonly taskId: number;
  /** The id of the daemon running the task (0 in sync mode). */
  readonly daemonId: number;
  /**
   * A number in [0, 1) from the task's random stream: with the profile's `seed`, a stream of
   * the task's own (the same numbers whichever daemon runs it); without, the daemon's stream.
   * With a seed, `Math.random()` inside the task draws from the same stream.
   */
  random(): number;
  /** A whole number between `min` and `max`, both included, from the same stream. */
  randomInt(min: number, max: number): number;
  /** A normally distributed number (mean 0 and sd 1 unless given), from the same stream. */
  randomNormal(mean?: number, sd?: number): number;
}

/** A function exported by a module file, for code that lives in files. Make one with `fromModule()`. */
export interface ModuleFunction {
  readonly module: string;
  readonly export: string;
}

/** True for a {@link ModuleFunction} reference. */
export function isModuleFunction(value: unknown): value is ModuleFunction {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as ModuleFunction).module === 'string' &&
    typeof (value as ModuleFunction).export === 'string'
  );
}

