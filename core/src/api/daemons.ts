/**
 * `daemons()`: set up (or reset) a compute profile's pool of daemons.
 */
import type { DaemonOptions } from '../wire/daemon-args.js';
import { ConfigError, LaunchError, NoDaemonsError } from '../errors.js';
import type { Launcher } from '../launcher.js';
import { localLauncher } from '../launchers/local.js';
import { defaultLog, Profile, type LogFunction } from '../host/pool.js';
import { currentProfileName, profiles } from './profile-scope.js';
import type { Serializer } from '../serializer.js';
import { SyncProfile } from '../host/sync-pool.js';
import type { Json, Transport } from '../transport.js';
import { localUrl } from './urls.js';

/** Options of {@link daemons}. */
export interface DaemonsOptions extends DaemonOptions {
  /** Profile name (default: the current one, normally `'default'`). */
  readonly profile?: string;
  /** Where to listen: default a private local IPC socket; `tcp://127.0.0.1:0` works too. */
  readonly url?: string;
  /** FIFO dispatcher with one task per daemon (default true), or direct round-robin (false). */
  readonly dispatcher?: boolean;
  /** Run tasks in this process, for debugging. */
  readonly sync?: boolean;
  /** Serializer plugins for this profile. */
  readonly serializers?: readonly Serializer[];
  /** Transport plugins for this profile (the URL's scheme picks one). */
  readonly transports?: readonly Transport[];
  /** One transport plugin: `{ url: 'nats://…/scope', transport: natsTransport() }`. Added to `transports`. */
  readonly transport?: Transport;
  /** What starts the `n` daemons (default: local child processes). */
  readonly launcher?: Launcher;
  /** Same as `launcher`, mirai's name for it: `daemons(2, { url, remote: sshConfig(...) })`. */
  readonly remote?: Launcher;
  /** The profile's secret (default: a fresh random one). Daemons must prove it. */
  readonly secret?: string;
  /** Host-side log lines (refused connections, disconnects). Default: warnings to stderr. */
  readonly log?: LogFunction;
  /** How long launched daemons may take to connect (default 30 s). */
  readonly launchTimeout?: number;
  /** How long a connection may take to prove the secret (default 10 s). */
  readonly handshakeTimeout?: number;
  /**
   * How long a cancelled running task may take to stop (default 150 ms). A daemon still busy
   * after that (a synchronous loop cannot hear the cancel) is ended and replaced.
   */
  readonly cancelGrace?: number;
  /**
   * Bound the host-side queue (default: unbounded): `mirai()` then throws a QueueFullError
   * instead of queueing; `await queueRoom()` waits until there is room.
   */
  readonly maxQueued?: number;
  /** Bound the bytes of queued task frames (executing tasks are not counted). */
  readonly maxQueuedBytes?: number;
  /**
   * Keep the pool at its size: a daemon this host launched that is lost (it crashed, was
   * killed, its machine went away) is replaced from the same launcher, at most 5 times per
   * 10 s. Daemons that leave by a limit (idletime, walltime, maxtasks) are not replaced.
   */
  readonly repair?: boolean;
  /** Transport options for listening (TLS credentials, ...). */
  readonly listenOptions?: Record<string, unknown>;
  /** Transport options daemons dial with; they travel in launch commands. */
  readonly dialOptions?: { readonly [key: string]: Json };
  /** With `daemons(0)`: tell every connected daemon to exit, not only those this host launched. */
  readonly terminate?: boolean;
}

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
    const sync = new SyncProfile(name, options.serializers ?? []);
    profiles.set(name, sync);
    return handleFor(name, 'sync://', () => 0);
  }
  checkDaemonOptions(options);
  const profile = await Profile.open({
    name,
    url: options.url ?? localUrl(),
    dispatcher: options.dispatcher ?? true,
    daemonOptions: pickDaemonOptions(options),
    serializers: options.serializers ?? [],
    transports: options.transport ? [options.transport, ...(options.transports ?? [])] : (options.transports ?? []),
    launcher: options.launcher ?? options.remote ?? localLauncher(),
    ...(options.secret !== undefined ? { secret: options.secret } : {}),
    log: options.log ?? defaultLog,
    launchTimeoutMs: options.launchTimeout ?? 30_000,
    handshakeTimeoutMs: options.handshakeTimeout ?? 10_000,
    cancelGraceMs: options.cancelGrace ?? 150,
    repair: options.repair === true,
    maxQueued: positiveOrInfinity(options.maxQueued, 'maxQueued'),
    maxQueuedBytes: positiveOrInfinity(options.maxQueuedBytes, 'maxQueuedBytes'),
    ...(options.listenOptions ? { listenOptions: options.listenOptions } : {}),
    ...(options.dialOptions ? { dialOptions: options.dialOptions } : {}),
  });
  profiles.set(name, profile);
  try {
    await profile.launch(n);
  } catch (err) {
    // A failed launch rolls the profile back, as in mirai.
    profiles.delete(name);
    await profile.close(`launch failed: ${(err as Error).message}`);
    throw err instanceof LaunchError ? err : new LaunchError(`profile '${name}': launch failed: ${(err as Error).message}`, err);
  }
  return handleFor(name, profile.url, () => profile.counters().connections);
}

/**
 * Starts `n` more local daemons for a running profile (to add capacity, or to replace
 * daemons that left); resolves once they have connected. `options` replace the profile's
 * daemon options for these daemons only.
 */
export async function launchLocal(n = 1, options: DaemonOptions & { readonly profile?: string } = {}): Promise<void> {
  const name = currentProfileName(options.profile);
  const profile = profiles.get(name);
  if (profile === undefined) throw new NoDaemonsError(name);
  if (profile instanceof SyncProfile) throw new ConfigError(`profile '${name}' is in sync mode: it has no daemons to launch`);
  checkDaemonOptions(options);
  const { profile: _ignored, ...rest } = options;
  const daemonOptions = Object.keys(rest).length > 0 ? { ...profile.config.daemonOptions, ...rest } : undefined;
  await profile.launch(n, localLauncher(), daemonOptions);
}

async function resetProfile(name: string, terminate = false): Promise<void> {
  const existing = profiles.get(name);
  if (existing === undefined) return;
  profiles.delete(name);
  if (existing instanceof SyncProfile) await existing.close();
  else await existing.close(undefined, terminate);
}

function handleFor(name: string, url: string, connections: () => number): DaemonsHandle {
  const owner = profiles.get(name);
  const close = async (): Promise<void> => {
    // Only reset the profile this handle made, not a later one with the same name.
    if (profiles.get(name) === owner) await resetProfile(name);
  };
  return {
    profile: name,
    url,
    get connections() {
      return connections();
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

function pickDaemonOptions(options: DaemonOptions): DaemonOptions {
  const { autoexit, cleanup, output, idletime, walltime, maxtasks } = options;
  return Object.fromEntries(
    Object.entries({ autoexit, cleanup, output, idletime, walltime, maxtasks }).filter(([, v]) => v !== undefined),
  ) as DaemonOptions;
}

function positiveOrInfinity(value: number | undefined, name: string): number {
  if (value === undefined) return Infinity;
  if (!(typeof value === 'number' && value > 0)) throw new ConfigError(`${name} must be a positive number, got ${JSON.stringify(value)}`);
  return value;
}

/**
 * Resolves once the profile's queue is below its limits (`maxQueued`, `maxQueuedBytes`): for
 * producers that must not outrun their daemons.
 */
export async function queueRoom(profile?: string): Promise<void> {
  const name = currentProfileName(profile);
  const p = profiles.get(name);
  if (p === undefined) throw new NoDaemonsError(name);
  if (p instanceof SyncProfile) return;
  await p.dispatcher.room();
}

/** Validates daemon options instead of dropping bad ones silently (a mirai gotcha). */
function checkDaemonOptions(options: DaemonOptions): void {
  const { autoexit, cleanup, output } = options;
  if (autoexit !== undefined && autoexit !== true && autoexit !== false && autoexit !== 'finish') {
    throw new ConfigError(`autoexit must be true, false or 'finish', got ${JSON.stringify(autoexit)}`);
  }
  if (cleanup !== undefined && typeof cleanup !== 'boolean') throw new ConfigError(`cleanup must be a boolean`);
  if (output !== undefined && typeof output !== 'boolean') throw new ConfigError(`output must be a boolean`);
  for (const key of ['idletime', 'walltime', 'maxtasks'] as const) {
    const value = options[key];
    if (value !== undefined && !(typeof value === 'number' && value > 0)) {
      throw new ConfigError(`${key} must be a positive number (ms for times, a count for maxtasks), got ${JSON.stringify(value)}`);
    }
  }
  if (options.maxtasks !== undefined && !Number.isInteger(options.maxtasks) && Number.isFinite(options.maxtasks)) {
    throw new ConfigError(`maxtasks must be a whole number, got ${options.maxtasks}`);
  }
}
