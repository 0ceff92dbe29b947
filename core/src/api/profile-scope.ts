/** The registry of compute profiles, and which one is current (per async context). */
import { AsyncLocalStorage } from 'node:async_hooks';
import { NoDaemonsError } from '../errors.js';
import type { Profile } from '../host/pool.js';
import type { SyncProfile } from '../host/sync-pool.js';

export const DEFAULT_PROFILE = 'default';

/** Profiles by name. */
export const profiles = new Map<string, Profile | SyncProfile>();

const scope = new AsyncLocalStorage<string>();

/** The profile a call without `profile` uses: the one set by `withDaemons()`, else `'default'`. */
export function currentProfileName(explicit?: string): string {
  return explicit ?? scope.getStore() ?? DEFAULT_PROFILE;
}

/** Runs `fn` with `profile` as the default for every call inside it, across awaits. */
export function withDaemons<T>(profile: string, fn: () => T): T {
  if (!profiles.has(profile)) throw new NoDaemonsError(profile);
  return scope.run(profile, fn);
}

/** Whether daemons are set for `profile` (default: the current one). */
export function daemonsSet(profile?: string): boolean {
  return profiles.has(currentProfileName(profile));
}

/** Throws a {@link NoDaemonsError} that says how to start daemons, unless some are set. */
export function requireDaemons(profile?: string): void {
  const name = currentProfileName(profile);
  if (!profiles.has(name)) throw new NoDaemonsError(name);
}

/** True when the calling code runs in a task on a daemon. */
export function onDaemon(): boolean {
  return (globalThis as Record<symbol, unknown>)[Symbol.for('mirai-ts.daemon')] !== undefined;
}
