/**
 * A compute profile's pool of daemons: it listens at the profile's URL, launches daemons and
 * tracks each launch until its daemon connects, replaces daemons that are lost (`repair`) or
 * that the dispatcher ended, and resets. Tasks go through its {@link Dispatcher}.
 */
import { ConfigError, isMiraiError, LaunchError, type MiraiError } from '../errors.js';
import type { LaunchHandle, Launcher, LaunchSpec } from '../launcher.js';
import type { ModuleFunction } from '../task.js';
import type { Listener, PluginRef, Transport } from '../transport.js';
import { transportFor } from '../transports/builtin.js';
import { withTimeout } from '../util/with-timeout.js';
import { newSecret } from '../wire/auth.js';
import type { DaemonOptions } from '../wire/daemon-args.js';
import { FrameType, HANDSHAKE_LIMITS, type Frame } from '../wire/frame.js';
import type { SerializerRef } from '../wire/messages.js';
import { buildTaskFrame, type TaskParam } from '../wire/task-frame.js';
import type { ComputePool, PoolStatus, Submitted, TaskRequest } from './compute-pool.js';
import type { DaemonConnection } from './daemon-connection.js';
import { Dispatcher, type DaemonEvent } from './dispatcher.js';
import { frameBytes, type HostTask, type TaskOutcome } from './host-task.js';
import type { ProfileSettings } from './profile-options.js';

/** A launch this pool made, until its process ends or the pool closes. */
interface Launch {
  readonly handle: LaunchHandle;
  readonly launcher: Launcher;
  readonly options: DaemonOptions | undefined;
  connected: boolean;
  onConnect: (() => void) | undefined;
}

export class DaemonPool implements ComputePool {
  readonly name: string;
  readonly secret: string;
  readonly settings: ProfileSettings;
  private readonly dispatcher: Dispatcher;
  private readonly listener: Listener;
  private readonly transport: Transport;
  private readonly launches = new Map<string, Launch>();
  private keepAlive = 0;
  /** The launch behind each connected daemon this host started. */
  private readonly launchedBy = new WeakMap<DaemonConnection, Launch>();
  /** When recent repairs happened (ms), to stop a crash loop. */
  private repairs: number[] = [];
  private busy = false;
  private closed = false;

  private constructor(settings: ProfileSettings, listener: Listener, transport: Transport, secret: string) {
    this.name = settings.name;
    this.settings = settings;
    this.secret = secret;
    this.listener = listener;
    this.transport = transport;
    this.dispatcher = new Dispatcher(listener, settings, {
      secret,
      serializerRefs: serializerRefs(settings),
      onBusyChange: (busy) => {
        this.busy = busy;
        this.updateRef();
      },
      onDaemon: (event) => this.daemonEvent(event),
    });
    this.updateRef();
  }

  /** Listens at the profile's URL. */
  static async open(settings: ProfileSettings): Promise<DaemonPool> {
    serializerRefs(settings); // fail early on serializers daemons cannot load
    const transport = transportFor(settings.url, settings.transports);
    let listener: Listener;
    try {
      listener = await transport.listen(settings.url, { handshakeLimits: HANDSHAKE_LIMITS, ...settings.listenOptions });
    } catch (err) {
      if (isMiraiError(err)) throw err;
      // EADDRINUSE, EACCES, a name that does not resolve: say which URL and why.
      throw new ConfigError(`profile '${settings.name}' cannot listen at ${settings.url}: ${listenFailure(err)}`, err);
    }
    return new DaemonPool(settings, listener, transport, settings.secret ?? newSecret());
  }

  get serializers(): ProfileSettings['serializers'] {
    return this.settings.serializers;
  }

  get log(): ProfileSettings['log'] {
    return this.settings.log;
  }

  /** The URL daemons dial (with the real port once bound). */
  get url(): string {
    return this.listener.url;
  }

  /** Daemons connected now. */
  get connections(): number {
    return this.dispatcher.connections;
  }

  submit(request: TaskRequest): Submitted {
    const built = buildTaskFrame(FrameType.Task, request.id, request.fn, request.params, this.settings.serializers);
    return built instanceof Promise ? this.submitLater(request, built) : this.submitFrame(request, built);
  }

  /** Queues a task whose frame is built; throws a QueueFullError (nothing queued) when full. */
  submitFrame(request: TaskRequest, f: Frame): Submitted {
    const task: HostTask = { id: request.id, frame: f, outcome: request.outcome, bytes: frameBytes(f), daemon: undefined, settled: false, retriesLeft: request.retry };
    this.dispatcher.submit(task);
    return { cancel: (error) => this.dispatcher.cancel(task, error) };
  }

  /**
   * Queues a task once its frame is built (an async plugin serializer), unless cancelled
   * meanwhile; a failure to build it, or a full queue then, settles the task.
   */
  submitLater(request: TaskRequest, built: Promise<Frame>): Submitted {
    let submitted: Submitted | undefined;
    let cancelled = false;
    built
      .then((f) => {
        if (!cancelled) submitted = this.submitFrame(request, f);
      })
      .catch((err: MiraiError) => request.outcome._reject(err));
    return {
      cancel: (error) => {
        if (submitted !== undefined) return submitted.cancel(error);
        cancelled = true;
        request.outcome._reject(error);
      },
    };
  }

  async everywhere<T extends TaskOutcome>(fn: Function | ModuleFunction, params: readonly TaskParam[], makeOutcome: () => T): Promise<T[]> {
    const built = buildTaskFrame(FrameType.Everywhere, 0, fn, params, this.settings.serializers);
    const taskFrame: Frame = built instanceof Promise ? await built : built;
    return this.dispatcher.everywhere(taskFrame, makeOutcome);
  }

  room(): Promise<void> {
    return this.dispatcher.room();
  }

  status(): PoolStatus {
    return { url: this.url, dispatcher: this.settings.dispatcher, ...this.dispatcher.counters(), daemons: this.dispatcher.daemonRows() };
  }

  /** What a launcher needs to start daemons for this profile. */
  launchSpec(options?: DaemonOptions): LaunchSpec {
    const transportRef: PluginRef | undefined = this.transport.ref;
    // The listener's own needs (a zero-config TLS CA) first; the user's options override them.
    const dialOptions = { ...this.listener.dialOptions, ...this.settings.dialOptions };
    return {
      url: this.url,
      secret: this.secret,
      options: this.daemonOptions(options),
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
  async launch(n: number, launcher: Launcher = this.settings.launcher, options?: DaemonOptions): Promise<LaunchHandle[]> {
    if (n <= 0) return [];
    this.hold(+1);
    try {
      const before = this.dispatcher.counters().cumulative;
      const handles = await launcher.launch(this.launchSpec(options), n);
      const waits = handles.map((handle) => this.track(handle, launcher, options));
      const tracked = handles.every((h) => h.exited !== undefined);
      const all: Promise<unknown> = tracked ? Promise.all(waits) : this.dispatcher.waitForConnections(before + n);
      await withTimeout(
        all,
        this.settings.launchTimeout,
        () =>
          new LaunchError(
            `profile '${this.name}': ${n} daemon(s) were launched (${launcher.kind}) but not all connected to ${this.url} ` +
              `within ${this.settings.launchTimeout} ms`,
          ),
      );
      return handles;
    } finally {
      this.hold(-1);
    }
  }

  /**
   * Resets the profile. Daemons this host launched are told to exit; others just lose the
   * connection (an `autoexit: false` daemon then waits for the next host), unless `terminate`.
   */
  async close(reason = `profile '${this.name}' was reset`, terminate = false): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.dispatcher.close(reason, (conn) => terminate || conn.launch !== undefined);
    // Local daemons exit on Exit; make sure, without waiting on well-behaved ones for long.
    const exits = [...this.launches.values()].map(async ({ handle }) => {
      if (handle.exited === undefined) return;
      const done = await withTimeout(handle.exited.then(() => true), 2_000, () => new Error('slow exit')).catch(() => false);
      if (!done) handle.kill?.();
    });
    await Promise.all(exits);
    this.launches.clear();
  }

  // -------------------------------------------------------------------------

  /** The profile's daemon options, with `overrides` on top. */
  private daemonOptions(overrides: DaemonOptions | undefined): DaemonOptions {
    return overrides === undefined ? this.settings.daemonOptions : { ...this.settings.daemonOptions, ...overrides };
  }

  private daemonEvent(event: DaemonEvent): void {
    const { conn } = event;
    switch (event.type) {
      case 'connect':
        this.connected(conn);
        return;
      case 'lost':
        if (this.settings.repair) this.repair(conn);
        return;
      case 'ended':
        // A daemon this host killed is replaced from here; a watchdog replaces its own.
        if (event.how === 'killed') this.relaunch(this.launchedBy.get(conn), `could not replace daemon ${conn.id}`);
        return;
      case 'disconnect':
        return;
    }
  }

  private connected(conn: DaemonConnection): void {
    if (conn.launchId === undefined) return;
    const launch = this.launches.get(conn.launchId);
    if (launch === undefined) return;
    this.launchedBy.set(conn, launch);
    conn.launch = { handle: launch.handle, kind: launch.launcher.kind };
    if (!launch.connected) {
      launch.connected = true;
      launch.onConnect?.();
    }
  }

  /**
   * With `repair`, a daemon this host launched that is lost (it died, or its machine went)
   * is replaced from the same launcher, so the pool keeps its size. At most 5 repairs per
   * 10 s: a daemon that dies as soon as it starts must not be relaunched in a loop.
   */
  private repair(conn: DaemonConnection): void {
    // The launch entry may already be gone (the process's exit can beat its socket's close).
    const launch = this.launchedBy.get(conn);
    if (launch === undefined || this.closed) return;
    const now = Date.now();
    this.repairs = this.repairs.filter((t) => now - t < 10_000);
    if (this.repairs.length >= 5) {
      this.settings.log('warn', `profile '${this.name}': daemon ${conn.id} was lost; not replaced, 5 repairs in the last 10 s already`);
      return;
    }
    this.repairs.push(now);
    this.settings.log('info', `profile '${this.name}': daemon ${conn.id} was lost; launching a replacement`);
    this.relaunch(launch, `could not replace lost daemon ${conn.id}`);
  }

  /** Launches one daemon like `launch` did. */
  private relaunch(launch: Launch | undefined, failure: string): void {
    if (launch === undefined || this.closed) return;
    this.launch(1, launch.launcher, launch.options).catch((err: Error) => this.settings.log('warn', `profile '${this.name}': ${failure}: ${err.message}`));
  }

  private track(handle: LaunchHandle, launcher: Launcher, options: DaemonOptions | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const launch: Launch = { handle, launcher, options, connected: false, onConnect: resolve };
      this.launches.set(handle.id, launch);
      void handle.exited?.then(({ code, signal }) => {
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

function serializerRefs(settings: ProfileSettings): SerializerRef[] {
  return settings.serializers.map((s) => {
    if (s.ref === undefined) {
      throw new ConfigError(
        `serializer '${s.tag}' has no ref, so daemons cannot load it; give it { ref: { specifier, exportName, options } }`,
      );
    }
    return { tag: s.tag, ref: s.ref };
  });
}

/** Why listening failed, in words, with the system's code. */
function listenFailure(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  const reason =
    code === 'EADDRINUSE' ? 'the address is already in use' :
    code === 'EACCES' ? 'permission denied (ports below 1024 need privileges; a socket path needs a writable directory)' :
    code === 'EADDRNOTAVAIL' ? 'the address is not one of this machine\'s' :
    code === 'ENOTFOUND' || code === 'EAI_AGAIN' ? 'the host name does not resolve' :
    (err as Error).message;
  return typeof code === 'string' ? `${reason} (${code})` : reason;
}
