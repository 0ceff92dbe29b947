/**
 * A compute profile: one named pool of daemons with its own URL, secret, dispatcher,
 * serializers, transports and launcher. Several coexist.
 */
import { newSecret } from './auth.js';
import type { DaemonOptions } from './daemon-options.js';
import { Dispatcher, type DaemonLink, type DaemonStatus, type DispatcherCounters, type HostTask } from './dispatcher.js';
import { ConfigError, LaunchError } from './errors.js';
import { frame, FrameType, HANDSHAKE_LIMITS } from './frame.js';
import type { LaunchHandle, Launcher, LaunchSpec } from './launcher.js';
import type { SerializerRef } from './plugin-loader.js';
import type { Serializer } from './serializer.js';
import type { Json, Listener, PluginRef, Transport } from './transport.js';
import { transportFor } from './transports/builtin.js';

/** A log line from the host side of a profile. */
export type LogFunction = (level: 'info' | 'warn', message: string) => void;

export const defaultLog: LogFunction = (level, message) => {
  if (level === 'warn') process.stderr.write(`[mirai-ts] ${message}\n`);
};

export interface ProfileConfig {
  readonly name: string;
  readonly url: string;
  readonly dispatcher: boolean;
  readonly daemonOptions: DaemonOptions;
  readonly serializers: readonly Serializer[];
  readonly transports: readonly Transport[];
  readonly launcher: Launcher;
  readonly secret?: string;
  readonly log: LogFunction;
  /** How long launched daemons may take to connect. */
  readonly launchTimeoutMs: number;
  /** How long a new connection may take to prove the secret. */
  readonly handshakeTimeoutMs: number;
  /** How long a cancelled running task may take to stop before its daemon is ended and replaced. */
  readonly cancelGraceMs: number;
  /** Replace lost daemons this host launched. */
  readonly repair: boolean;
  /** Queue limits (tasks, bytes of queued task frames). */
  readonly maxQueued: number;
  readonly maxQueuedBytes: number;
  /** Transport options for listening (TLS credentials, ...). */
  readonly listenOptions?: Record<string, unknown>;
  /** Transport options daemons dial with; they travel in launch commands. */
  readonly dialOptions?: { readonly [key: string]: Json };
}

interface Launch {
  readonly handle: LaunchHandle;
  readonly launcher: Launcher;
  readonly options: DaemonOptions | undefined;
  connected: boolean;
  onConnect: (() => void) | undefined;
}

export class Profile {
  readonly name: string;
  readonly secret: string;
  readonly config: ProfileConfig;
  readonly dispatcher: Dispatcher;
  private readonly listener: Listener;
  private readonly transport: Transport;
  private readonly launches = new Map<string, Launch>();
  private keepAlive = 0;
  /** The launch behind each connected daemon this host started. */
  private readonly launchedBy = new WeakMap<DaemonLink, Launch>();
  /** When recent repairs happened (ms), to stop a crash loop. */
  private repairs: number[] = [];
  private busy = false;
  closed = false;

  private constructor(config: ProfileConfig, listener: Listener, transport: Transport, secret: string) {
    this.name = config.name;
    this.config = config;
    this.secret = secret;
    this.listener = listener;
    this.transport = transport;
    this.dispatcher = new Dispatcher(listener, {
      profile: config.name,
      secret,
      dispatcher: config.dispatcher,
      serializers: config.serializers,
      serializerRefs: serializerRefs(config.serializers),
      handshakeTimeoutMs: config.handshakeTimeoutMs,
      log: config.log,
      onBusyChange: (busy) => {
        this.busy = busy;
        this.updateRef();
      },
      onDaemonChange: (link, event) => this.daemonChanged(link, event),
      cancelGraceMs: config.cancelGraceMs,
      maxQueued: config.maxQueued,
      maxQueuedBytes: config.maxQueuedBytes,
      onStuck: (link) => this.replace(link),
    });
    this.updateRef();
  }

  /** Listens at the profile's URL. */
  static async open(config: ProfileConfig): Promise<Profile> {
    serializerRefs(config.serializers); // fail early on serializers daemons cannot load
    const transport = transportFor(config.url, config.transports);
    const listener = await transport.listen(config.url, { handshakeLimits: HANDSHAKE_LIMITS, ...config.listenOptions });
    return new Profile(config, listener, transport, config.secret ?? newSecret());
  }

  /** The URL daemons dial (with the real port once bound). */
  get url(): string {
    return this.listener.url;
  }

  /** What a launcher needs to start daemons for this profile. */
  launchSpec(options: DaemonOptions = this.config.daemonOptions): LaunchSpec {
    const transportRef: PluginRef | undefined = this.transport.ref;
    // The listener's own needs (a zero-config TLS CA) first; the user's options override them.
    const dialOptions = { ...this.listener.dialOptions, ...this.config.dialOptions };
    return {
      url: this.url,
      secret: this.secret,
      options,
      profile: this.name,
      ...(transportRef ? { transport: transportRef } : {}),
      ...(Object.keys(dialOptions).length > 0 ? { dialOptions } : {}),
    };
  }

  /**
   * Starts `n` daemons and resolves once all have connected. A daemon that exits before it
   * connects, or a launch that does not connect within the launch timeout, rejects with a
   * {@link LaunchError} that says why.
   */
  async launch(n: number, launcher: Launcher = this.config.launcher, options?: DaemonOptions): Promise<LaunchHandle[]> {
    if (n <= 0) return [];
    this.hold(+1);
    try {
      const before = this.dispatcher.counters().cumulative;
      const handles = await launcher.launch(this.launchSpec(options), n);
      const waits = handles.map((handle) => this.track(handle, launcher, options));
      const tracked = handles.every((h) => h.exited !== undefined);
      const all = tracked
        ? Promise.all(waits)
        : this.dispatcherConnections(before + n).then(() => undefined);
      let timedOut = false;
      try {
        await withTimeout(all, this.config.launchTimeoutMs, () => {
          timedOut = true;
          return new LaunchError(
            `profile '${this.name}': ${n} daemon(s) were launched (${launcher.kind}) but not all connected to ${this.url} ` +
              `within ${this.config.launchTimeoutMs} ms`,
          );
        });
      } catch (err) {
        // Jobs in a scheduler's queue may start hours later: report, and let them join when they do.
        if (!(timedOut && launcher.queued)) throw err;
        all.catch(() => {});
        this.config.log('warn', `${(err as Error).message}; they may be waiting in the ${launcher.kind} queue and join when they start`);
      }
      return handles;
    } finally {
      this.hold(-1);
    }
  }

  /** The process behind a connected daemon, when this host launched it. */
  launchOf(link: DaemonLink): LaunchHandle | undefined {
    return link.launchId === undefined ? undefined : this.launches.get(link.launchId)?.handle;
  }

  submit(task: HostTask): void {
    this.dispatcher.submit(task);
  }

  counters(): DispatcherCounters {
    return this.dispatcher.counters();
  }

  daemonRows(): DaemonStatus[] {
    return this.dispatcher.daemonRows().map((row) => {
      const kind = row.launchId === undefined ? undefined : this.launches.get(row.launchId)?.launcher.kind;
      return kind === undefined ? row : { ...row, launcher: kind };
    });
  }

  /** Settles pending tasks with a connection reset, tells daemons to exit, stops listening. */
  /**
   * Resets the profile. Daemons this host launched are told to exit; others just lose the
   * connection (an `autoexit: false` daemon then waits for the next host), unless `terminate`.
   */
  async close(reason = `profile '${this.name}' was reset`, terminate = false): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.dispatcher.close(reason, (link) => terminate || this.launchOf(link) !== undefined);
    // Local daemons exit on Exit; make sure, without waiting on well-behaved ones for long.
    const exits = [...this.launches.values()].map(async ({ handle }) => {
      if (handle.exited === undefined) return;
      const done = await withTimeout(handle.exited.then(() => true), 2_000, () => new Error('slow exit')).catch(() => false);
      if (!done) handle.kill?.();
    });
    // Withdraw scheduler jobs (still queued, or running past their daemon's exit).
    const cancels = [...this.launches.values()].map(({ handle }) => handle.cancel?.().catch(() => {}));
    await Promise.all([...exits, ...cancels]);
    this.launches.clear();
  }

  /**
   * With `repair`, a daemon this host launched that is lost (it died, or its machine went)
   * is replaced from the same launcher, so the pool keeps its size. At most 5 repairs per
   * 10 s: a daemon that dies as soon as it starts must not be relaunched in a loop.
   */
  private repair(link: DaemonLink): void {
    // The launch entry may already be gone (the process's exit can beat its socket's close).
    const launch = this.launchedBy.get(link);
    if (launch === undefined || this.closed) return;
    const now = Date.now();
    this.repairs = this.repairs.filter((t) => now - t < 10_000);
    if (this.repairs.length >= 5) {
      this.config.log('warn', `profile '${this.name}': daemon ${link.id} was lost; not replaced, 5 repairs in the last 10 s already`);
      return;
    }
    this.repairs.push(now);
    this.config.log('info', `profile '${this.name}': daemon ${link.id} was lost; launching a replacement`);
    this.launch(1, launch.launcher, launch.options).catch((err: Error) =>
      this.config.log('warn', `profile '${this.name}': could not replace lost daemon ${link.id}: ${err.message}`),
    );
  }

  /**
   * Ends a daemon stuck in a cancelled task and starts a replacement with the same launcher
   * (which re-runs `everywhere()` set-up on connect). A daemon this host did not start cannot
   * be killed from here: its connection is closed, so it gets no more work.
   */
  private replace(link: DaemonLink): void {
    if (link.watchdog !== undefined) {
      // The daemon's watchdog starts a fresh daemon where this one runs, and ends it.
      link.watchdog.send(frame(FrameType.Replace, 0, []));
      return;
    }
    const launch = link.launchId === undefined ? undefined : this.launches.get(link.launchId);
    if (launch?.handle.kill === undefined) {
      link.channel.close(new Error('did not stop a cancelled task'));
      return;
    }
    launch.handle.kill();
    // Over a message transport (NATS) the kill is noticed only after a heartbeat timeout.
    link.channel.close();
    if (this.closed) return;
    this.launch(1, launch.launcher, launch.options).catch((err: Error) =>
      this.config.log('warn', `profile '${this.name}': could not replace daemon ${link.id}: ${err.message}`),
    );
  }

  private track(handle: LaunchHandle, launcher: Launcher, options: DaemonOptions | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const launch: Launch = { handle, launcher, options, connected: false, onConnect: resolve };
      this.launches.set(handle.id, launch);
      handle.exited?.then(({ code, signal }) => {
        if (!launch.connected) {
          const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
          const tail = handle.stderrTail?.().trim();
          reject(
            new LaunchError(
              `profile '${this.name}': a daemon (pid ${handle.pid ?? '?'}) ${how} before connecting to ${this.url}` +
                (tail ? `; its stderr:\n${tail}` : ''),
            ),
          );
        }
        this.launches.delete(handle.id);
      });
    });
  }

  private dispatcherConnections(n: number): Promise<void> {
    return this.dispatcher.waitForConnections(n);
  }

  private daemonChanged(link: DaemonLink, event: 'connect' | 'disconnect' | 'lost'): void {
    if (event === 'lost' && this.config.repair) this.repair(link);
    if (event !== 'connect' || link.launchId === undefined) return;
    const launch = this.launches.get(link.launchId);
    if (launch) this.launchedBy.set(link, launch);
    if (launch && !launch.connected) {
      launch.connected = true;
      launch.onConnect?.();
    }
  }

  /** Keeps the process alive while something waits on this profile. */
  private hold(delta: number): void {
    this.keepAlive += delta;
    this.updateRef();
  }

  private updateRef(): void {
    if (this.busy || this.keepAlive > 0) this.listener.ref();
    else this.listener.unref();
  }
}

function serializerRefs(serializers: readonly Serializer[]): SerializerRef[] {
  return serializers.map((s) => {
    if (s.ref === undefined) {
      throw new ConfigError(
        `serializer '${s.tag}' has no ref, so daemons cannot load it; give it { ref: { specifier, exportName, options } }`,
      );
    }
    return { tag: s.tag, ref: s.ref };
  });
}

/** Rejects with `onTimeout()` if `promise` takes longer than `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  if (!Number.isFinite(ms)) return promise;
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(onTimeout()), ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}
