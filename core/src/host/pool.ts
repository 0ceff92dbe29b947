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
import { checkTransportOptions } from '../transports/option-keys.js';
import { MAX_DAEMONS_PER_CALL } from '../options-check.js';
import { withTimeout } from '../util/with-timeout.js';
import { newSecret } from '../wire/auth.js';
import type { DaemonOptions } from '../wire/daemon-args.js';
import { FrameType, HANDSHAKE_LIMITS, INIT_LIMITS, jsonSegment, markShared, type Frame } from '../wire/frame.js';
import type { SerializerRef } from '../wire/messages.js';
import { firstStream, StreamSequence, type StreamState } from '../wire/random-stream.js';
import { buildTaskFrame, type TaskParam } from '../wire/task-frame.js';
import type { ComputePool, PoolStatus, Submitted, TaskRequest } from './compute-pool.js';
import type { DaemonConnection } from './daemon-connection.js';
import { Dispatcher, type DaemonEvent } from './dispatcher.js';
import { QUICK_DEATH_MS, Replacements } from './replacements.js';
import { Autoscaler, resolveAutoscale } from './autoscaler.js';
import { HostTask, type TaskOutcome } from './host-task.js';
import type { ProfileSettings } from './profile-options.js';
import { active, channels, publish, settledUnqueued } from '../events.js';

/** A launch this pool made, until its process ends or the pool closes. */
interface Launch {
  readonly handle: LaunchHandle;
  readonly launcher: Launcher;
  readonly options: DaemonOptions | undefined;
  /** The call that made it. */
  readonly call: LaunchCall;
  connected: boolean;
  onConnect: (() => void) | undefined;
}

/** Who asked for a launch: its losses and arrivals are counted there. */
type LaunchOrigin = 'caller' | 'autoscaler' | 'replacements';

/** One launch call. */
interface LaunchCall {
  readonly origin: LaunchOrigin;
  returned: boolean;
  /** Launches lost while the call waited: handled when it returns (DaemonPool.returned). */
  readonly lost: { readonly launch: Launch; readonly why: string }[];
}

/**
 * Resolves once each of `waits` has settled, unless all of them rejected (every launch was
 * lost): then rejects with the first reason, saying how many more there were.
 */
async function unlessAllLost(waits: readonly Promise<void>[]): Promise<void> {
  const outcomes = await Promise.allSettled(waits);
  const reasons = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as Error] : []));
  if (reasons.length < outcomes.length) return;
  const first = reasons[0]!;
  throw reasons.length === 1 ? first : new LaunchError(`${first.message} (and ${reasons.length - 1} more daemon(s) of this launch were lost)`);
}

/**
 * Failures in a row (about a minute of backoff: 0.25 + 0.5 + … + 30 s) after which queued
 * tasks of a profile with no daemon settle with a LaunchError.
 */
const FAILURES_BEFORE_QUEUE_FAILS = 8;

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
  /** Daemons that connected before their launch call returned (a fast launcher), by launch id. */
  private readonly early = new Map<string, DaemonConnection>();
  private readonly replacements: Replacements;
  /** With `autoscale`, or once `scale(n)` was called. */
  private autoscaler: Autoscaler | undefined;
  private busy = false;
  private closed = false;
  /** Daemons asked of launchers by calls the autoscaler did not make, before the handles came back. */
  private asking = 0;
  /** Rejects when the profile resets: launch calls still waiting for their daemons fail then. */
  private readonly reset: Promise<never>;
  private rejectReset!: (error: LaunchError) => void;
  /** One stream per daemon (for tasks without a seed): never reproducible, so from random bits. */
  private readonly daemonStreams = new StreamSequence(firstStream());
  /** With a seed, one stream per task, in submission order: results do not depend on scheduling. */
  private readonly taskStreams: StreamSequence | undefined;

  private constructor(settings: ProfileSettings, listener: Listener, transport: Transport, secret: string) {
    this.name = settings.name;
    this.settings = settings;
    this.secret = secret;
    this.listener = listener;
    this.transport = transport;
    this.taskStreams = settings.seed === undefined ? undefined : new StreamSequence(firstStream(settings.seed));
    this.reset = new Promise<never>((_, reject) => (this.rejectReset = reject));
    this.reset.catch(() => {}); // a reset with no launch waiting is no error
    this.dispatcher = new Dispatcher(listener, settings, {
      secret,
      serializerRefs: serializerRefs(settings),
      daemonStream: () => this.daemonStreams.next(),
      onBusyChange: (busy) => {
        this.busy = busy;
        this.updateRef();
      },
      onDaemon: (event) => this.daemonEvent(event),
      onDemand: () => this.autoscaler?.demand(),
      // Connecting is no proof the crash loop is over (a daemon is idle at once): answering a
      // task, or living past QUICK_DEATH_MS, is.
      onIdle: (conn) => this.autoscaler?.idle(conn.completed > 0 || Date.now() - conn.connectedAt >= QUICK_DEATH_MS),
    });
    if (settings.autoscale !== undefined) this.autoscaler = this.newAutoscaler(settings.autoscale);
    this.replacements = new Replacements(
      settings.name,
      async (n, launcher, options) => (await this.launchFor('replacements', n, launcher, options)).connected,
      settings.log,
      (failures, why) => this.launchesFailing(failures, why),
    );
    this.updateRef();
  }

  /**
   * Checks what `open` will need that can be checked without listening: serializers daemons
   * can load, Init's size, a transport for the URL. Returns `settings`.
   */
  static check(settings: ProfileSettings): ProfileSettings {
    DaemonPool.checked(settings);
    return settings;
  }

  /**
   * Fails early on serializers daemons cannot load, a URL no transport takes, or listen and
   * dial options it does not take; the transport.
   */
  private static checked(settings: ProfileSettings): Transport {
    checkInitSize(serializerRefs(settings), settings);
    const transport = transportFor(settings.url, settings.transports);
    checkTransportOptions(transport, settings.listenOptions ?? {}, settings.dialOptions ?? {});
    settings.launcher.checkOptions?.(settings.daemonOptions);
    return transport;
  }

  /** Listens at the profile's URL. */
  static async open(settings: ProfileSettings): Promise<DaemonPool> {
    const transport = DaemonPool.checked(settings);
    let listener: Listener;
    try {
      // Core's own key last: checked options cannot hold it, and must not replace it.
      listener = await transport.listen(settings.url, { ...settings.listenOptions, handshakeLimits: HANDSHAKE_LIMITS });
    } catch (err) {
      if (isMiraiError(err)) throw err;
      // EADDRINUSE, EACCES, a name that does not resolve: say which URL and why.
      throw new ConfigError(`profile '${settings.name}' cannot listen at ${settings.url}: ${listenFailure(err)}`, err);
    }
    return new DaemonPool(settings, listener, transport, settings.secret ?? newSecret());
  }

  /** Takes chunks of a map as one task frame each (flag Batch). */
  readonly batches = true;

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
    // The stream is taken at submission, before any async serializer: the task's place in the
    // submission order, not when its frame is ready, decides its numbers.
    const built = buildTaskFrame(FrameType.Task, request.id, request.fn, request.params, this.settings.serializers, {
      stream: this.takeStreams(request.batch ?? 1),
      inMap: request.inMap,
      trace: request.trace,
      batch: request.batch !== undefined,
    });
    return built instanceof Promise ? this.submitLater(request, built) : this.submitFrame(request, built);
  }

  /** The next task's random stream (a seeded profile); a chunk of n items takes n, and sends the first. */
  private takeStreams(n: number): StreamState | undefined {
    if (this.taskStreams === undefined) return undefined;
    const first = this.taskStreams.next();
    for (let i = 1; i < n; i++) this.taskStreams.next();
    return first;
  }

  /** Queues a task whose frame is built; throws a QueueFullError (nothing queued) when full. */
  submitFrame(request: TaskRequest, f: Frame): Submitted {
    const task = new HostTask(f, request.outcome, request.retry, this.dispatcher, request.crashes);
    this.dispatcher.submit(task);
    return task;
  }

  /**
   * Queues a task once its frame is built (an async plugin serializer), unless cancelled
   * meanwhile; a failure to build it, or a full queue then, settles the task.
   */
  submitLater(request: TaskRequest, built: Promise<Frame>): Submitted {
    let submitted: Submitted | undefined;
    let cancelled = false;
    // Until it is queued, no one else reports the task settled (events.ts settledUnqueued): once.
    const refuse = (err: MiraiError): void => {
      if (cancelled) return;
      cancelled = true;
      request.outcome._reject(err);
      settledUnqueued(this.name, request.id, err);
    };
    built
      .then((f) => {
        if (!cancelled) submitted = this.submitFrame(request, f);
      })
      .catch(refuse);
    return {
      cancel: (error) => {
        if (submitted !== undefined) return submitted.cancel(error);
        refuse(error);
      },
    };
  }

  async everywhere<T extends TaskOutcome>(fn: Function | ModuleFunction, params: readonly TaskParam[], makeOutcome: () => T, min = 0): Promise<T[]> {
    // No stream: set-up never takes one of the tasks' (mirai #356).
    const built = buildTaskFrame(FrameType.Everywhere, 0, fn, params, this.settings.serializers);
    const taskFrame: Frame = built instanceof Promise ? await built : built;
    // Sent to every daemon, and to each that joins later: a channel must copy it, not move it.
    markShared(taskFrame.segments);
    return this.dispatcher.everywhere(taskFrame, makeOutcome, min);
  }

  room(): Promise<void> {
    return this.dispatcher.room();
  }

  status(): PoolStatus {
    return {
      url: this.url,
      dispatcher: this.settings.dispatcher,
      ...this.dispatcher.counters(),
      maxQueued: this.settings.maxQueued,
      maxQueuedBytes: this.settings.maxQueuedBytes,
      launches: this.replacements.figures(),
      ...(this.autoscaler ? { autoscale: this.autoscaler.status() } : {}),
      daemons: this.dispatcher.daemonRows(),
    };
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
   * connects, a launch that does not connect within the launch timeout, or watched launches
   * (`LaunchHandle.lost`) that were all lost, reject with a {@link LaunchError} that says why.
   */
  async launch(n: number, launcher: Launcher = this.settings.launcher, options?: DaemonOptions, timeout = this.settings.launchTimeout): Promise<LaunchHandle[]> {
    return (await this.launchFor('caller', n, launcher, options, timeout)).handles;
  }

  /**
   * `launch()` for `origin`; `connected`: every daemon connected before the call returned (not
   * so for jobs still queued at the launch timeout, or some lost).
   */
  private async launchFor(
    origin: LaunchOrigin,
    n: number,
    launcher: Launcher = this.settings.launcher,
    options?: DaemonOptions,
    timeout = this.settings.launchTimeout,
  ): Promise<{ handles: LaunchHandle[]; connected: boolean }> {
    if (n <= 0) return { handles: [], connected: true };
    if (this.closed) throw new LaunchError(`profile '${this.name}' was reset: no more daemons are launched for it`);
    this.hold(+1);
    // Ends the wait for joins when the call is over, whichever way: nothing awaits it then.
    let endCall!: () => void;
    const callOver = new Promise<void>((resolve) => (endCall = resolve));
    try {
      const before = this.dispatcher.counters().cumulative;
      const asked = origin === 'autoscaler' ? 0 : n;
      this.asking += asked;
      const started = Date.now();
      let handles: LaunchHandle[];
      try {
        // The profile's own launches (replacements, autoscaling) count what they ask for.
        const spec: LaunchSpec = origin === 'caller' ? this.launchSpec(options) : { ...this.launchSpec(options), exact: true };
        launcher.checkOptions?.(spec.options);
        handles = await this.callLauncher(launcher, spec, n, timeout);
      } finally {
        this.asking -= asked;
      }
      // One deadline for the whole call: what launch() took is not given again to the joins.
      // A queued launcher's jobs may join long after it anyway (the timeout only warns then).
      const joinTimeout = launcher.queued ? timeout : Math.max(0, timeout - (Date.now() - started));
      if (active(channels.daemonLaunched)) {
        publish(channels.daemonLaunched, { profile: this.name, launcher: launcher.kind, count: handles.length, pids: handles.map((h) => h.pid) });
      }
      const call: LaunchCall = { origin, returned: false, lost: [] };
      const waits = handles.map((handle) => this.track(handle, launcher, options, call));
      for (const wait of waits) wait.catch(() => {}); // the call's outcome, or lostAfterReturn, reports a loss
      // Local processes: one that exits before connecting fails the launch. Watched remote
      // launches (batch jobs): the launch fails when every one was lost, else its losses are
      // replaced. Others: their connections are counted.
      const all: Promise<unknown> = handles.every((h) => h.exited !== undefined)
        ? Promise.all(waits)
        : handles.every((h) => h.lost !== undefined)
          ? unlessAllLost(waits)
          : this.dispatcher.waitForJoins(before + n, callOver);
      let timedOut = false;
      try {
        // A reset ends the wait: the daemons were told to exit, and joins would never come.
        await withTimeout(Promise.race([all, this.reset]), joinTimeout, () => {
          timedOut = true;
          return new LaunchError(
            `profile '${this.name}': ${n} daemon(s) were launched (${launcher.kind}) but not all connected to ${this.url} ` +
              `within ${timeout} ms${launcher.queued ? '' : this.unconnectedOutput(handles)}`,
          );
        });
      } catch (err) {
        if (timedOut && launcher.queued) {
          // Jobs in a scheduler's queue may start hours later: report, and let them join when they do.
          all.catch(() => {});
          this.settings.log('warn', `${(err as Error).message}; they may be waiting in the ${launcher.kind} queue and join when they start`);
          this.returned(call);
          return { handles, connected: false };
        }
        // A launch that failed is over: what it started and never connected is ended and
        // forgotten (the failure is counted once, by whoever made the call; losses reported
        // for these afterwards are ignored).
        call.returned = true;
        const unconnected = handles.filter((h) => this.launches.get(h.id)?.connected === false);
        for (const handle of unconnected) this.launches.delete(handle.id);
        if (unconnected.length === handles.length && handles.every((h) => h.cancel !== undefined)) {
          // None connected: withdraw the whole launch (a scheduler's submissions), and wait for
          // it, so that nothing of it is still queued when the call fails.
          await Promise.all(handles.map((h) => h.cancel!().catch(() => {})));
        } else for (const handle of unconnected) handle.kill?.();
        throw err;
      }
      const connected = call.lost.length === 0;
      this.returned(call);
      return { handles, connected };
    } finally {
      endCall();
      this.hold(-1);
    }
  }

  /**
   * For a launch that timed out: what its unconnected launches wrote to stderr (`stderrTail`),
   * each different text once (daemons of one ssh session share theirs, which names the remote),
   * at most three; '' when they wrote nothing or cannot tell.
   */
  private unconnectedOutput(handles: readonly LaunchHandle[]): string {
    const texts = new Set<string>();
    for (const handle of handles) {
      if (this.launches.get(handle.id)?.connected !== false) continue;
      const text = handle.stderrTail?.().trim();
      if (text) texts.add(text);
    }
    if (texts.size === 0) return '';
    const shown = [...texts].slice(0, 3);
    const more = texts.size > shown.length ? `\n(and ${texts.size - shown.length} more)` : '';
    return `; their stderr:\n${shown.join('\n')}${more}`;
  }

  /**
   * `launcher.launch()`, within the launch timeout and until a reset: a launcher that never
   * returns (an HTTP API or credential function that hangs, a command that blocks) must not
   * hang the call, its queued tasks, or the reset. Handles it returns after that are ended
   * (cancelled or killed): nothing waits for their daemons. A queued launcher's call is bounded
   * by the reset only (it times its own submissions).
   */
  private async callLauncher(launcher: Launcher, spec: LaunchSpec, n: number, timeout: number): Promise<LaunchHandle[]> {
    // A launch() that throws synchronously rejects here too.
    const call = Promise.resolve().then(() => launcher.launch(spec, n));
    try {
      // A queued launcher bounds its own submissions (the cluster launcher's submitTimeout,
      // 60 s by default): a scheduler slow to take one is not a failed launch at 30 s.
      if (launcher.queued) return await Promise.race([call, this.reset]);
      return await withTimeout(
        Promise.race([call, this.reset]),
        timeout,
        () => new LaunchError(`profile '${this.name}': the ${launcher.kind} launcher's launch() did not return within ${timeout} ms (the launch timeout)`),
      );
    } catch (err) {
      call.then(
        (late) => {
          for (const handle of late) {
            if (handle.cancel !== undefined) handle.cancel().catch(() => {});
            else handle.kill?.();
          }
        },
        () => {}, // the failure that counts is the one thrown below
      );
      throw err;
    }
  }

  /**
   * Resets the profile. Daemons this host launched are told to exit; others just lose the
   * connection (an `autoexit: false` daemon then waits for the next host), unless `terminate`.
   */
  async close(reason = `profile '${this.name}' was reset`, terminate = false): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.rejectReset(new LaunchError(`profile '${this.name}' was reset while its daemons were launching (${reason})`));
    if (active(channels.profileReset)) publish(channels.profileReset, { profile: this.name, reason });
    this.replacements.close();
    this.autoscaler?.close();
    await this.dispatcher.close(reason, (conn) => terminate || conn.launch !== undefined);
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

  /** The profile's first launch (daemons() waits for it): through the autoscaler, if any. */
  launchFirst(n: number): Promise<unknown> {
    if (n <= 0) return Promise.resolve();
    return this.autoscaler !== undefined ? this.autoscaler.first(n) : this.launch(n);
  }

  /** Starts autoscaling (with `autoscale`), after the initial launch of `min` daemons. */
  startAutoscaling(): void {
    this.autoscaler?.start();
  }

  /**
   * Sets the number of daemons by hand: more are launched, idle ones above it leave at once,
   * busy ones when they finish. `'auto'` goes back to the `autoscale` settings.
   */
  /** Settles the first queued task with `error` (see Dispatcher.failFirstQueued). */
  failFirstQueued(error: MiraiError): boolean {
    return this.dispatcher.failFirstQueued(error);
  }

  scale(target: number | 'auto'): void {
    if (this.closed) throw new LaunchError(`profile '${this.name}' was reset`);
    if (target === 'auto' && this.settings.autoscale === undefined) throw new ConfigError(`scale('auto'): profile '${this.name}' has no autoscale settings`);
    // A fixed profile scaled by hand: min 0, max what one call may ask for, never scaled down by idleness alone.
    this.autoscaler ??= this.newAutoscaler({ min: 0, max: MAX_DAEMONS_PER_CALL, idle: Infinity });
    this.autoscaler.scale(target);
    // Under a backlog no daemon is idle: the dispatcher retires those above a target by hand as they answer.
    this.dispatcher.setTarget(target === 'auto' ? Infinity : target);
  }

  // -------------------------------------------------------------------------

  private newAutoscaler(options: NonNullable<ProfileSettings['autoscale']>): Autoscaler {
    return new Autoscaler(resolveAutoscale(options, this.settings.launchTimeout), {
      name: this.name,
      log: this.settings.log,
      // Tasks queued or running, or the daemons an everywhere({ min }) waits for, if more.
      backlog: () => {
        const { awaiting, executing } = this.dispatcher.counters();
        return Math.max(awaiting + executing, this.dispatcher.setupDemand());
      },
      daemons: () => this.dispatcher.readyDaemons(),
      othersLaunching: () => {
        let n = this.asking;
        for (const launch of this.launches.values()) if (!launch.connected && launch.call.origin !== 'autoscaler') n++;
        return n;
      },
      retire: (conn) => this.dispatcher.retire(conn),
      launch: (n, timeout) => this.launchFor('autoscaler', n, this.settings.launcher, undefined, timeout),
      failing: (failures, why) => this.launchesFailing(failures, why),
    });
  }

  /** The profile's daemon options, with `overrides` on top. */
  private daemonOptions(overrides: DaemonOptions | undefined): DaemonOptions {
    return overrides === undefined ? this.settings.daemonOptions : { ...this.settings.daemonOptions, ...overrides };
  }

  private daemonEvent(event: DaemonEvent): void {
    const { conn } = event;
    if (event.type !== 'connect' && conn.launchId !== undefined && this.early.get(conn.launchId) === conn) this.early.delete(conn.launchId);
    switch (event.type) {
      case 'connect':
        this.connected(conn);
        // A daemon without a launch id (started by hand, or by a launcher that gives none)
        // cannot be matched to its launch: it counts for whichever the autoscaler is waiting on.
        if (conn.launchId === undefined) this.autoscaler?.connected();
        return;
      case 'lost':
        // An autoscaled profile launches for its backlog instead of replacing one for one.
        if (this.autoscaler !== undefined) this.autoscaler.lost(...this.lossOf(conn, `daemon ${conn.id} was lost`));
        else if (this.settings.repair) this.replace(conn, `daemon ${conn.id} was lost`);
        return;
      case 'ended':
        // A daemon this host killed is replaced from here; a watchdog replaces its own.
        if (event.how !== 'killed') return;
        if (this.autoscaler !== undefined) this.autoscaler.lost(`daemon ${conn.id} was ended, stuck in a cancelled task`, false);
        else this.replace(conn, `daemon ${conn.id} was ended, stuck in a cancelled task`, false);
        return;
      case 'disconnect':
        this.forgetLaunch(conn);
        return;
    }
  }

  /**
   * A daemon left by design (retired, or by a limit: Final, Bye): its process exits, so a
   * launch the host cannot watch (a batch job, which has no `exited` to clear it) is over. It
   * is forgotten, so a long-lived profile does not keep every launch it ever made, and a reset
   * does not cancel (`scancel`) every job it ever submitted. A lost daemon's launch is kept:
   * its process may still run, and the reset cancels it; so are those of daemons leaving
   * because of the reset (a job may outlive its daemon, stuck or with more to run).
   */
  private forgetLaunch(conn: DaemonConnection): void {
    const launch = this.launchedBy.get(conn);
    if (launch === undefined || launch.handle.exited !== undefined || this.closed) return;
    if (this.launches.get(launch.handle.id) !== launch) return;
    this.launches.delete(launch.handle.id);
    try {
      launch.handle.left?.();
    } catch (err) {
      this.settings.log('warn', `profile '${this.name}': the ${launch.launcher.kind} launcher's left() threw: ${(err as Error).message}`);
    }
  }

  private connected(conn: DaemonConnection): void {
    if (conn.launchId === undefined) return;
    const launch = this.launches.get(conn.launchId);
    if (launch === undefined) {
      this.early.set(conn.launchId, conn);
      return;
    }
    this.bind(conn, launch);
  }

  /** Ties a connected daemon to the launch that started it. */
  private bind(conn: DaemonConnection, launch: Launch): void {
    this.launchedBy.set(conn, launch);
    conn.launch = { handle: launch.handle, kind: launch.launcher.kind };
    if (!launch.connected) {
      launch.connected = true;
      try {
        launch.handle.connected?.();
      } catch (err) {
        this.settings.log('warn', `profile '${this.name}': the ${launch.launcher.kind} launcher's connected() threw: ${(err as Error).message}`);
      }
      // Arrivals count where the launch was asked for: one fewer on its way for the autoscaler;
      // a replacement that joined after its call returned (queued) starts proving itself.
      if (launch.call.origin === 'autoscaler') this.autoscaler?.connected();
      else if (launch.call.origin === 'replacements' && launch.call.returned) this.replacements.joined();
      launch.onConnect?.();
    }
  }

  /**
   * Launches a daemon like `conn`'s, when this host launched it. A daemon lost soon after it
   * connected counts as a crash loop (`mayLoop`), unless the host itself ended it.
   */
  private replace(conn: DaemonConnection, why: string, mayLoop = true): void {
    // The launch entry may already be gone (the process's exit can beat its socket's close).
    const launch = this.launchedBy.get(conn);
    if (launch === undefined || this.closed) return;
    this.replacements.replace(launch.launcher, launch.options, ...this.lossOf(conn, why, mayLoop));
  }

  /**
   * Why a daemon was lost, and whether it died within seconds of connecting (a crash loop;
   * never for one the host ended, `mayLoop` false).
   */
  private lossOf(conn: DaemonConnection, why: string, mayLoop = true): [why: string, quickDeath: boolean] {
    const after = Date.now() - conn.connectedAt;
    // A daemon that died running a task on its first run was most likely killed by that task
    // (a poison task, which costs its own task only), not by a launch that cannot work: no
    // backoff for that. One that dies idle, or under a task it already took down once, loops.
    const poisoned = conn.lostRunning === 1;
    return mayLoop && !poisoned && after < QUICK_DEATH_MS ? [`${why} ${after} ms after connecting`, true] : [why, false];
  }

  /**
   * Replacements keep failing. Once they have failed for about a minute with no daemon
   * connected, queued tasks settle with a LaunchError rather than wait for daemons that do
   * not come; launching goes on, for the tasks submitted later.
   */
  private launchesFailing(failures: number, why: string): void {
    if (failures < FAILURES_BEFORE_QUEUE_FAILS || this.dispatcher.connections > 0) return;
    const error = new LaunchError(`profile '${this.name}' has no daemons: ${failures} attempts to start them failed, the last: ${why}`);
    const n = this.dispatcher.failQueued(error);
    if (n > 0) this.settings.log('warn', `profile '${this.name}': ${n} queued task(s) failed: no daemon could be started`);
  }

  /** A launch call returns: the daemons it lost meanwhile (not all of them) count now. */
  private returned(call: LaunchCall): void {
    call.returned = true;
    for (const { launch, why } of call.lost) this.lostAfterReturn(launch, why);
    call.lost.length = 0;
  }

  /** Losses after their call returned, gathered for a microtask (see flushLosses). */
  private losses: { readonly launch: Launch; readonly why: string }[] = [];

  /**
   * A launch ended before its daemon connected, after its launch call returned (a batch job
   * that failed where it ran): a failed launch, as a daemon lost right after connecting is.
   */
  private lostAfterReturn(launch: Launch, why: string): void {
    if (this.losses.push({ launch, why }) === 1) queueMicrotask(() => this.flushLosses());
  }

  /**
   * Counts the losses gathered: the daemons of one call lost together (one listing of a job
   * array) are one failed launch, not one per daemon. The autoscaler launches again for its
   * backlog (its own launches no longer count as on their way), `repair` replaces them; both
   * back off, and after FAILURES_BEFORE_QUEUE_FAILS in a row with no daemon, queued tasks fail
   * (launchesFailing).
   */
  private flushLosses(): void {
    const losses = this.losses;
    this.losses = [];
    if (this.closed) return;
    const byCall = new Map<LaunchCall, { launch: Launch; why: string; count: number }>();
    for (const { launch, why } of losses) {
      const group = byCall.get(launch.call);
      if (group === undefined) byCall.set(launch.call, { launch, why, count: 1 });
      else group.count++;
    }
    for (const [call, { launch, why, count }] of byCall) {
      const said = count === 1 ? why : `${why} (and ${count - 1} more daemon(s) of that launch)`;
      if (call.origin === 'autoscaler' && this.autoscaler !== undefined) this.autoscaler.launchLost(said, count);
      else if (this.autoscaler !== undefined) this.autoscaler.lost(said, true);
      else if (this.settings.repair) this.replacements.replace(launch.launcher, launch.options, said, true, count);
      else this.settings.log('warn', `profile '${this.name}': ${said}; not replaced (repair is off)`);
    }
  }

  private track(handle: LaunchHandle, launcher: Launcher, options: DaemonOptions | undefined, call: LaunchCall): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const launch: Launch = { handle, launcher, options, call, connected: false, onConnect: resolve };
      this.launches.set(handle.id, launch);
      const conn = this.early.get(handle.id);
      if (conn !== undefined) {
        this.early.delete(handle.id);
        this.bind(conn, launch);
      }
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
      handle.lost?.then(
        (said) => {
          // Connected, or killed with a failed call (which counted the failure), or reset: not ours.
          if (launch.connected || this.launches.get(handle.id) !== launch) return;
          this.launches.delete(handle.id);
          reject(new LaunchError(`profile '${this.name}': ${said}`));
          if (call.returned) this.lostAfterReturn(launch, said);
          else call.lost.push({ launch, why: said });
        },
        (err: unknown) => this.settings.log('warn', `profile '${this.name}': the ${launcher.kind} launcher's lost promise rejected: ${String(err)}`),
      );
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

/**
 * Daemons take an Init of at most INIT_LIMITS (it names the serializers and instrumentation
 * they load, with their options): refuse settings that would not fit, here, rather than have
 * every daemon refuse its Init.
 */
function checkInitSize(serializers: readonly SerializerRef[], settings: ProfileSettings): void {
  // The rest of Init (proof, id, random stream, result limit) takes well under 1 KiB.
  const bytes = jsonSegment({ serializers, instrumentation: settings.instrumentation }).byteLength + 1024;
  if (bytes > INIT_LIMITS.maxFrameBytes) {
    throw new ConfigError(
      `the serializers' and instrumentation's refs and options come to ${bytes} bytes, more than daemons take in Init (${INIT_LIMITS.maxFrameBytes}): pass large settings another way (a file the plugin reads)`,
    );
  }
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
