/** A task as the host holds it, from submission until it settles. */
import type { MiraiError } from '../errors.js';
import type { Frame } from '../wire/frame.js';
import type { DaemonConnection } from './daemon-connection.js';

/**
 * Where a task's outcome goes: the API's `Mirai` implements this. The host calls each at most
 * once, and never after the other.
 */
export interface TaskOutcome {
  readonly id: number;
  _fulfil(value: unknown): void;
  _reject(error: MiraiError): void;
  /** Told each time the task is run again because its daemon was lost (`retry`). */
  _retried?(): void;
}

export interface HostTask {
  readonly id: number;
  readonly frame: Frame;
  readonly outcome: TaskOutcome;
  /** Bytes of the task frame: counted while queued. */
  readonly bytes: number;
  /** Where the task runs, once assigned. */
  daemon: DaemonConnection | undefined;
  /** True once the outcome has settled (a cancelled task may still run on its daemon). */
  settled: boolean;
  /** How many more times the task may be run again if its daemon is lost while running it. */
  retriesLeft: number;
}

/** The bytes a task frame holds. */
export function frameBytes(f: Frame): number {
  let n = 0;
  for (const s of f.segments) n += s.byteLength;
  return n;
}
