/**
 * `daemons()`: set up (or reset) a compute profile's pool of daemons.
 */
import { ConfigError, LaunchError } from '../errors.js';
import type { ComputePool } from '../host/compute-pool.js';
import { DaemonPool } from '../host/pool.js';
import { defaultLog, resolveProfileOptions, type DaemonsOptions } from '../host/profile-options.js';
import { pools } from '../host/registry.js';
import { SyncPool } from '../host/sync-pool.js';
import { currentPool, currentProfileName } from './profile-scope.js';
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
 * - `daemons({ sync: true })`: run tasks in this process.
 * - `daemons(0)`: reset; pending tasks settle with connection reset (19), daemons this host
 *   launched exit, others lose the connection (`autoexit: false` ones wait for the next host);
 *   `daemons(0, { terminate: true })` tells every connected daemon to exit.
 */
export async function daemons(n: 0, options?: { readonly profile?: string; readonly terminate?: boolean }): Promise<void>;
export async function daemons(n: number, options?: DaemonsOptions): Promise<DaemonsHandle>;
export async function daemons(options: DaemonsOptions): Promise<DaemonsHandle>;
export async function daemons(
  nOrOptions: number | DaemonsOptions,
  maybeOptions: DaemonsOptions = {},
): Promise<DaemonsHandle | void> {
  const n = typeof nOrOptions === 'number' ? nOrOptions : 0;
  const options = typeof nOrOptions === 'number' ? maybeOptions : nOrOptions;
  if (!Number.isInteger(n) || n < 0) throw new ConfigError(`daemons(n): n must be a whole number ≥ 0, got ${String(nOrOptions)}`);
  const name = currentProfileName(options.profile);
  await resetProfile(name, options.terminate === true);
  const listenOnly = typeof nOrOptions !== 'number';
  if (n === 0 && !listenOnly) return;

  if (options.sync) {
    const sync = new SyncPool(name, options.serializers ?? [], options.log ?? defaultLog);
    pools.set(name, sync);
    if (active(channels.profileSet)) publish(channels.profileSet, { profile: name, url: 'sync://', n: 0 });
    return handleFor(name, sync, 'sync://');
  }
  const pool = await DaemonPool.open(resolveProfileOptions(name, options, () => localUrl()));
  pools.set(name, pool);
  if (active(channels.profileSet)) publish(channels.profileSet, { profile: name, url: pool.url, n });
  try {
    await pool.launch(n);
  } catch (err) {
    // A failed launch rolls the profile back, as in mirai.
    pools.delete(name);
    await pool.close(`launch failed: ${(err as Error).message}`);
    throw err instanceof LaunchError ? err : new LaunchError(`profile '${name}': launch failed: ${(err as Error).message}`, err);
  }
  return handleFor(name, pool, pool.url);
}

/**
 * Resolves once the profile's queue is below its limits (`maxQueued`, `maxQueuedBytes`): for
 * producers that must not outrun their daemons.
 */
export async function queueRoom(profile?: string): Promise<void> {
  await currentPool(profile).room();
}

async function resetProfile(name: string, terminate = false): Promise<void> {
  const existing = pools.get(name);
  if (existing === undefined) return;
  pools.delete(name);
  await existing.close(undefined, terminate);
}

function handleFor(name: string, pool: ComputePool, url: string): DaemonsHandle {
  const close = async (): Promise<void> => {
    // Only reset the profile this handle made, not a later one with the same name.
    if (pools.get(name) === pool) await resetProfile(name);
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
