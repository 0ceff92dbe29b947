/**
 * A {@link Mirai}: the future result of a task. Awaitable, checkable without blocking, never lost.
 */
import { inspect } from 'node:util';
import { CancelledError, type MiraiError } from '../errors.js';
import type { Submitted } from '../host/compute-pool.js';
import type { TaskOutcome } from '../host/host-task.js';

/** The value of `m.data` while a mirai is pending. Test with {@link unresolved}, not by identity. */
export const UNRESOLVED: unique symbol = Symbol.for('mirai-ts.unresolved');
export type Unresolved = typeof UNRESOLVED;

const enum State {
  Pending,
  Fulfilled,
  Rejected,
}

let nextId = 1;

/** Allocates task ids: unique per process, increasing. */
export function nextTaskId(): number {
  const id = nextId;
  nextId = nextId === 0xffffffff ? 1 : nextId + 1;
  return id;
}

/*
 * The settling functions of a mirai's promise are caught by this one shared executor (no
 * closure per task) and picked up right after `new Promise()`.
 */
const NO_SETTLER = (): void => {};
let caughtResolve: (value: unknown) => void = NO_SETTLER;
let caughtReject: (error: unknown) => void = NO_SETTLER;
function catchSettlers(resolve: (value: unknown) => void, reject: (error: unknown) => void): void {
  caughtResolve = resolve;
  caughtReject = reject;
}

/**
 * The result of `mirai()`; the host settles it through {@link TaskOutcome}. `await m` gives the value or rejects with a {@link MiraiError};
 * `m.data` never blocks and holds the value, the error, or {@link UNRESOLVED}.
 */
export class Mirai<T = unknown> implements PromiseLike<T>, TaskOutcome {
  /** Task id, increasing per process (as in `status()`). */
  readonly id: number;
  /** The compute profile the task was sent to. */
  readonly profile: string;
  #state = State.Pending;
  #value: unknown = UNRESOLVED;
  #promise: Promise<T> | undefined;
  #resolve: ((value: unknown) => void) | undefined;
  #reject: ((error: unknown) => void) | undefined;
  /** What stops the task (the host's handle on it): kept instead of a closure per task. */
  #submitted: Submitted | undefined;
  #listeners: (() => void)[] | undefined;
  #retries = 0;

  /** @internal Made by `mirai()`. */
  constructor(id: number, profile: string) {
    this.id = id;
    this.profile = profile;
  }

  /** The value, the error (a {@link MiraiError}), or {@link UNRESOLVED} while pending. Never blocks. */
  get data(): T | MiraiError | Unresolved {
    return this.#value as T | MiraiError | Unresolved;
  }

  /**
   * How many times the task was run again because the daemon running it was lost (with
   * `retry`); 0 if it ran once.
   */
  get retries(): number {
    return this.#retries;
  }

  /** True while the task has not settled. */
  get unresolved(): boolean {
    return this.#state === State.Pending;
  }

  /** The value if fulfilled; `undefined` otherwise. */
  get value(): T | undefined {
    return this.#state === State.Fulfilled ? (this.#value as T) : undefined;
  }

  /** The error if rejected; `undefined` otherwise. */
  get error(): MiraiError | undefined {
    return this.#state === State.Rejected ? (this.#value as MiraiError) : undefined;
  }

  then<R1 = T, R2 = never>(
    onFulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onRejected?: ((reason: MiraiError) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    return this.promise().then(onFulfilled, onRejected);
  }

  catch<R = never>(onRejected?: ((reason: MiraiError) => R | PromiseLike<R>) | null): Promise<T | R> {
    return this.promise().catch(onRejected);
  }

  finally(onFinally?: (() => void) | null): Promise<T> {
    return this.promise().finally(onFinally);
  }

  /**
   * Cancels the task: queued, it never runs; running, it is stopped. The mirai settles at once
   * with a CancelledError (errorValue 20). Returns false if it had already settled.
   */
  cancel(reason?: unknown): boolean {
    if (this.#state !== State.Pending || this.#submitted === undefined) return false;
    this.#submitted.cancel(new CancelledError(reason));
    return true;
  }

  /**
   * A native promise of the result, made on first use: a mirai nobody awaits (a map's elements,
   * one read through `m.data`) costs no promise, and its failure is no unhandled rejection.
   */
  promise(): Promise<T> {
    if (this.#promise === undefined) {
      if (this.#state === State.Fulfilled) this.#promise = Promise.resolve(this.#value as T);
      else if (this.#state === State.Rejected) this.#promise = Promise.reject(this.#value);
      else {
        this.#promise = new Promise<T>(catchSettlers as (resolve: (value: T) => void, reject: (error: unknown) => void) => void);
        this.#resolve = caughtResolve;
        this.#reject = caughtReject;
        // Not kept here: they hold this promise, and through it the task's value once settled
        // (the last result awaited would stay alive until the next mirai is awaited).
        caughtResolve = caughtReject = NO_SETTLER;
      }
    }
    return this.#promise;
  }

  /** @internal Set by whoever runs the task. */
  _setCanceller(submitted: Submitted): void {
    this.#submitted = submitted;
  }

  /** @internal Calls `listener` once the mirai settles (at once if it has). */
  _onSettled(listener: () => void): void {
    if (this.#state !== State.Pending) listener();
    else (this.#listeners ??= []).push(listener);
  }

  /** @internal */
  _retried(): void {
    this.#retries++;
  }

  /** @internal */
  _fulfil(value: unknown): void {
    if (this.#state !== State.Pending) return;
    this.#state = State.Fulfilled;
    this.#value = value;
    this.#submitted = undefined;
    this.#resolve?.(value);
    this.#notify();
  }

  /** @internal */
  _reject(error: MiraiError): void {
    if (this.#state !== State.Pending) return;
    this.#state = State.Rejected;
    this.#value = error;
    this.#submitted = undefined;
    this.#reject?.(error);
    this.#notify();
  }

  #notify(): void {
    const listeners = this.#listeners;
    if (listeners === undefined) return;
    this.#listeners = undefined;
    for (const l of listeners) l();
  }

  get [Symbol.toStringTag](): string {
    return 'Mirai';
  }

  [inspect.custom](depth: number, options: { stylize: (s: string, style: string) => string; depth?: number | null }, ins: typeof inspect): string {
    if (this.#state === State.Pending) return `Mirai #${this.id} ${options.stylize('<pending>', 'special')}`;
    const shown = ins(this.#value, { ...options, depth: options.depth === null ? null : depth - 1 } as never);
    return this.#state === State.Fulfilled ? `Mirai #${this.id} { ${shown} }` : `Mirai #${this.id} <rejected> ${shown}`;
  }
}

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
