/**
 * The dispatcher: accepts daemon connections, checks their secret, keeps a FIFO queue of
 * tasks and gives each to the next free daemon, one task per daemon at a time.
 * Event driven: nothing polls, an idle profile uses no CPU.
 *
 * In direct mode (`dispatcher: false`) tasks go round-robin straight to daemons, which queue
 * them locally: less overhead, but a slow task holds up the ones queued behind it.
 */
import { newNonce, prove, verify } from './auth.js';
import { fromErrorRecord, type ErrorRecord } from './error-record.js';
import { ConnectionResetError, DeserializationError, isMiraiError, MiraiError, QueueFullError } from './errors.js';
import {
  DEFAULT_LIMITS,
  frame,
  FrameFlag,
  FrameType,
  frameTypeName,
  HANDSHAKE_LIMITS,
  jsonSegment,
  PROTOCOL_VERSION,
  readJsonSegment,
  type Frame,
} from './frame.js';
import type { ChallengeMessage, HelloMessage, InitMessage } from './messages.js';
import type { Mirai } from './mirai.js';
import { decodePayload } from './payload.js';
import type { SerializerRef } from './plugin-loader.js';
import type { Serializer } from './serializer.js';
import { TaskQueue } from './task-queue.js';
import type { Channel, Listener } from './transport.js';

/** A task as the dispatcher holds it. */
export interface HostTask {
  readonly id: number;
  readonly frame: Frame;
  readonly mirai: Mirai<unknown>;
  /** Bytes of the task frame: counted while queued. */
  readonly bytes: number;
  /** Where the task runs, once assigned. */
  daemon: DaemonLink | undefined;
  /** True once the mirai has settled (a cancelled task may still run on its daemon). */
  settled: boolean;
  /** How many more times the task may be run again if its daemon is lost while running it. */
  retriesLeft: number;
}

/** One connected daemon. */
export interface DaemonLink {
  /** 0 until the handshake succeeds. */
  id: number;
  readonly channel: Channel;
  state: 'handshake' | 'ready' | 'leaving' | 'gone';
  pid: number | undefined;
  hostname: string | undefined;
  launchId: string | undefined;
  connectedAt: number;
  assigned: number;
  completed: number;
  /** Tasks sent and not yet answered (at most one with a dispatcher). */
  readonly inflight: Map<number, HostTask>;
  /** `everywhere()` copies this daemon still has to run, before any other task. */
  readonly setup: HostTask[];
  /** Set when the host ended this daemon on purpose (stuck in a cancelled task). */
  retired?: boolean;
  /** The daemon's watchdog connection, when it runs one: it can replace a stuck daemon. */
  watchdog?: Channel;
}

/** A per-daemon row of `status()`. */
export interface DaemonStatus {
  /** Daemon id within the profile (never reused). */
  readonly id: number;
  readonly pid: number | undefined;
  readonly hostname: string | undefined;
  /** When it completed the handshake (ms since the epoch). */
  readonly connectedAt: number;
  readonly assigned: number;
  readonly completed: number;
  readonly state: 'idle' | 'busy' | 'leaving';
  /** Ids of the tasks it is running (one with a dispatcher). */
  readonly tasks: number[];
  /** Whether it runs a watchdog that can replace it when a cancelled task is stuck. */
  readonly watchdog: boolean;
  /** The launch id it reported (a scheduler job's array element: `12345_3`), if any. */
  readonly launchId?: string;
  /** The kind of launcher that started it (`'local'`, `'ssh'`, `'slurm'`), when this host did. */
  readonly launcher?: string;
}

/** Counters, as mirai's `info()`. */
export interface DispatcherCounters {
  /** Daemons connected now. */
  readonly connections: number;
  /** Daemons that ever completed the handshake. */
  readonly cumulative: number;
  /** Tasks queued at the host. */
  readonly awaiting: number;
  /** Tasks sent to a daemon and not yet answered. */
  readonly executing: number;
  /** Tasks answered, cancelled or reset. */
  readonly completed: number;
  /** Connections refused: wrong secret, bad protocol, garbage, silence. */
  readonly rejected: number;
  /** Bytes of queued task frames now, and the most there ever were. */
  readonly queuedBytes: number;
  readonly peakQueuedBytes: number;
}

export interface DispatcherOptions {
  readonly profile: string;
  readonly secret: string;
  /** FIFO with one task per daemon (true), or round-robin direct sends (false). */
  readonly dispatcher: boolean;
  readonly serializers: readonly Serializer[];
  readonly serializerRefs: readonly SerializerRef[];
  /** A new connection that has not proved the secret within this time is closed. */
  readonly handshakeTimeoutMs: number;
  readonly log: (level: 'info' | 'warn', message: string) => void;
  /** Queue limits: a submission beyond them throws a QueueFullError. */
  readonly maxQueued: number;
  readonly maxQueuedBytes: number;
  /** Called whenever the number of unsettled tasks goes between zero and non-zero. */
  readonly onBusyChange: (busy: boolean) => void;
  /** Called when a daemon joins or leaves. */
  readonly onDaemonChange?: (link: DaemonLink, event: 'connect' | 'disconnect' | 'lost') => void;
  /** How long a cancelled running task may take to stop before its daemon counts as stuck. */
  readonly cancelGraceMs: number;
  /** A daemon did not stop a cancelled task within the grace: end it (it is replaced). */
  readonly onStuck: (link: DaemonLink) => void;
}

/** An `everywhere()` call, replayed on every daemon that connects later. */
interface SetupEntry {
  readonly frame: Frame;
  /** Makes the mirai for one copy (the caller's, for daemons connected at call time). */
  readonly makeMirai: () => Mirai<unknown>;
}

export class Dispatcher {
  private readonly queue = new TaskQueue<HostTask>();
  private readonly links = new Set<DaemonLink>();
  private readonly idle: DaemonLink[] = [];
  private nextDaemonId = 1;
  private roundRobin = 0;
  private cumulative = 0;
  private completed = 0;
  private rejected = 0;
  private executing = 0;
  /** Unsettled tasks (queued or running). */
  private outstanding = 0;
  private closed = false;
  private readonly waiters = new Set<{ n: number; resolve: () => void }>();
  private readonly setupLog: SetupEntry[] = [];
  private refusalWindowStart = 0;
  private refusalsLogged = 0;
  private refusalsUnlogged = 0;
  private queuedBytes = 0;
  private peakQueuedBytes = 0;
  private readonly roomWaiters: (() => void)[] = [];

  constructor(
    private readonly listener: Listener,
    private readonly options: DispatcherOptions,
  ) {
    listener.onChannel = (channel) => this.accept(channel);
  }

  get url(): string {
    return this.listener.url;
  }

  get connections(): number {
    let n = 0;
    for (const link of this.links) if (link.state === 'ready') n++;
    return n;
  }

  counters(): DispatcherCounters {
    return {
      connections: this.connections,
      cumulative: this.cumulative,
      awaiting: this.queue.size,
      executing: this.executing,
      completed: this.completed,
      rejected: this.rejected,
      queuedBytes: this.queuedBytes,
      peakQueuedBytes: this.peakQueuedBytes,
    };
  }

  daemonRows(): DaemonStatus[] {
    const rows: DaemonStatus[] = [];
    for (const link of this.links) {
      if (link.state === 'handshake' || link.state === 'gone') continue;
      rows.push({
        id: link.id,
        pid: link.pid,
        hostname: link.hostname,
        connectedAt: link.connectedAt,
        assigned: link.assigned,
        completed: link.completed,
        state: link.state === 'leaving' ? 'leaving' : link.inflight.size > 0 ? 'busy' : 'idle',
        tasks: [...link.inflight.keys()],
        watchdog: link.watchdog !== undefined,
        ...(link.launchId !== undefined ? { launchId: link.launchId } : {}),
      });
    }
    return rows;
  }

  /** Resolves once at least `n` daemons are connected. */
  waitForConnections(n: number): Promise<void> {
    if (this.connections >= n) return Promise.resolve();
    return new Promise((resolve) => this.waiters.add({ n, resolve }));
  }

  /**
   * Queues a task; it runs on the next free daemon. Throws a QueueFullError, queueing
   * nothing, when the queue is at the profile's limit.
   */
  submit(task: HostTask): void {
    const { maxQueued, maxQueuedBytes } = this.options;
    if (this.queue.size >= maxQueued || (this.queue.size > 0 && this.queuedBytes + task.bytes > maxQueuedBytes)) {
      throw new QueueFullError(
        `profile '${this.options.profile}': the queue is full (${this.queue.size} tasks, ${this.queuedBytes} bytes; ` +
          `limits ${maxQueued} tasks, ${maxQueuedBytes} bytes). Wait with queueRoom() and submit again.`,
      );
    }
    this.trackOutstanding(+1);
    this.queue.push(task);
    this.queuedBytes += task.bytes;
    if (this.queuedBytes > this.peakQueuedBytes) this.peakQueuedBytes = this.queuedBytes;
    this.drain();
  }

  /** Resolves once the queue is below its limits. */
  room(): Promise<void> {
    if (this.hasRoom()) return Promise.resolve();
    return new Promise((resolve) => this.roomWaiters.push(resolve));
  }

  private hasRoom(): boolean {
    return this.queue.size < this.options.maxQueued && this.queuedBytes < this.options.maxQueuedBytes;
  }

  /** Takes a task off the queue, keeping the byte count and waking producers waiting for room. */
  private dequeued(task: HostTask): HostTask {
    this.queuedBytes -= task.bytes;
    if (this.roomWaiters.length > 0 && this.hasRoom()) for (const wake of this.roomWaiters.splice(0)) wake();
    return task;
  }

  /**
   * Settles a task with `error` at once and stops it: a queued task is dropped, a running
   * one is told to stop. Returns false if it had already settled.
   */
  cancel(task: HostTask, error: MiraiError): boolean {
    if (task.settled) return false;
    if (task.daemon === undefined) {
      if (this.queue.remove(task)) this.dequeued(task);
      this.completed++;
    } else {
      const link = task.daemon;
      link.channel.send(frame(FrameType.Cancel, task.id, []));
      // A task stuck in synchronous code cannot hear the Cancel: if its daemon has not
      // answered within the grace, it is ended and replaced.
      const timer = setTimeout(() => {
        if (link.inflight.has(task.id) && link.state !== 'gone') {
          this.options.log('info', `profile '${this.options.profile}': daemon ${link.id} did not stop cancelled task ${task.id} within ${this.options.cancelGraceMs} ms; replacing it`);
          link.retired = true;
          this.options.onStuck(link);
        }
      }, this.options.cancelGraceMs);
      timer.unref();
    }
    this.fail(task, error);
    return true;
  }

  /**
   * Runs a task once on every daemon, before any later task there, and on every daemon that
   * connects later. Returns the copies for the daemons connected now.
   */
  everywhere(taskFrame: Frame, makeMirai: () => Mirai<unknown>): Mirai<unknown>[] {
    const entry: SetupEntry = { frame: taskFrame, makeMirai };
    this.setupLog.push(entry);
    const copies: Mirai<unknown>[] = [];
    for (const link of this.links) {
      if (link.state !== 'ready') continue;
      copies.push(this.addSetup(link, entry, makeMirai()));
    }
    this.drain();
    return copies;
  }

  /**
   * Settles every task with a connection reset, closes every connection and stops listening.
   * Daemons for which `sayExit` is true are told to exit first; the others just see the
   * connection drop (and exit or re-dial, as their `autoexit` says).
   */
  async close(reason: string, sayExit: (link: DaemonLink) => boolean = () => true): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const error = new ConnectionResetError(reason);
    for (const task of this.queue.drainAll()) {
      this.dequeued(task);
      this.completed++;
      this.fail(task, error);
    }
    for (const link of this.links) {
      for (const task of link.inflight.values()) if (!task.settled) this.fail(task, error);
      for (const task of link.setup.splice(0)) this.fail(task, error);
      if (sayExit(link)) link.channel.send(frame(FrameType.Exit, 0, []));
      link.channel.close();
    }
    for (const waiter of this.waiters) waiter.resolve();
    this.waiters.clear();
    for (const wake of this.roomWaiters.splice(0)) wake();
    await this.listener.close();
  }

  // -------------------------------------------------------------------------

  private addSetup(link: DaemonLink, entry: SetupEntry, mirai: Mirai<unknown>): Mirai<unknown> {
    const task: HostTask = {
      id: mirai.id,
      frame: { ...entry.frame, id: mirai.id },
      mirai,
      bytes: 0,
      daemon: undefined,
      settled: false,
      retriesLeft: 0,
    };
    this.trackOutstanding(+1);
    link.setup.push(task);
    if (!this.options.dispatcher) this.assign(link, link.setup.shift()!);
    return mirai;
  }

  private accept(channel: Channel): void {
    if (this.closed) {
      channel.close();
      return;
    }
    const link: DaemonLink = {
      id: 0,
      channel,
      state: 'handshake',
      pid: undefined,
      hostname: undefined,
      launchId: undefined,
      connectedAt: 0,
      assigned: 0,
      completed: 0,
      inflight: new Map(),
      setup: [],
    };
    this.links.add(link);
    channel.setLimits(HANDSHAKE_LIMITS);
    const hostNonce = newNonce();
    const timer = setTimeout(
      () => this.reject(link, `no handshake within ${this.options.handshakeTimeoutMs} ms`),
      this.options.handshakeTimeoutMs,
    );
    timer.unref();
    channel.onClose = (reason) => {
      clearTimeout(timer);
      this.disconnected(link, reason);
    };
    channel.onFrame = (f) => {
      if (link.state === 'handshake') {
        clearTimeout(timer);
        this.handshake(link, f, hostNonce);
      } else this.receive(link, f);
    };
    const challenge: ChallengeMessage = { protocol: PROTOCOL_VERSION, nonce: hostNonce };
    channel.send(frame(FrameType.Challenge, 0, [jsonSegment(challenge)]));
  }

  private handshake(link: DaemonLink, f: Frame, hostNonce: string): void {
    if (f.type !== FrameType.Hello) return this.reject(link, `expected Hello, got ${frameTypeName(f.type)}`);
    let hello: HelloMessage;
    try {
      hello = readJsonSegment<HelloMessage>(f.segments[0]);
    } catch (err) {
      return this.reject(link, `unreadable Hello (${(err as Error).message})`);
    }
    if (hello.protocol !== PROTOCOL_VERSION) {
      return this.reject(link, `protocol version ${hello.protocol} (this host speaks ${PROTOCOL_VERSION})`);
    }
    if (typeof hello.nonce !== 'string' || !verify(this.options.secret, 'daemon', hostNonce, hello.nonce, hello.proof)) {
      return this.reject(link, 'wrong secret');
    }
    if (hello.watch !== undefined) return this.attachWatchdog(link, hello, hostNonce);
    link.id = this.nextDaemonId++;
    link.pid = typeof hello.pid === 'number' ? hello.pid : undefined;
    link.hostname = typeof hello.hostname === 'string' ? hello.hostname : undefined;
    link.launchId = typeof hello.launchId === 'string' ? hello.launchId : undefined;
    const init: InitMessage = {
      proof: prove(this.options.secret, 'host', hostNonce, hello.nonce),
      daemonId: link.id,
      serializers: [...this.options.serializerRefs],
    };
    link.channel.send(frame(FrameType.Init, 0, [jsonSegment(init)]));
    link.channel.setLimits(DEFAULT_LIMITS);
    link.state = 'ready';
    link.connectedAt = Date.now();
    this.cumulative++;
    if (this.outstanding === 0) link.channel.unref();
    this.options.onDaemonChange?.(link, 'connect');
    for (const entry of this.setupLog) this.addSetup(link, entry, entry.makeMirai());
    this.idle.push(link);
    this.drain();
    this.notifyWaiters();
  }

  /**
   * Logs a refused connection, at most 20 per 10 s: a flood of bad connections must not
   * flood the log too. The count in `status().rejected` stays exact.
   */
  private logRefusal(message: string): void {
    const now = Date.now();
    if (now - this.refusalWindowStart > 10_000) {
      if (this.refusalsUnlogged > 0) {
        this.options.log('warn', `profile '${this.options.profile}': ${this.refusalsUnlogged} more refused connections were not logged`);
      }
      this.refusalWindowStart = now;
      this.refusalsLogged = 0;
      this.refusalsUnlogged = 0;
    }
    if (this.refusalsLogged < 20) {
      this.refusalsLogged++;
      this.options.log('warn', message);
    } else this.refusalsUnlogged++;
  }

  /**
   * A daemon's watchdog proved the secret: it is not a daemon (it takes no tasks) but the way
   * to replace that daemon if a cancelled task leaves it stuck.
   */
  private attachWatchdog(control: DaemonLink, hello: HelloMessage, hostNonce: string): void {
    const target = [...this.links].find((l) => l.id === hello.watch && (l.state === 'ready' || l.state === 'leaving'));
    if (target === undefined) return this.reject(control, `a watchdog for daemon ${String(hello.watch)}, which is not connected`);
    this.links.delete(control);
    control.state = 'gone';
    const init: InitMessage = { proof: prove(this.options.secret, 'host', hostNonce, hello.nonce), daemonId: target.id, serializers: [] };
    const channel = control.channel;
    channel.send(frame(FrameType.Init, 0, [jsonSegment(init)]));
    channel.unref(); // never keeps the host alive
    target.watchdog?.close();
    target.watchdog = channel;
    channel.onFrame = () => channel.close(new Error('a watchdog sends nothing'));
    channel.onClose = () => {
      if (target.watchdog === channel) target.watchdog = undefined;
    };
  }

  private reject(link: DaemonLink, why: string): void {
    if (link.state !== 'handshake') return;
    this.rejected++;
    this.logRefusal(`profile '${this.options.profile}': refused a connection from ${link.channel.peer}: ${why}`);
    link.state = 'gone';
    this.links.delete(link);
    link.channel.close();
  }

  private receive(link: DaemonLink, f: Frame): void {
    switch (f.type) {
      case FrameType.Result:
        this.result(link, f);
        return;
      case FrameType.Bye:
        link.state = 'leaving';
        if (link.inflight.size === 0) link.channel.send(frame(FrameType.Exit, 0, []));
        return;
      default:
        this.options.log('warn', `profile '${this.options.profile}': daemon ${link.id} sent an unexpected ${frameTypeName(f.type)} frame; disconnecting it`);
        link.channel.close();
    }
  }

  private result(link: DaemonLink, f: Frame): void {
    const task = link.inflight.get(f.id);
    if (task === undefined) {
      this.options.log('warn', `profile '${this.options.profile}': daemon ${link.id} answered unknown task ${f.id}; disconnecting it`);
      link.channel.close();
      return;
    }
    link.inflight.delete(f.id);
    link.completed++;
    this.executing--;
    // Give the daemon its next task first, then decode this result: the daemon works while
    // the host settles.
    if ((f.flags & FrameFlag.Final) !== 0) link.state = 'leaving';
    if (link.state === 'leaving') {
      if (link.inflight.size === 0) link.channel.send(frame(FrameType.Exit, 0, []));
    } else if (this.options.dispatcher && link.inflight.size === 0) {
      this.idle.push(link);
      this.drain();
    }
    if (!task.settled) {
      this.completed++;
      this.settleFromFrame(task, f);
    }
  }

  private settleFromFrame(task: HostTask, f: Frame): void {
    let decoded: unknown;
    try {
      decoded = decodePayload(f.segments, 0, this.options.serializers);
    } catch (err) {
      this.fail(task, this.decodeError(task, err));
      return;
    }
    const isError = (f.flags & FrameFlag.Error) !== 0;
    if (decoded instanceof Promise) {
      decoded.then(
        (value: unknown) => this.deliver(task, value, isError),
        (err: unknown) => this.fail(task, this.decodeError(task, err)),
      );
    } else this.deliver(task, decoded, isError);
  }

  private deliver(task: HostTask, decoded: unknown, isError: boolean): void {
    if (isError) this.fail(task, fromErrorRecord(decoded as ErrorRecord));
    else this.fulfil(task, decoded);
  }

  private decodeError(task: HostTask, err: unknown): MiraiError {
    return isMiraiError(err) ? err : new DeserializationError(`the result of task ${task.id} could not be decoded`, err);
  }

  private disconnected(link: DaemonLink, reason: Error | undefined): void {
    const was = link.state;
    link.state = 'gone';
    this.links.delete(link);
    link.watchdog?.close();
    if (was === 'handshake') {
      if (reason) {
        this.rejected++;
        this.logRefusal(`profile '${this.options.profile}': connection from ${link.channel.peer} failed during the handshake: ${reason.message}`);
      }
      return;
    }
    if (reason && !this.closed && !link.retired) {
      this.options.log('warn', `profile '${this.options.profile}': daemon ${link.id} disconnected: ${reason.message}`);
    }
    for (const task of link.inflight.values()) {
      this.executing--;
      if (task.settled) continue;
      if (task.retriesLeft > 0) {
        // The caller asked for it (`retry`): run it again, before anything queued after it.
        task.retriesLeft--;
        task.daemon = undefined;
        this.queue.unshift(task);
        this.queuedBytes += task.bytes;
        this.options.log('info', `profile '${this.options.profile}': task ${task.id} lost with daemon ${link.id}; running it again (${task.retriesLeft} retries left)`);
        continue;
      }
      this.completed++;
      const pid = link.pid === undefined ? '' : ` (pid ${link.pid})`;
      this.fail(task, new ConnectionResetError(`daemon ${link.id}${pid} disconnected while running task ${task.id}`));
    }
    link.inflight.clear();
    for (const task of link.setup.splice(0)) {
      this.completed++;
      this.fail(task, new ConnectionResetError(`daemon ${link.id} disconnected before it ran everywhere() task ${task.id}`));
    }
    // Lost: gone without saying so (Bye, a final result) and not ended by the host.
    const lost = was === 'ready' && !link.retired && !this.closed;
    this.options.onDaemonChange?.(link, lost ? 'lost' : 'disconnect');
    this.drain();
  }

  /** Assigns queued tasks to free daemons while both exist. */
  private drain(): void {
    if (this.closed) return;
    if (!this.options.dispatcher) {
      this.drainDirect();
      return;
    }
    for (let i = 0; i < this.idle.length; ) {
      // Daemons with everywhere() set-up to run take it before any queued task.
      const link = this.idle[i]!;
      if (link.setup.length > 0 && link.state === 'ready' && link.inflight.size === 0) {
        this.idle.splice(i, 1);
        this.assign(link, link.setup.shift()!);
      } else i++;
    }
    while (this.queue.size > 0 && this.idle.length > 0) {
      const link = this.idle.shift()!;
      if (link.state !== 'ready' || link.inflight.size > 0) continue;
      this.assign(link, this.dequeued(this.queue.shift()!));
    }
  }

  private drainDirect(): void {
    const ready = [...this.links].filter((l) => l.state === 'ready');
    if (ready.length === 0) return;
    while (this.queue.size > 0) {
      const link = ready[this.roundRobin++ % ready.length]!;
      this.assign(link, this.dequeued(this.queue.shift()!));
    }
  }

  private assign(link: DaemonLink, task: HostTask): void {
    task.daemon = link;
    link.inflight.set(task.id, task);
    link.assigned++;
    this.executing++;
    link.channel.send(task.frame);
  }

  private fulfil(task: HostTask, value: unknown): void {
    if (task.settled) return;
    task.settled = true;
    task.mirai._fulfil(value);
    this.trackOutstanding(-1);
  }

  private fail(task: HostTask, error: MiraiError): void {
    if (task.settled) return;
    task.settled = true;
    task.mirai._reject(error);
    this.trackOutstanding(-1);
  }

  private trackOutstanding(delta: number): void {
    const before = this.outstanding;
    this.outstanding += delta;
    if (before === 0 && this.outstanding > 0) this.setRef(true);
    else if (before > 0 && this.outstanding === 0) this.setRef(false);
  }

  /** Connections keep the process alive only while tasks are outstanding. */
  private setRef(busy: boolean): void {
    for (const link of this.links) {
      if (busy) link.channel.ref();
      else link.channel.unref();
    }
    this.options.onBusyChange(busy);
  }

  private notifyWaiters(): void {
    const n = this.connections;
    for (const waiter of this.waiters) {
      if (n >= waiter.n) {
        this.waiters.delete(waiter);
        waiter.resolve();
      }
    }
  }
}
