/**
 * A profile's options: declared once ({@link DaemonsOptions}, what users pass to `daemons()`),
 * checked and completed with every default in one place ({@link resolveProfileOptions}).
 */
import { ConfigError } from '../errors.js';
import type { Launcher } from '../launcher.js';
import { localLauncher } from '../launchers/local.js';
import type { Serializer } from '../serializer.js';
import type { Json, PluginRef, Transport } from '../transport.js';
import type { DaemonOptions } from '../wire/daemon-args.js';

/** A log line from the host side of a profile. */
export type LogFunction = (level: 'info' | 'warn', message: string) => void;

/** The default log: warnings to stderr. */
export const defaultLog: LogFunction = (level, message) => {
  if (level === 'warn') process.stderr.write(`[mirai-ts] ${message}\n`);
};

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
   * Keep the pool at its size (default true): a daemon this host launched that is lost (it
   * crashed, was killed, its machine went away) is replaced from the same launcher. A
   * replacement that fails to start is tried again with a capped backoff (0.25 s doubling to
   * 30 s), for as long as the profile lives; so is a daemon that dies within seconds of
   * connecting (a crash loop). Failures show in `status().launches` and the log. Daemons that
   * leave by a limit (idletime, walltime, maxtasks) are not replaced. `false`: a lost daemon
   * stays lost, and tasks wait for daemons that connect later.
   */
  readonly repair?: boolean;
  /** Transport options for listening (TLS credentials, ...). */
  readonly listenOptions?: Record<string, unknown>;
  /** Transport options daemons dial with; they travel in launch commands. */
  readonly dialOptions?: { readonly [key: string]: Json };
  /** With `daemons(0)`: tell every connected daemon to exit, not only those this host launched. */
  readonly terminate?: boolean;
  /**
   * Daemon-side instrumentation (a tracing adapter's daemon half, such as `@mirai-ts/otel`'s
   * `otelDaemon()`): each carries a `ref` every daemon imports after the handshake, as it does
   * serializers; it then subscribes to the daemon's `mirai:daemon:task:*` channels.
   */
  readonly instrumentation?: readonly { readonly ref: PluginRef }[];
}

/** Every default, in one place. */
export const PROFILE_DEFAULTS = {
  dispatcher: true,
  launchTimeout: 30_000,
  handshakeTimeout: 10_000,
  cancelGrace: 150,
  repair: true,
  maxQueued: Infinity,
  maxQueuedBytes: Infinity,
} as const;

/** A profile's options with every default filled in: what the host runs on. */
export interface ProfileSettings
  extends Required<
      Pick<
        DaemonsOptions,
        'dispatcher' | 'serializers' | 'launchTimeout' | 'handshakeTimeout' | 'cancelGrace' | 'repair' | 'maxQueued' | 'maxQueuedBytes' | 'log'
      >
    >,
    Pick<DaemonsOptions, 'secret' | 'listenOptions' | 'dialOptions'> {
  readonly name: string;
  /** Where to listen. */
  readonly url: string;
  /** `transport` and `transports` together. */
  readonly transports: readonly Transport[];
  /** `launcher`, or its alias `remote`, or the local launcher. */
  readonly launcher: Launcher;
  /** The options launched daemons get. */
  readonly daemonOptions: DaemonOptions;
  /** `instrumentation`'s refs, sent to daemons in Init. */
  readonly instrumentation: readonly PluginRef[];
}

/** Checks `options` and fills in every default. `defaultUrl` is used when `url` is not given. */
export function resolveProfileOptions(name: string, options: DaemonsOptions, defaultUrl: () => string): ProfileSettings {
  checkDaemonOptions(options);
  return {
    name,
    url: options.url ?? defaultUrl(),
    dispatcher: options.dispatcher ?? PROFILE_DEFAULTS.dispatcher,
    daemonOptions: pickDaemonOptions(options),
    serializers: options.serializers ?? [],
    instrumentation: instrumentationRefs(options.instrumentation),
    transports: options.transport ? [options.transport, ...(options.transports ?? [])] : (options.transports ?? []),
    launcher: options.launcher ?? options.remote ?? localLauncher(),
    ...(options.secret !== undefined ? { secret: options.secret } : {}),
    log: options.log ?? defaultLog,
    launchTimeout: options.launchTimeout ?? PROFILE_DEFAULTS.launchTimeout,
    handshakeTimeout: options.handshakeTimeout ?? PROFILE_DEFAULTS.handshakeTimeout,
    cancelGrace: options.cancelGrace ?? PROFILE_DEFAULTS.cancelGrace,
    repair: options.repair ?? PROFILE_DEFAULTS.repair,
    maxQueued: positiveOrInfinity(options.maxQueued, 'maxQueued'),
    maxQueuedBytes: positiveOrInfinity(options.maxQueuedBytes, 'maxQueuedBytes'),
    ...(options.listenOptions ? { listenOptions: options.listenOptions } : {}),
    ...(options.dialOptions ? { dialOptions: options.dialOptions } : {}),
  };
}

/** The daemon options among `options`, without the undefined ones. */
export function pickDaemonOptions(options: DaemonOptions): DaemonOptions {
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

/** Validates daemon options instead of dropping bad ones silently (a mirai gotcha). */
export function checkDaemonOptions(options: DaemonOptions): void {
  const { autoexit, cleanup, output } = options;
  if (autoexit !== undefined && autoexit !== true && autoexit !== false && autoexit !== 'finish') {
    throw new ConfigError(`autoexit must be true, false or 'finish', got ${JSON.stringify(autoexit)}`);
  }
  if (cleanup !== undefined && typeof cleanup !== 'boolean') throw new ConfigError(`cleanup must be a boolean`);
  if (output !== undefined && typeof output !== 'boolean' && output !== 'host') {
    throw new ConfigError(`output must be true, false or 'host' (lines tagged with their task id), got ${JSON.stringify(output)}`);
  }
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

/** The refs of `instrumentation`, checked: daemons must be able to import each. */
function instrumentationRefs(list: DaemonsOptions['instrumentation']): PluginRef[] {
  if (list === undefined) return [];
  if (!Array.isArray(list)) throw new ConfigError(`instrumentation must be an array of { ref }, got ${typeof list}`);
  return list.map((item: { ref?: PluginRef }, i) => {
    const ref = item?.ref;
    if (typeof ref?.specifier !== 'string' || typeof ref.exportName !== 'string') {
      throw new ConfigError(`instrumentation[${i}] has no ref { specifier, exportName, options }, so daemons cannot load it`);
    }
    return ref;
  });
}
