/**
 * A profile's options: declared once ({@link DaemonsOptions}, what users pass to `daemons()`),
 * checked and completed with every default in one place ({@link resolveProfileOptions}).
 */
import { ConfigError } from '../errors.js';
import { checkOptions, is, type OptionRule, type OptionRules } from '../options-check.js';
import type { Launcher } from '../launcher.js';
import { checkExecArgv, localLauncher, type LocalDaemonOptions } from '../launchers/local.js';
import type { Serializer } from '../serializer.js';
import type { Json, PluginRef, Transport } from '../transport.js';
import type { DaemonOptions } from '../wire/daemon-args.js';
import { MAX_DAEMON_SPIN_US } from '../daemon/next-task-poll.js';
import { resolveAutoscale, type AutoscaleOptions } from './autoscaler.js';
import { defaultLog, type LogFunction } from './log.js';

/** Options of {@link daemons}. */
export interface DaemonsOptions extends DaemonOptions, LocalDaemonOptions {
  /** Profile name (default: the current one, normally `'default'`). */
  readonly profile?: string;
  /** Where to listen: default a private local IPC socket; `tcp://127.0.0.1:0` works too. */
  readonly url?: string;
  /** FIFO dispatcher with one task per daemon (default true), or direct round-robin (false). */
  readonly dispatcher?: boolean;
  /**
   * With the dispatcher: how many tasks each daemon may hold at once (default 1, mirai's rule).
   * Above 1, a daemon starts its next task as soon as it answers one, which multiplies the
   * throughput of tiny tasks; but a slow task delays the ones prefetched behind it. A whole
   * number ≥ 1; not with `dispatcher: false` (direct mode already sends everything).
   */
  readonly prefetch?: number;
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
   * Most bytes one task's result may take, encoded (default: no limit of its own; a frame may
   * take up to 1 TiB). A larger result fails its task with a ResultTooLargeError and the daemon
   * runs the next task: daemons are told the limit and send the error instead, and a daemon that
   * sends a larger result anyway stays connected while the host reads past its bytes without
   * keeping them. Protects the host's memory from a result far larger than planned, or from a
   * daemon that sends one on purpose. Not for sync profiles (their tasks run in this process).
   */
  readonly maxResultBytes?: number;
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
   * Scale with the backlog: `min` daemons when idle, up to `max` while tasks wait, launched in
   * one call per burst; idle daemons above `min` leave after `idle` ms. See docs/autoscaling.md.
   */
  readonly autoscale?: AutoscaleOptions;
  /**
   * Reproducible random numbers: each task gets a random stream of its own, the next one in
   * the order tasks are submitted, so results do not depend on how many daemons there are,
   * which runs what, or the transport. Inside a task `Math.random()` and `context.random()`
   * draw from it. Without a seed, each daemon has a stream of its own (not reproducible).
   */
  readonly seed?: number;
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
  prefetch: 1,
  launchTimeout: 30_000,
  handshakeTimeout: 10_000,
  cancelGrace: 150,
  repair: true,
  maxQueued: Infinity,
  maxQueuedBytes: Infinity,
  maxResultBytes: Infinity,
} as const;

/** A profile's options with every default filled in: what the host runs on. */
export interface ProfileSettings
  extends Required<
      Pick<
        DaemonsOptions,
        'dispatcher' | 'prefetch' | 'serializers' | 'launchTimeout' | 'handshakeTimeout' | 'cancelGrace' | 'repair' | 'maxQueued' | 'maxQueuedBytes' | 'maxResultBytes' | 'log'
      >
    >,
    Pick<DaemonsOptions, 'secret' | 'listenOptions' | 'dialOptions' | 'autoscale' | 'seed'> {
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
  checkProfileOptions(options);
  const prefetch = checkPrefetch(options);
  return {
    name,
    url: options.url ?? defaultUrl(),
    dispatcher: options.dispatcher ?? PROFILE_DEFAULTS.dispatcher,
    prefetch,
    // With prefetch, tasks already wait at the daemon and the host is what limits: a daemon
    // polling for its next task takes CPU the host needs (2 daemons, prefetch 64: 408 000 ->
    // 345 000 tasks/s with the poll), so it polls only if asked to.
    daemonOptions: pickDaemonOptions(prefetch > 1 && options.spin === undefined ? { ...options, spin: 0 } : options),
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
    maxQueued: options.maxQueued ?? PROFILE_DEFAULTS.maxQueued,
    maxQueuedBytes: options.maxQueuedBytes ?? PROFILE_DEFAULTS.maxQueuedBytes,
    maxResultBytes: options.maxResultBytes ?? PROFILE_DEFAULTS.maxResultBytes,
    ...(options.seed !== undefined ? { seed: options.seed } : {}),
    ...(options.listenOptions ? { listenOptions: options.listenOptions } : {}),
    ...(options.dialOptions ? { dialOptions: options.dialOptions } : {}),
    ...(options.autoscale !== undefined ? { autoscale: checkedAutoscale(options.autoscale, options.launchTimeout) } : {}),
  };
}

/** Fails early on bad `autoscale` settings; the pool resolves them again when it starts. */
function checkedAutoscale(autoscale: AutoscaleOptions, launchTimeout: number | undefined): AutoscaleOptions {
  resolveAutoscale(autoscale, launchTimeout ?? PROFILE_DEFAULTS.launchTimeout);
  return autoscale;
}

/** The daemon options among `options`, without the undefined ones. */
export function pickDaemonOptions(options: DaemonOptions & LocalDaemonOptions): DaemonOptions & LocalDaemonOptions {
  const { autoexit, cleanup, output, watchdog, idletime, walltime, maxtasks, spin, nodeOptions, execArgv, daemonScript } = options;
  // execArgv and daemonScript ride along for the local launcher (launchLocal() too); other launchers ignore them.
  // A URL becomes its href: options may be structured-cloned (thread daemons' workerData), and a URL is not cloneable.
  const script = daemonScript instanceof URL ? daemonScript.href : daemonScript;
  return Object.fromEntries(
    Object.entries({ autoexit, cleanup, output, watchdog, idletime, walltime, maxtasks, spin, nodeOptions, execArgv, daemonScript: script }).filter(([, v]) => v !== undefined),
  ) as DaemonOptions & LocalDaemonOptions;
}

/** What each daemon option may be. */
export const DAEMON_OPTION_RULES: OptionRules = {
  autoexit: is.oneOf(true, false, 'finish'),
  cleanup: is.boolean,
  output: is.oneOf(true, false, 'host'),
  watchdog: is.boolean,
  // Node fires a timer of more than 2^31 - 1 ms after 1 ms: the daemon would leave at once.
  idletime: is.limitMs,
  walltime: is.limitMs,
  maxtasks: is.whole(1, true),
  spin: is.between(0, MAX_DAEMON_SPIN_US, 'µs'),
  // Flags only (`--max-old-space-size=32`): they go on the node command line before the daemon script.
  nodeOptions: (v) =>
    Array.isArray(v) && v.every((f) => typeof f === 'string' && /^--[a-z][\w-]*(=[^\s'"`$;&|<>]*)?$/.test(f))
      ? undefined
      : "an array of node flags such as ['--max-old-space-size=512']",
};

/** A launcher: an object with a `launch()` function (refused at `daemons()`, before any reset). */
const isLauncher: OptionRule = (v) =>
  typeof v === 'object' && v !== null && typeof (v as { launch?: unknown }).launch === 'function'
    ? undefined
    : 'a launcher: an object with a launch() function, such as remoteConfig(), sshConfig() or slurm()';

/** Why `v` is not a transport (schemes, listen(), dial()), or undefined. */
function notTransport(v: unknown): string | undefined {
  const t = v as { schemes?: unknown; listen?: unknown; dial?: unknown } | null;
  const ok =
    typeof t === 'object' &&
    t !== null &&
    Array.isArray(t.schemes) &&
    t.schemes.length > 0 &&
    t.schemes.every((x) => typeof x === 'string' && x !== '') &&
    typeof t.listen === 'function' &&
    typeof t.dial === 'function';
  return ok ? undefined : 'a transport: an object with schemes (an array of URL schemes), listen() and dial(), such as natsTransport()';
}

/** Why `v` is not a serializer (tag, claims(), encode(), decode()), or undefined. */
function notSerializer(v: unknown): string | undefined {
  const s = v as { tag?: unknown; claims?: unknown; encode?: unknown; decode?: unknown } | null;
  const ok = typeof s === 'object' && s !== null && typeof s.tag === 'string' && s.tag !== '' && typeof s.claims === 'function' && typeof s.encode === 'function' && typeof s.decode === 'function';
  return ok ? undefined : 'a serializer: an object with a tag and claims(), encode() and decode(), such as arrowSerializer()';
}

/** An array whose every element passes `element`; the message names the first that does not. */
const arrayOf =
  (what: string, element: (v: unknown) => string | undefined): OptionRule =>
  (v) => {
    if (!Array.isArray(v)) return `an array of ${what}`;
    for (let i = 0; i < v.length; i++) {
      const wrong = element(v[i]);
      if (wrong !== undefined) return `an array of ${what}; element [${i}] is not ${wrong}`;
    }
    return undefined;
  };

/** Serializers, each with its own tag: two with one tag would leave daemons unable to tell them apart. */
const serializerList: OptionRule = (v) => {
  const wrong = arrayOf('serializers', notSerializer)(v);
  if (wrong !== undefined) return wrong;
  const tags = (v as { tag: string }[]).map((s) => s.tag);
  const twice = tags.find((t, i) => tags.indexOf(t) !== i);
  return twice === undefined ? undefined : `serializers with distinct tags (two have the tag '${twice}')`;
};

/** What each option of `daemons()` may be. */
export const PROFILE_OPTION_RULES: OptionRules = {
  ...DAEMON_OPTION_RULES,
  // Local launches only (the local launcher, launchLocal(), mirai() without daemons).
  execArgv: checkExecArgv,
  daemonScript: (v) => (v instanceof URL || (typeof v === 'string' && v !== '') ? undefined : 'a path or file URL of the daemon entry script'),
  profile: is.string,
  url: is.string,
  dispatcher: is.boolean,
  prefetch: is.whole(1),
  sync: is.boolean,
  serializers: serializerList,
  transports: arrayOf('transports', notTransport),
  transport: notTransport,
  launcher: isLauncher,
  remote: isLauncher,
  secret: is.secret,
  log: is.function,
  launchTimeout: is.timeout,
  handshakeTimeout: is.timeout,
  cancelGrace: is.ms,
  maxQueued: is.whole(1, true),
  maxQueuedBytes: is.whole(1, true),
  maxResultBytes: is.whole(1, true),
  repair: is.boolean,
  listenOptions: is.object,
  dialOptions: is.object,
  terminate: is.boolean,
  seed: is.integer,
  autoscale: is.object,
  instrumentation: is.array,
};

/** Checks the options of `daemons()`: every key known, every value of its kind. */
export function checkProfileOptions(options: unknown): void {
  checkOptions('daemons()', options, PROFILE_OPTION_RULES);
  if ((options as DaemonsOptions | undefined)?.sync === true) checkSyncOptions(options as DaemonsOptions);
}

/** What a sync profile takes: it runs tasks in this process, with no daemons, URL or queue. */
const SYNC_KEYS: ReadonlySet<string> = new Set(['sync', 'profile', 'serializers', 'seed', 'log', 'terminate']);

/** Refuses options a sync profile would ignore (a URL, a launcher, queue limits, daemon options). */
function checkSyncOptions(options: DaemonsOptions): void {
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined || SYNC_KEYS.has(key)) continue;
    throw new ConfigError(
      `daemons({ sync: true }): option '${key}' has no effect on a sync profile (tasks run in this process, with no daemons, URL or queue); leave it out (it takes ${[...SYNC_KEYS].join(', ')})`,
    );
  }
}

/** Validates daemon options (`where` names the call) instead of dropping bad ones silently (a mirai gotcha). */
export function checkDaemonOptions(options: DaemonOptions, where = 'daemon options', extra: OptionRules = {}): void {
  checkOptions(where, options, { ...DAEMON_OPTION_RULES, ...extra });
}

/** `prefetch` (checked as a whole number ≥ 1 already): above 1 it needs the dispatcher. */
function checkPrefetch(options: DaemonsOptions): number {
  const prefetch = options.prefetch ?? PROFILE_DEFAULTS.prefetch;
  if (prefetch > 1 && options.dispatcher === false) {
    throw new ConfigError(`daemons(): prefetch: ${prefetch} needs the dispatcher; with dispatcher: false every task is sent to its daemon at once already`);
  }
  return prefetch;
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
