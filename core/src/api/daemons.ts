/**
 * `daemons()`: set up (or reset) a compute profile's pool of daemons.
 */
import { ConfigError, LaunchError } from '../errors.js';
import { checkCount, show } from '../options-check.js';
import type { ComputePool } from '../host/compute-pool.js';
import { DaemonPool } from '../host/pool.js';
import { defaultLog } from '../host/log.js';
import { checkProfileOptions, resolveProfileOptions, type DaemonsOptions } from '../host/profile-options.js';
import { pools } from '../host/registry.js';
import { SyncPool } from '../host/sync-pool.js';
import { currentPool, currentProfileName, inMapTask } from './profile-scope.js';
import { localUrl } from './urls.js';
import { active, channels, publish } from '../events.js';

/** A running profile. `await using` it, or `close()` it, to reset. */
export interface DaemonsHandle extends AsyncDisposable {
  readonly profile: string;
  /** The URL daemons dial. */
  readonly url: string;
  /** Daemons connected now. */
  readonly connections: number;
  /** Resets the profile: daemons exit, pending tasks settle with a connection reset. */
  close(): Promise<void>;
}

/**
 * Sets up a profile's daemons, resetting any it had.
 *
 * - `daemons(n)`: `n` local daemons; resolves once all have connected.
 * - `daemons(n, { url, launcher })`: listen at `url` and start `n` daemons with `launcher`.
 * - `daemons({ url })`: listen only, for daemons started elsewhere.
 * - `daemons({ launcher, autoscale: { min, max, idle } })`: daemons with the backlog, `min`
 *   to `max` (see docs/autoscaling.md); resolves once `min` have connected.
 * - `daemons({ sync: true })`: run tasks in this process.
 * - `daemons(0)`: reset; pending tasks settle with connection reset (19), daemons this host
 *   launched exit, others lose the connection (`autoexit: false` ones wait for the next host);
 *   `daemons(0, { terminate: true })` tells every connected daemon to exit.
 * - `daemons(null)`: mirai's `daemons(NULL)`, a reset that tells every connected daemon to exit.
 *
 * `n` must be a number: `daemons()` and `daemons(undefined)` throw a ConfigError (say `daemons(0)`
 * to reset), and so does a string such as `process.env.WORKERS` (convert it first). At most
 * 10 000 daemons per call. Every option is checked; an unknown key is refused.
 */
export async function daemons(n: 0 | null, options?: { readonly profile?: string; readonly terminate?: boolean }): Promise<void>;
export async function daemons(n: number, options?: DaemonsOptions): Promise<DaemonsHandle>;
export async function daemons(options: DaemonsOptions): Promise<DaemonsHandle>;
export async function daemons(...call: unknown[]): Promise<DaemonsHandle | void> {
  const [first, second] = call;
  if (first === undefined) {
    throw new ConfigError(
      `daemons(n): n is missing (got ${call.length === 0 ? 'no arguments' : 'undefined'}, an unset process.env variable?); ` +
        'call daemons(n) to start n daemons, daemons({ url }) to listen, or daemons(0) to reset',
    );
  }
  const reset = first === null;
  const listenOnly = typeof first === 'object' && first !== null && !Array.isArray(first) && !ArrayBuffer.isView(first);
  const n = reset || listenOnly ? 0 : checkCount('daemons(n)', first, 0);
  const options = ((listenOnly ? first : second) ?? {}) as DaemonsOptions;
  if (listenOnly && second !== undefined) throw new ConfigError(`daemons(options) takes one argument; got a second: ${show(second)}`);
  if (reset && options.terminate === false) {
    throw new ConfigError(`daemons(null) tells every daemon to exit, so terminate: false contradicts it; say daemons(0) for a reset that leaves other hosts' daemons waiting`);
  }
  checkProfileOptions(options);
  const localLaunch = n > 0 && options.launcher === undefined && options.remote === undefined && options.sync !== true;
  if (localLaunch && inMapTask()) {
    // mirai's guard: every element of the map would start n processes, and so on down.
    throw new ConfigError(
      `daemons(${n}) cannot launch local daemons from inside a miraiMap() task (each element would start ${n} processes); ` +
        'for a nested map, listen with daemons({ url: localUrl() }) and start them with launchLocal(n)',
    );
  }
  // Refused before the reset below: a call that is refused leaves the running profile as it was.
  if (options.autoscale !== undefined && !listenOnly) {
    throw new ConfigError(`daemons(n, { autoscale }): give the number of daemons as autoscale.min/max, not n: daemons({ autoscale: { min, max } })`);
  }
  const name = currentProfileName(options.profile);
  const starting = !(n === 0 && !listenOnly);
  // Every check of the settings, before the reset: a call that is refused leaves the running
  // profile as it was (only listening, which needs the old profile's URL free, comes after).
  const settings = starting && !options.sync ? DaemonPool.check(resolveProfileOptions(name, options, () => localUrl())) : undefined;
  const turn = (calls.get(name) ?? 0) + 1;
  calls.set(name, turn);
  await resetProfile(name, reset || options.terminate === true);
  if (!starting) return;

  if (settings === undefined) {
    const sync = new SyncPool(name, options.serializers ?? [], options.log ?? defaultLog, options.seed);
    await install(name, sync, turn);
    if (active(channels.profileSet)) publish(channels.profileSet, { profile: name, url: 'sync://', n: 0 });
    return handleFor(name, sync, 'sync://');
  }
  const pool = await DaemonPool.open(settings);
  await install(name, pool, turn);
  if (active(channels.profileSet)) publish(channels.profileSet, { profile: name, url: pool.url, n });
  try {
    await pool.launchFirst(n === 0 && options.autoscale !== undefined ? (options.autoscale.min ?? 0) : n);
    pool.startAutoscaling();
  } catch (err) {
    // A failed launch rolls the profile back, as in mirai (unless a later call has replaced it).
    if (pools.get(name) === pool) pools.delete(name);
    await pool.close(`launch failed: ${(err as Error).message}`);
    throw err instanceof LaunchError ? err : new LaunchError(`profile '${name}': launch failed: ${(err as Error).message}`, err);
  }
  return handleFor(name, pool, pool.url);
}

/** daemons() calls made so far per profile: of calls under way together, the last one made wins. */
const calls = new Map<string, number>();

/**
 * Makes `pool` the profile's, unless a later daemons() call for the profile was made while this
 * one opened it (then this call lost: its pool is closed, and it fails). A pool an earlier call
 * installed meanwhile (after this call's reset) is reset: nothing is left listening or running
 * that no profile holds.
 */
async function install(name: string, pool: ComputePool, turn: number): Promise<void> {
  if (calls.get(name) !== turn) {
    await pool.close(`a later daemons() call for profile '${name}' replaced this one`);
    throw new LaunchError(`profile '${name}': a later daemons() call for this profile was made while this one started; that one holds the profile`);
  }
  const previous = pools.get(name);
  pools.set(name, pool);
  if (previous !== undefined) await previous.close(`profile '${name}' was replaced by a later daemons() call`);
}

/**
 * Resolves once the profile's queue is below its limits (`maxQueued`, `maxQueuedBytes`): for
 * producers that must not outrun their daemons.
 */
export async function queueRoom(profile?: string): Promise<void> {
  await currentPool(profile).room();
}

/** Resets under way, per profile: a reset or close() made meanwhile resolves when it is done. */
const resetting = new Map<string, { readonly pool: ComputePool; readonly done: Promise<void> }>();

async function resetProfile(name: string, terminate = false): Promise<void> {
  const existing = pools.get(name);
  if (existing === undefined) return resetting.get(name)?.done;
  pools.delete(name);
  const reset = { pool: existing, done: existing.close(undefined, terminate) };
  resetting.set(name, reset);
  try {
    await reset.done;
  } finally {
    if (resetting.get(name) === reset) resetting.delete(name);
  }
}

function handleFor(name: string, pool: ComputePool, url: string): DaemonsHandle {
  const close = async (): Promise<void> => {
    // Only reset the profile this handle made, not a later one with the same name; if its
    // reset is under way, resolve when that is done.
    if (pools.get(name) === pool) await resetProfile(name);
    else if (resetting.get(name)?.pool === pool) await resetting.get(name)!.done;
  };
  return {
    profile: name,
    url,
    get connections() {
      return pool.status().connections;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
