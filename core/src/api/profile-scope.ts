/** Which compute profile is current (per async context), and whether one is set. */
import { AsyncLocalStorage } from 'node:async_hooks';
import { ConfigError, NoDaemonsError } from '../errors.js';
import { show } from '../options-check.js';
import type { ComputePool } from '../host/compute-pool.js';
import { pools } from '../host/registry.js';

export const DEFAULT_PROFILE = 'default';

const scope = new AsyncLocalStorage<string>();

/**
 * The profile a call without `profile` uses: the one set by `withDaemons()`, else `'default'`.
 * A given name must be a non-empty string (`status(5)` answered as for a profile never set).
 */
export function currentProfileName(explicit?: string): string {
  if (explicit !== undefined && (typeof explicit !== 'string' || explicit === '')) {
    throw new ConfigError(`profile must be a non-empty string (a profile's name), got ${show(explicit)}`);
  }
  return explicit ?? scope.getStore() ?? DEFAULT_PROFILE;
}

/** Runs `fn` with `profile` as the default for every call inside it, across awaits. */
export function withDaemons<T>(profile: string, fn: () => T): T {
  const name = currentProfileName(profile ?? '');
  if (typeof fn !== 'function') throw new ConfigError(`withDaemons(profile, fn): fn must be a function, got ${show(fn)}`);
  if (!pools.has(name)) throw new NoDaemonsError(name);
  return scope.run(name, fn);
}

/** Whether daemons are set for `profile` (default: the current one). */
export function daemonsSet(profile?: string): boolean {
  return pools.has(currentProfileName(profile));
}

/** Throws a {@link NoDaemonsError} that says how to start daemons, unless some are set. */
export function requireDaemons(profile?: string): void {
  const name = currentProfileName(profile);
  if (!pools.has(name)) throw new NoDaemonsError(name);
}

/** The pool of `profile` (default: the current one), or a {@link NoDaemonsError} that says how to start daemons. */
export function currentPool(profile?: string): ComputePool {
  const name = currentProfileName(profile);
  const pool = pools.get(name);
  if (pool === undefined) throw new NoDaemonsError(name);
  return pool;
}

/** True when the calling code runs in a task on a daemon. */
export function onDaemon(): boolean {
  return (globalThis as Record<symbol, unknown>)[Symbol.for('mirai-ts.daemon')] !== undefined;
}

/** True when the calling code runs in a `miraiMap()` task on a daemon (see daemon/loop.ts). */
export function inMapTask(): boolean {
  const mark = (globalThis as Record<symbol, { inMap?: boolean } | undefined>)[Symbol.for('mirai-ts.daemon')];
  return mark?.inMap === true;
}
