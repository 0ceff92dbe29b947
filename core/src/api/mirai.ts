/**
 * A {@link Mirai}: the future result of a task. Awaitable, checkable without blocking, never lost.
 */
import { inspect } from 'node:util';
import { CancelledError, ConfigError, type MiraiError } from '../errors.js';
import type { Submitted } from '../host/compute-pool.js';
import type { TaskOutcome } from '../host/host-task.js';

/** The value of `m.data` while a mirai is pending. Test with {@link unresolved}, not by identity. */
export const UNRESOLVED: unique symbol = Symbol.for('mirai-ts.unresolved');
export type Unresolved = typeof UNRESOLVED;

/*
 * Settled state and retries share one field (a mirai is allocated per task: every field is
 * 8 bytes in each of a million queued ones): the low two bits are the state, the rest count
 * the retries.
 */
const PENDING = 0;
const FULFILLED = 1;
const REJECTED = 2;
const STATE_BITS = 3;
const RETRY_SHIFT = 2;

let nextId = 1;

/** Allocates task ids: unique per process, increasing. */
export function nextTaskId(): number {
  const id = nextId;
  nextId = nextId === 0xffffffff ? 1 : nextId + 1;
  return id;
}

/*
 * The resolving function of a mirai's promise is caught by this one shared executor (no
 * closure per task) and picked up right after `super()`. Only `resolve` is kept: a mirai
 * rejects by resolving with a thenable that rejects, which saves a function per pending mirai.
 */
let caughtResolve: ((value: unknown) => void) | undefined;
function catchResolve(resolve: (value: unknown) => void): void {
  caughtResolve = resolve;
}

const IGNORE = (): void => {};

/** A thenable that rejects with `error`: how a mirai rejects through its one resolving function. */
class Rejecting {
  constructor(private readonly error: unknown) {}
  then(_: unknown, reject: (error: unknown) => void): void {
    reject(this.error);
  }
}

/**
 * The result of `mirai()`: a native promise of the task's value, so `await m`, `Promise.all`
 * and `.then()` take V8's own fast paths. It rejects with a {@link MiraiError}; `m.data` never
 * blocks and holds the value, the error, or {@link UNRESOLVED}. The host settles it through
 * {@link TaskOutcome}.
 *
 * A mirai that fails while nobody awaits it is not an unhandled rejection (fire-and-forget
 * tasks, a map's elements, one read through `m.data`); promises made from it by `.then()`
 * are reported as usual.
 */
export class Mirai<T = unknown> extends Promise<T> implements TaskOutcome {
  /** Task id, increasing per process (as in `status()`). */
  readonly id: number;
  /** The compute profile the task was sent to. */
  readonly profile: string;
  #stateAndRetries = PENDING;
  /**
   * While pending, the function that settles the promise; once settled, the value or the
   * error. Never both at once, so one field (a settled mirai holds no function).
   */
  #resolveOrValue: unknown;
  /** What stops the task (the host's handle on it): kept instead of a closure per task. */
  #submitted: Submitted | undefined;
  #listeners: (() => void)[] | undefined;

  /** @internal Made by `mirai()`. */
  constructor(id: number, profile: string) {
    super(catchResolve as (resolve: (value: T | PromiseLike<T>) => void) => void);
    this.#resolveOrValue = caughtResolve;
    caughtResolve = undefined;
    // Promise's statics (`Mirai.resolve()`, `Mirai.all()`) would build a mirai from an executor.
    if (typeof id !== 'number') throw new ConfigError('a Mirai is made by mirai(), not by new Mirai() or Promise statics; use Promise.resolve(), Promise.all()');
    this.id = id;
    this.profile = profile;
  }

  /** The value, the error (a {@link MiraiError}), or {@link UNRESOLVED} while pending. Never blocks. */
  get data(): T | MiraiError | Unresolved {
    return this.unresolved ? UNRESOLVED : (this.#resolveOrValue as T | MiraiError);
  }

  /**
   * How many times the task was run again because the daemon running it was lost (with
   * `retry`); 0 if it ran once.
   */
  get retries(): number {
    return this.#stateAndRetries >>> RETRY_SHIFT;
  }

  /** True while the task has not settled. */
  get unresolved(): boolean {
    return (this.#stateAndRetries & STATE_BITS) === PENDING;
  }

  /** The value if fulfilled; `undefined` otherwise. */
  get value(): T | undefined {
    return (this.#stateAndRetries & STATE_BITS) === FULFILLED ? (this.#resolveOrValue as T) : undefined;
  }

  /** The error if rejected; `undefined` otherwise. */
  get error(): MiraiError | undefined {
    return (this.#stateAndRetries & STATE_BITS) === REJECTED ? (this.#resolveOrValue as MiraiError) : undefined;
  }

  /**
   * Cancels the task: queued, it never runs; running, it is stopped. The mirai settles at once
   * with a CancelledError (errorValue 20). Returns false if it had already settled.
   */
  cancel(reason?: unknown): boolean {
    if (!this.unresolved || this.#submitted === undefined) return false;
    this.#submitted.cancel(new CancelledError(reason));
    return true;
  }

  /** The mirai itself, typed as a plain promise (it is a native one). */
  promise(): Promise<T> {
    return this;
  }

  /** @internal Set by whoever runs the task. */
  _setCanceller(submitted: Submitted): void {
    this.#submitted = submitted;
  }

  /** @internal Calls `listener` once the mirai settles (at once if it has). */
  _onSettled(listener: () => void): void {
    if (!this.unresolved) listener();
    else (this.#listeners ??= []).push(listener);
  }

  /** @internal Stops calling `listener` (given to {@link _onSettled}) once the mirai settles. */
  _offSettled(listener: () => void): void {
    const listeners = this.#listeners;
    const i = listeners === undefined ? -1 : listeners.indexOf(listener);
    if (i >= 0) listeners!.splice(i, 1);
  }

  /** @internal */
  _retried(): void {
    this.#stateAndRetries += 1 << RETRY_SHIFT;
  }

  /** @internal */
  _fulfil(value: unknown): void {
    if (!this.unresolved) return;
    const resolve = this.#resolveOrValue as (value: unknown) => void;
    this.#stateAndRetries |= FULFILLED;
    this.#resolveOrValue = value;
    this.#submitted = undefined;
    resolve(value);
    this.#notify();
  }

  /** @internal */
  _reject(error: MiraiError): void {
    if (!this.unresolved) return;
    const resolve = this.#resolveOrValue as (value: unknown) => void;
    this.#stateAndRetries |= REJECTED;
    this.#resolveOrValue = error;
    this.#submitted = undefined;
    // Handled from the start: nobody need await a mirai (see the class comment).
    super.then(undefined, IGNORE);
    resolve(new Rejecting(error));
    this.#notify();
  }

  #notify(): void {
    const listeners = this.#listeners;
    if (listeners === undefined) return;
    this.#listeners = undefined;
    for (const l of listeners) l();
  }

  override get [Symbol.toStringTag](): string {
    return 'Mirai';
  }

  [inspect.custom](depth: number, options: { stylize: (s: string, style: string) => string; depth?: number | null }, ins: typeof inspect): string {
    if (this.unresolved) return `Mirai #${this.id} ${options.stylize('<pending>', 'special')}`;
    const shown = ins(this.#resolveOrValue, { ...options, depth: options.depth === null ? null : depth - 1 } as never);
    return (this.#stateAndRetries & STATE_BITS) === FULFILLED ? `Mirai #${this.id} { ${shown} }` : `Mirai #${this.id} <rejected> ${shown}`;
  }
}

/** A mirai rejects only with a {@link MiraiError}: `.then()` and `.catch()` say so in their types. */
export interface Mirai<T> {
  then<R1 = T, R2 = never>(
    onFulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onRejected?: ((reason: MiraiError) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2>;
  catch<R = never>(onRejected?: ((reason: MiraiError) => R | PromiseLike<R>) | null): Promise<T | R>;
}

/*
 * `await m` and `Promise.all` take a promise as it is only when its `constructor` is `Promise`
 * itself; anything else is treated as a foreign thenable and wrapped (a promise and a job more
 * per mirai). With this, `.then()` also makes plain promises, not mirai.
 */
Object.defineProperty(Mirai.prototype, 'constructor', { value: Promise, writable: true, configurable: true });
/** Resolves (never rejects) once `m` has settled, either way. */
export function whenSettled(m: Mirai<unknown>): Promise<void> {
  return new Promise((resolve) => m._onSettled(resolve));
}

/**
 * Resolves once every mirai of `list` has settled: one promise and one shared callback for the
 * whole list, not a promise per element (a map of 10 000 collects at this cost).
 */
export function allSettled(list: readonly Mirai<unknown>[]): Promise<void> {
  let pending = list.length;
  if (pending === 0) return Promise.resolve();
  return new Promise((resolve) => {
    const one = (): void => {
      if (--pending === 0) resolve();
    };
    for (const m of list) m._onSettled(one);
  });
}

/** True if `m` is a {@link Mirai}. */
export function isMirai(value: unknown): value is Mirai {
  return value instanceof Mirai;
}
